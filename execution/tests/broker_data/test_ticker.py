"""The live bar source end to end: the SDK's real ``KiteTicker`` against the fake binary ticker.

Time is a test clock (the fake stamps each packet with its exchange time), so a minute passes
when the test says so; the socket, the packets, the parsing and the reconnect are all real.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from brokers.services import broker_adapter_for
from execution.brokers.kite_data import KiteMarketData
from execution.models import Bar, Instrument
from execution.services.ticker import TickerRunner
from tests.fakes.kite.market import IST, candle
from tests.fakes.kite.ticker import FakeTick

pytestmark = pytest.mark.django_db

INFY, NIFTY = 408065, 256265


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def runner(request, kite_account, fake_kite, fake_ticker):
    call_command("import_instruments", "--from", "kite", "--account", str(kite_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    fake_kite.all_hours = True  # history at any hour: the test runs whenever it runs
    infy = Instrument.objects.get(kite_token=INFY)
    nifty = Instrument.objects.get(kite_token=NIFTY)
    m = (int(time.time()) // 60) * 60 - 3600  # a minute boundary an hour ago
    clock = Clock(m - 30)
    feeds = {INFY: infy, NIFTY: nifty}
    if getattr(request, "param", None) == "infy-only":
        feeds.pop(NIFTY)
    r = TickerRunner(
        api_key=fake_kite.api_key,
        access_token=next(iter(fake_kite.access_tokens)),
        root=fake_ticker.url,
        history=KiteMarketData(broker_adapter_for(account=kite_account), requests_per_second=0),
        instruments=lambda: dict(feeds),
        clock=clock,
        history_delay=1.0,
        give_up_after=300,
    )
    r.m, r.clk, r.feeds, r.nifty = m, clock, feeds, nifty
    r.start()
    assert fake_ticker.wait_mode(INFY, "full")
    yield r
    r.stop()


def _until(runner, cond, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.step(timeout=0.05)
        if cond():
            return
    raise AssertionError("condition not met in time")


def _bar(token: int, ts: int):
    return Bar.objects.filter(
        instrument__kite_token=token, timeframe="1m", ts=datetime.fromtimestamp(ts, tz=UTC)
    ).first()


def _history(token: int, ts: int) -> tuple:
    _, o, h, lo, c, v = candle(token, "minute", datetime.fromtimestamp(ts, tz=IST).replace(
        tzinfo=None))  # fmt: skip
    return (*(Decimal(str(x)) for x in (o, h, lo, c)), v)


def _ohlcv(bar) -> tuple:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume)


def test_ticks_become_one_minute_bars_and_a_drop_is_completed_from_history(runner, fake_ticker):
    m, clk = runner.m, runner.clk
    assert fake_ticker.wait_mode(NIFTY, "full")
    _until(runner, lambda: runner.aggregator.up_since is not None)

    # the minute of the connection was not watched whole: it will come from history
    fake_ticker.send([FakeTick(INFY, 1500.00, m - 10, volume=1000)])
    # minute m, watched whole: full packets (equity) and index packets (no volume)
    for ts, price, vol in [(m + 1, 1500.50, 1010), (m + 20, 1502.00, 1040),
                           (m + 40, 1499.00, 1100), (m + 59, 1501.00, 1150)]:  # fmt: skip
        fake_ticker.send([FakeTick(INFY, price, ts, volume=vol), FakeTick(NIFTY, price * 16, ts)])
    clk.t = m + 61
    fake_ticker.send([FakeTick(INFY, 1501.50, m + 61, volume=1160)])  # the next minute opens
    _until(runner, lambda: _bar(INFY, m) is not None)
    bar = _bar(INFY, m)
    assert _ohlcv(bar) == (
        Decimal("1500.5"),
        Decimal("1502"),
        Decimal("1499"),
        Decimal("1501"),
        150,
    )  # volume: the day's count at the minute's last tick minus the one before the minute
    # the index's bar closes when the clock passes the minute (plus the grace): no tick needed
    clk.t = m + 63
    _until(runner, lambda: _bar(NIFTY, m) is not None)
    assert _ohlcv(_bar(NIFTY, m)) == (
        Decimal("24008"),
        Decimal("24032"),
        Decimal("23984"),
        Decimal("24016"),
        0,
    )
    # the connection minute came from Kite's historical candles, not from the one tick seen
    _until(runner, lambda: _bar(INFY, m - 60) is not None and _bar(NIFTY, m - 60) is not None)
    assert _ohlcv(_bar(INFY, m - 60)) == _history(INFY, m - 60)
    assert _ohlcv(_bar(NIFTY, m - 60)) == _history(NIFTY, m - 60)

    # the socket drops in the middle of minute m+60 and the SDK reconnects
    fake_ticker.send([FakeTick(INFY, 1490.00, m + 80, volume=1200)])
    _until(runner, lambda: runner.aggregator.building[INFY].close == Decimal("1490"))
    clk.t = m + 85
    connects = fake_ticker.connects
    fake_ticker.drop()
    assert fake_ticker.wait_connections(connects + 1)  # the SDK reconnects by itself
    _until(runner, lambda: runner.aggregator.down_since is None and INFY not in
           runner.aggregator.building and runner.aggregator.up_since is not None)  # fmt: skip
    assert m + 60 in runner.aggregator.owed[INFY]  # the broken minute is owed to history
    clk.t = m + 100
    assert fake_ticker.wait_mode(INFY, "full")
    fake_ticker.send([FakeTick(INFY, 1495.00, m + 110, volume=1300)])
    # after the minute closes, the broken bar is Kite's candle, not the ticks' half of it
    clk.t = m + 125
    fake_ticker.send([FakeTick(INFY, 1496.00, m + 121, volume=1310)])
    _until(runner, lambda: _bar(INFY, m + 60) is not None)
    assert _ohlcv(_bar(INFY, m + 60)) == _history(INFY, m + 60)
    # and the first minute after the reconnect is watched whole again, from ticks
    fake_ticker.send([FakeTick(INFY, 1497.00, m + 150, volume=1330)])
    _until(runner, lambda: runner.aggregator.building[INFY].close == Decimal("1497"))
    clk.t = m + 183  # only once the tick is in: the clock closes the bar
    _until(runner, lambda: _bar(INFY, m + 120) is not None)
    assert _ohlcv(_bar(INFY, m + 120)) == (
        Decimal("1496"),
        Decimal("1497"),
        Decimal("1496"),
        Decimal("1497"),
        30,
    )
    # each minute is one row
    assert Bar.objects.filter(instrument__kite_token=INFY, timeframe="1m").count() == 4


@pytest.mark.parametrize("runner", ["infy-only"], indirect=True)
def test_a_deployment_started_later_is_subscribed_without_a_reconnect(runner, fake_ticker):
    _until(runner, lambda: runner.aggregator.up_since is not None)
    assert NIFTY not in fake_ticker.modes
    runner.feeds[NIFTY] = runner.nifty  # a broker-feed deployment on NIFTY 50 starts
    runner.clk.t += runner.refresh_every
    runner.step(timeout=0.05)
    assert fake_ticker.wait_mode(NIFTY, "full")
    assert fake_ticker.connects == 1
    # its first minute was not watched whole: it is owed to history
    assert runner.aggregator.owed[NIFTY] == {(int(runner.clk.t) // 60) * 60}


def test_every_packet_mode_parses_through_the_sdk(fake_kite, fake_ticker):
    """ltp (8 bytes), quote (44), full (184), index full (32), and a CDS price (÷1e7)."""
    import threading

    from kiteconnect import KiteTicker

    usdinr = (1001 << 8) + 3  # a CDS token: prices in units of 1e-7
    token = fake_kite.issue_access_token()
    got: list[dict] = []
    seen = threading.Event()
    kt = KiteTicker(fake_kite.api_key, token, root=fake_ticker.url)

    def on_connect(ws, response):
        ws.subscribe([INFY, NIFTY, usdinr, 738561])
        ws.set_mode(ws.MODE_LTP, [INFY])
        ws.set_mode(ws.MODE_FULL, [NIFTY, 738561])  # usdinr stays in quote, the default

    kt.on_connect = on_connect
    kt.on_ticks = lambda ws, ticks: (got.extend(ticks), seen.set())
    from twisted.internet import reactor  # one reactor per process: reuse it if running

    if reactor.running:
        reactor.callFromThread(kt.connect, threaded=True)
    else:
        kt.connect(threaded=True)
    try:
        assert fake_ticker.wait_mode(INFY, "ltp") and fake_ticker.wait_mode(738561, "full")
        assert fake_ticker.wait_mode(usdinr, "quote") and fake_ticker.wait_mode(NIFTY, "full")
        ts = 1_796_000_000
        fake_ticker.send([
            FakeTick(INFY, 1501.55, ts),
            FakeTick(usdinr, 84.1225, ts, volume=5000, open=84.1, high=84.2, low=84.0, close=84.05),
            FakeTick(NIFTY, 24123.45, ts, open=24000, high=24200, low=23950, close=24010),
            FakeTick(738561, 2950.05, ts, volume=123456, last_quantity=7),
        ])  # fmt: skip
        assert seen.wait(10)
    finally:
        reactor.callFromThread(kt.close)
    by = {t["instrument_token"]: t for t in got}
    assert by[INFY] == {"tradable": True, "mode": "ltp", "instrument_token": INFY,
                        "last_price": 1501.55}  # fmt: skip
    q = by[usdinr]
    assert (q["mode"], q["last_price"], q["volume_traded"]) == ("quote", 84.1225, 5000)
    assert q["ohlc"] == {"open": 84.1, "high": 84.2, "low": 84.0, "close": 84.05}
    n = by[NIFTY]
    assert (n["mode"], n["tradable"], n["last_price"]) == ("full", False, 24123.45)
    assert n["ohlc"]["high"] == 24200 and n["exchange_timestamp"].timestamp() == ts
    f = by[738561]
    assert (f["mode"], f["volume_traded"], f["last_traded_quantity"]) == ("full", 123456, 7)
    assert f["exchange_timestamp"].timestamp() == ts and len(f["depth"]["buy"]) == 5
