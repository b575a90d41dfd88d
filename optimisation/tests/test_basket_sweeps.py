"""A basket's parameter sweep runs the basket: each result is its basket backtest's, bit for bit.

GOOG's stored daily bars and a second NASDAQ instrument (the synthetic feed's bars) share the
capital with caps adding up to 200 %, so the members compete for the pool: a sweep that ran
the primary alone, or the members apart, would not give the basket backtest's figures.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from execution.models import BacktestStatus
from execution.services.backtests import backtest_request
from execution.services.marketdata import instrument_get_or_create
from optimisation.models import SweepStatus
from optimisation.space import params_key
from optimisation.tests.conftest import REFERENCE_COSTS
from strategies.baskets import basket_replace
from strategies.models import Strategy

pytestmark = pytest.mark.django_db

WINDOW = {"start": date(2006, 1, 1), "end": date(2009, 12, 31)}


@pytest.fixture
def goog_basket(goog_strategy, goog):
    other, _ = instrument_get_or_create(
        exchange="NASDAQ", symbol="WALKX", tick_size=Decimal("0.01"), currency="USD"
    )
    basket_replace(
        strategy=goog_strategy,
        members=[
            {"instrument": goog, "allocation_pct": Decimal("100")},
            {"instrument": other, "allocation_pct": Decimal("100")},
        ],
    )
    return goog_strategy


def _backtest(strategy, user, params, capture):
    Strategy.objects.filter(pk=strategy.pk).update(params=params)
    strategy.refresh_from_db()
    with capture(execute=True):
        bt = backtest_request(strategy=strategy, user=user, **WINDOW, **REFERENCE_COSTS)
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    return bt


def test_a_basket_sweeps_results_equal_basket_backtests_of_the_same_parameters(
    user, goog_basket, sweep_run, settings, django_capture_on_commit_callbacks
):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 2}
    space = {"fast": [5, 10], "slow": [20, 40], "mode": ["long_only"]}
    sweep = sweep_run(goog_basket, space=space, **WINDOW, **REFERENCE_COSTS)

    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    assert (sweep.total, sweep.done, sweep.chunks_total) == (4, 4, 2)
    results = {r.key: r for r in sweep.results.all()}
    single = {}
    for f in (5, 10):
        for s in (20, 40):
            params = {"fast": f, "slow": s, "mode": "long_only"}
            bt = _backtest(goog_basket, user, params, django_capture_on_commit_callbacks)
            assert bt.member_stats and len(bt.member_stats) == 2  # it ran as a basket
            assert results[params_key(params)].stats == bt.stats
            assert results[params_key(params)].value == bt.stats["total_return_pct"]
            # the basket's total, not its primary member's figures
            single[params_key(params)] = bt.member_stats[0]["stats"]["final_equity"]
            assert bt.stats["final_equity"] != single[params_key(params)]
    best = max(results.values(), key=lambda r: r.value)
    assert (sweep.best_params, sweep.best_value) == (best.params, best.value)


def test_a_basket_sweep_with_a_member_without_bars_fails_naming_the_member(
    user, goog_basket, sweep_run
):
    sweep = sweep_run(
        goog_basket,
        space={"fast": [5], "slow": [20]},
        start=date(1990, 1, 1),
        end=date(1990, 1, 31),
    )
    assert sweep.status == SweepStatus.FAILED
    assert sweep.error == "No bars for NASDAQ:GOOG in the chosen range."
