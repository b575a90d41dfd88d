"""Dhan's Live Market Feed: packets parsed, ticks aggregated into one-minute bars written once,
a drop mid-bar completed from Dhan's intraday charts, and a refused token ending the runner.

The socket, the binary packets and the reconnects are real (the fake feed on loopback); time
is a test clock, and each packet carries its own last-trade time.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from brokers.services import broker_adapter_for
from execution.brokers.dhan_data import DhanMarketData, feed_key
from execution.brokers.dhan_feed import (
    FULL,
    QUOTE,
    TICKER,
    FeedDisconnected,
    parse_packet,
    subscribe_messages,
)
from execution.models import Bar, Instrument
from execution.services.dhan_ticker import DhanTickerRunner
from tests.fakes.dhan.feed import disconnect_packet, packet

pytestmark = pytest.mark.django_db
INFY = feed_key("NSE_EQ", 1594)
NIFTY = feed_key("IDX_I", 13)


# ---------------------------------------------------------------- packets


def test_ticker_quote_and_full_packets_parse_to_the_trade_and_the_days_volume():
    ts = 1_796_700_000  # a real epoch; the wire carries IST wall-clock seconds
    t = parse_packet(packet(TICKER, "NSE_EQ", 1594, 1501.25, ts, 0))
    assert (t.segment, t.security_id, t.price, t.ts, t.day_volume) == (
        "NSE_EQ", 1594, Decimal("1501.25"), ts, None
    )  # fmt: skip
    q = parse_packet(packet(QUOTE, "BSE_EQ", 500209, 1499.9, ts, 123_456))
    assert (q.segment, q.security_id, q.price, q.ts, q.day_volume) == (
        "BSE_EQ", 500209, Decimal("1499.90"), ts, 123_456
    )  # fmt: skip
    f = parse_packet(packet(FULL, "NSE_FNO", 35001, 24010.5, ts, 9_000))
    assert (f.segment, f.price, f.day_volume) == ("NSE_FNO", Decimal("24010.50"), 9_000)
    index = parse_packet(packet(QUOTE, "IDX_I", 13, 24000.0, ts, 0))
    assert (index.segment, index.day_volume) == ("IDX_I", None)  # no volume: prices only
    assert len(packet(QUOTE, "NSE_EQ", 1, 1.0, ts, 0)) == 50
    assert len(packet(FULL, "NSE_EQ", 1, 1.0, ts, 0)) == 162


def test_disconnect_short_and_other_packets():
    with pytest.raises(FeedDisconnected) as err:
        parse_packet(disconnect_packet(807))
    assert err.value.code == 807 and "expired" in str(err.value)
    with pytest.raises(ValueError):
        parse_packet(b"\x04\x32\x00")
    with pytest.raises(ValueError):
        parse_packet(packet(QUOTE, "NSE_EQ", 1594, 1.0, 0, 0)[:30])
    prev_close = b"\x06\x10\x00\x01" + (1594).to_bytes(4, "little") + bytes(8)
    assert parse_packet(prev_close) is None  # read, not a trade


def test_subscriptions_go_100_instruments_a_message():
    pairs = [("NSE_EQ", i) for i in range(150)]
    first, second = (json.loads(m) for m in subscribe_messages(pairs, QUOTE))
    assert (first["RequestCode"], first["InstrumentCount"], second["InstrumentCount"]) == (
        17, 100, 50
    )  # fmt: skip
    assert first["InstrumentList"][0] == {"ExchangeSegment": "NSE_EQ", "SecurityId": "0"}


# ---------------------------------------------------------------- the runner


class Clock:
    def __init__(self, t: float):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def imported(dhan_account):
    call_command("import_instruments", "--from", "dhan", "--account", str(dhan_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    return dhan_account


@pytest.fixture
def feed(fake_dhan_feed):
    return fake_dhan_feed


def _runner(account, fake_dhan, feed, token: str | None = None) -> DhanTickerRunner:
    infy = Instrument.objects.get(exchange="NSE", symbol="INFY")
    nifty = Instrument.objects.get(exchange="NSE", symbol="NIFTY")
    m = (int(time.time()) // 60) * 60 - 3600
    r = DhanTickerRunner(
        client_id=fake_dhan.client_id,
        access_token=token or next(iter(fake_dhan.access_tokens)),
        root=feed.url,
        history=DhanMarketData(broker_adapter_for(account=account)),
        instruments=lambda: {INFY: infy, NIFTY: nifty},
        clock=Clock(m - 30),
        history_delay=1.0,
        give_up_after=300,
        reconnect_delay=0.1,
    )
    r.m = m
    return r


def _until(runner, cond, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runner.step(timeout=0.05)
        if cond():
            return
    raise AssertionError("condition not met in time")


def _bar(key: int, ts: int):
    sid = key & 0xFFFFFFFF
    return Bar.objects.filter(
        instrument__dhan_security_id=sid, timeframe="1m", ts=datetime.fromtimestamp(ts, tz=UTC)
    ).first()


def _ohlcv(bar) -> tuple:
    return (bar.open, bar.high, bar.low, bar.close, bar.volume)


def test_quotes_become_bars_once_and_a_drop_mid_bar_is_completed_from_charts(
    imported, fake_dhan, feed
):
    runner = _runner(imported, fake_dhan, feed)
    m, clk = runner.m, runner.clock
    # Dhan's chart candles for the minutes the socket will not watch whole
    fake_dhan.candles[("NSE_EQ", "1594")] = [
        (m - 60, 1498.0, 1500.5, 1497.5, 1500.0, 4200),
        (m + 60, 1491.0, 1493.0, 1488.0, 1492.5, 3100),
    ]
    fake_dhan.candles[("IDX_I", "13")] = [(m - 60, 24000.0, 24010.0, 23990.0, 24005.0, 0)]
    runner.start()
    try:
        assert feed.wait_subscribed(("NSE_EQ", 1594)) and feed.wait_subscribed(("IDX_I", 13))
        assert feed.subscriptions[("NSE_EQ", 1594)] == QUOTE
        _until(runner, lambda: runner.aggregator.up_since is not None)

        feed.send("NSE_EQ", 1594, 1500.00, m - 10, 1000)  # the connection minute: history's
        for ts, price, vol in [(m + 1, 1500.50, 1010), (m + 20, 1502.00, 1040),
                               (m + 40, 1499.00, 1100), (m + 59, 1501.00, 1150)]:  # fmt: skip
            feed.send("NSE_EQ", 1594, price, ts, vol)
            feed.send("IDX_I", 13, price * 16, ts, 0)
        clk.t = m + 61
        feed.send("NSE_EQ", 1594, 1501.50, m + 61, 1160)  # the next minute opens
        _until(runner, lambda: _bar(INFY, m) is not None)
        assert _ohlcv(_bar(INFY, m)) == (
            Decimal("1500.50"), Decimal("1502.00"), Decimal("1499.00"), Decimal("1501.00"), 150
        )  # fmt: skip
        clk.t = m + 63  # the index's bar closes on the clock (no later tick needed)
        _until(runner, lambda: _bar(NIFTY, m) is not None)
        assert _bar(NIFTY, m).high == Decimal("24032.00")
        # the connection minute came from /charts/intraday, not from the one tick seen
        _until(runner, lambda: _bar(INFY, m - 60) is not None and _bar(NIFTY, m - 60) is not None)
        assert _ohlcv(_bar(INFY, m - 60)) == (
            Decimal("1498"), Decimal("1500.5"), Decimal("1497.5"), Decimal("1500"), 4200
        )  # fmt: skip
        assert ("POST", "/v2/charts/intraday") in fake_dhan.requests
        assert runner.history.instrument_names == {INFY: "EQUITY", NIFTY: "INDEX"}

        # the socket drops in the middle of minute m+60; the runner reconnects by itself
        feed.send("NSE_EQ", 1594, 1490.00, m + 80, 1200)
        _until(runner, lambda: runner.aggregator.building[INFY].close == Decimal("1490"))
        clk.t = m + 85
        connects = feed.connects
        feed.drop()
        _until(runner, lambda: feed.connects > connects and runner.aggregator.up_since
               is not None and runner.aggregator.down_since is None)  # fmt: skip
        assert m + 60 in runner.aggregator.owed[INFY]
        assert feed.wait_subscribed(("NSE_EQ", 1594))
        clk.t = m + 100
        feed.send("NSE_EQ", 1594, 1495.00, m + 110, 1300)
        clk.t = m + 125
        feed.send("NSE_EQ", 1594, 1496.00, m + 121, 1310)
        _until(runner, lambda: _bar(INFY, m + 60) is not None)
        assert _ohlcv(_bar(INFY, m + 60)) == (  # Dhan's candle, not the ticks' half of it
            Decimal("1491"), Decimal("1493"), Decimal("1488"), Decimal("1492.5"), 3100
        )  # fmt: skip
        # the first whole minute after the reconnect is built from ticks again
        feed.send("NSE_EQ", 1594, 1497.00, m + 150, 1330)
        _until(runner, lambda: runner.aggregator.building[INFY].close == Decimal("1497"))
        clk.t = m + 183
        _until(runner, lambda: _bar(INFY, m + 120) is not None)
        assert _ohlcv(_bar(INFY, m + 120)) == (
            Decimal("1496"), Decimal("1497"), Decimal("1496"), Decimal("1497"), 30
        )  # fmt: skip
        # each minute once: a second pass over the same minutes stores nothing more
        count = Bar.objects.filter(instrument__dhan_security_id=1594, timeframe="1m").count()
        assert count == 4
        assert runner.step(timeout=0.05) == 0
    finally:
        runner.stop()


def test_an_expired_token_is_refused_and_the_runner_gives_up(imported, fake_dhan, feed):
    runner = _runner(imported, fake_dhan, feed, token="not-a-token")
    runner.start()
    try:
        _until(runner, lambda: runner.gave_up)
        assert feed.connects == 0
    finally:
        runner.stop()


def test_run_ticker_picks_the_dhan_feed_from_the_account(imported):
    Instrument.objects.update_or_create(exchange="NSE", symbol="ACME")
    with pytest.raises(CommandError, match="NSE:ACME has no Dhan id"):
        call_command("run_ticker", "--account", str(imported.pk), "--instrument", "NSE:ACME")


def test_a_deployment_started_later_is_subscribed_on_the_open_socket(imported, fake_dhan, feed):
    runner = _runner(imported, fake_dhan, feed)
    nifty = runner.instruments_source()[NIFTY]
    feeds = {INFY: Instrument.objects.get(exchange="NSE", symbol="INFY")}
    runner.instruments_source = lambda: dict(feeds)
    runner.start()
    try:
        assert feed.wait_subscribed(("NSE_EQ", 1594))
        _until(runner, lambda: runner.aggregator.up_since is not None)
        assert ("IDX_I", 13) not in feed.subscriptions
        feeds[NIFTY] = nifty  # a broker-feed deployment on NIFTY starts
        runner.clock.t += runner.refresh_every
        runner.step(timeout=0.05)
        assert feed.wait_subscribed(("IDX_I", 13)) and feed.connects == 1
        assert runner.aggregator.owed[NIFTY] == {(int(runner.clock.t) // 60) * 60}
        assert runner.history.instrument_names[NIFTY] == "INDEX"
    finally:
        runner.stop()
