"""The GOOG grid against backtesting.py 0.6.6's own ``Backtest.optimize`` on the same grid.

backtesting.py is run in-process (it is installed in the dev environment for this test and the
benchmarks) with its quick-start ``SmaCross``, ``maximize="Return [%]"`` and the constraint
``fast < slow``; our sweep of the same space through the product's path must find the same best
pair and the same return.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import pandas as pd
import pytest
from django.conf import settings

from optimisation.models import SweepStatus
from optimisation.tests.conftest import REFERENCE_COSTS

backtesting = pytest.importorskip("backtesting")

from backtesting.lib import crossover  # noqa: E402

pytestmark = pytest.mark.django_db

FAST = range(5, 31, 5)  # 5..30
SLOW = range(10, 61, 5)  # 10..60


def _sma(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCross(backtesting.Strategy):
    """backtesting.py's quick-start strategy: a golden cross buys, a death cross sells short."""

    fast = 10
    slow = 20

    def init(self):
        self.sma1 = self.I(_sma, self.data.Close, self.fast)
        self.sma2 = self.I(_sma, self.data.Close, self.slow)

    def next(self):
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy()
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            self.sell()


def _backtesting_py_optimize(monkeypatch):
    # threads, not processes: the machine's cores are shared, and the strategy need not pickle
    from multiprocessing.dummy import Pool

    monkeypatch.setattr(backtesting, "Pool", Pool)
    df = pd.read_csv(Path(settings.BASE_DIR) / "data" / "GOOG.csv", index_col=0, parse_dates=True)
    warnings.simplefilter("ignore")
    bt = backtesting.Backtest(df, SmaCross, cash=10_000, commission=0.002, finalize_trades=True)
    stats = bt.optimize(
        fast=FAST,
        slow=SLOW,
        maximize="Return [%]",
        constraint=lambda p: p.fast < p.slow,
    )
    return stats._strategy.fast, stats._strategy.slow, stats["Return [%]"]


def test_goog_sma_grid_finds_backtesting_py_optimize_best(goog_strategy, sweep_run, monkeypatch):
    space = {
        "fast": {"start": 5, "stop": 30, "step": 5},
        "slow": {"start": 10, "stop": 60, "step": 5},
        "mode": ["long_short"],
    }
    sweep = sweep_run(goog_strategy, space=space, objective="return", **REFERENCE_COSTS)
    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    valid = sum(f < s for f in FAST for s in SLOW)
    assert (sweep.total, sweep.skipped) == (valid, len(FAST) * len(SLOW) - valid)

    fast, slow, ret = _backtesting_py_optimize(monkeypatch)

    assert (sweep.best_params["fast"], sweep.best_params["slow"]) == (fast, slow)
    assert math.isclose(sweep.best_value, ret, rel_tol=1e-6), (sweep.best_value, ret)
