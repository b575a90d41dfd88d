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
