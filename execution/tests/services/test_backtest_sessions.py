"""Backtests of intraday NSE bars follow the session: MIS squared off at 15:20 IST each day."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from execution.marketdata.csvbars import ParsedBar
from execution.models import BacktestStatus
from execution.services.backtests import backtest_request
from execution.services.marketdata import bars_import, instrument_get_or_create
from strategies.services import strategy_create

pytestmark = pytest.mark.django_db

IST = ZoneInfo("Asia/Kolkata")
TICK = Decimal("0.05")
# Mon 21 .. Thu 24 Dec 2026, then Christmas (Fri 25, a holiday)
DAYS = [21, 22, 23, 24, 25]


@pytest.fixture
def intraday(db):
    """Five-minute NSE bars from 08:00 to 16:55 IST (some outside the session): falling until
    10:00 on the first day, rising from then on (one crossing up, a long the strategy keeps)."""
    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol="SESSIONTEST", tick_size=TICK, lot_size=1
    )
    bars, k = [], 0
    for day in DAYS:
        t = datetime(2026, 12, day, 8, 0, tzinfo=IST)
        while t.hour < 17:
            price = Decimal("100") + TICK * abs(k - 24)  # bar 24 opens at 10:00 on the 21st
            bars.append(ParsedBar(t, price, price + TICK, price - TICK, price, 1000))
            k += 1
            t += timedelta(minutes=5)
    bars_import(instrument=instrument, timeframe="5m", bars=bars)
    return instrument


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    def _run(strategy):
        with django_capture_on_commit_callbacks(execute=True):
            bt = backtest_request(strategy=strategy, user=strategy.owner, charges="none")
        bt.refresh_from_db()
        assert bt.status == BacktestStatus.COMPLETE, bt.error
        return bt

    return _run


def _strategy(user, instrument, product):
    return strategy_create(
        owner=user,
        name=f"session {product}",
        strategy_type="sma_crossover",
        params={"fast": 2, "slow": 5, "mode": "long_only"},
        instrument=instrument,
        timeframe="5m",
        quantity=10,
        product=product,
        capital=Decimal("100000"),
    )


def _ist(dt) -> tuple[int, int, int]:
    local = dt.astimezone(IST)
    return local.day, local.hour, local.minute


def test_mis_backtest_squares_off_at_1520_ist_every_session(user, intraday, run):
    bt = run(_strategy(user, intraday, "MIS"))
    # only session bars: 09:15 .. 15:25, four trading days (the 25th is a holiday)
    assert bt.bars == 4 * 75
    exits = [_ist(t.exit_ts) for t in bt.trades.order_by("seq")]
    assert exits == [(d, 15, 20) for d in DAYS[:4]]
    entries = [_ist(t.entry_ts) for t in bt.trades.order_by("seq")]
    assert entries[1:] == [(d, 9, 15) for d in DAYS[1:4]]  # the long is taken again each morning
    for point in bt.equity.all():
        _day, hour, minute = _ist(point.ts)
        assert (9, 15) <= (hour, minute) < (15, 30)


def test_cnc_backtest_holds_overnight(user, intraday, run):
    bt = run(_strategy(user, intraday, "CNC"))
    assert bt.bars == 4 * 75
    (trade,) = bt.trades.all()  # one long, closed only when the backtest ends
    assert _ist(trade.exit_ts) == (24, 15, 25)
