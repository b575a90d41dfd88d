"""A rule strategy backtested through the real service equals the built-in SMA strategy."""

from __future__ import annotations

from decimal import Decimal
from importlib import import_module

import pytest
from django.apps import apps

from execution.models import BacktestStatus, Instrument
from execution.services.backtests import backtest_request
from strategies.rules.text import parse_text
from strategies.services import strategy_create
from strategies.tests.factories import ensure_seeded_instruments

pytestmark = pytest.mark.django_db


def _goog() -> Instrument:
    """GOOG with its daily bars, put back if a flush elsewhere in the suite removed them."""
    ensure_seeded_instruments()
    goog = Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")
    if not goog.bars.exists():
        import_module("execution.migrations.0004_load_goog_bars").load(apps, None)
    return goog


def _strategy(user, **config):
    return strategy_create(
        owner=user,
        instrument=_goog(),
        timeframe="1d",
        allocation_pct=Decimal("100"),
        capital=Decimal("10000"),
        **config,
    )


def test_rule_backtest_on_goog_equals_the_sma_type(user, django_capture_on_commit_callbacks):
    sma = _strategy(
        user,
        name="SMA",
        strategy_type="sma_crossover",
        params={"fast": 10, "slow": 20, "mode": "long_short"},
    )
    doc = parse_text(
        "entry_long: sma(10) crosses_above sma(20)\nexit_long: sma(10) crosses_below sma(20)\n"
        "entry_short: sma(10) crosses_below sma(20)\nexit_short: sma(10) crosses_above sma(20)"
    ).json
    rule = _strategy(user, name="Rule", strategy_type="rules", params=doc)
    results = []
    for strategy in (sma, rule):
        with django_capture_on_commit_callbacks(execute=True):
            bt = backtest_request(strategy=strategy, user=user, charges="india_equity")
        bt.refresh_from_db()
        assert bt.status == BacktestStatus.COMPLETE, bt.error
        trades = [
            (t.side, t.quantity, t.entry_price, t.exit_price, t.pnl)
            for t in bt.trades.order_by("seq")
        ]
        results.append((bt.stats, trades))
    assert results[0] == results[1]
    assert results[0][0]["trades"] > 10
