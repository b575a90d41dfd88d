"""Cancelling a walk-forward (service, API; a queued one never runs, a running one stops without
a report) and the Monte Carlo bootstrap of bar returns (seeded, statistically sane, via the API).
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest

from execution.models import Backtest, BacktestStatus
from execution.services.backtests import backtest_request
from optimisation import robustness
from optimisation.exceptions import RobustnessConflict
from optimisation.models import RobustnessRun, RobustnessStatus
from optimisation.montecarlo import bar_returns, monte_carlo_returns, simulate_returns
from optimisation.robustness import walk_forward_cancel, walk_forward_request, walk_forward_run
from optimisation.tests.conftest import REFERENCE_COSTS

pytestmark = pytest.mark.django_db

WF = {"space": {"fast": [5, 10], "slow": [20, 40]}, "windows": 3, "in_sample_ratio": 2}


# --- walk-forward cancel ---------------------------------------------------------------------


def test_a_cancelled_queued_walk_forward_never_runs(user, goog_strategy):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    cancelled = walk_forward_cancel(run=run)
    assert cancelled.status == RobustnessStatus.CANCELLED and cancelled.finished_at
    assert walk_forward_run(run_id=run.pk) == "skipped"  # the task, delivered late
    run.refresh_from_db()
    assert run.status == RobustnessStatus.CANCELLED and run.report is None
    with pytest.raises(RobustnessConflict, match="cancelled"):
        walk_forward_cancel(run=run)


def test_a_running_walk_forward_stops_without_writing_a_report(user, goog_strategy, monkeypatch):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    monkeypatch.setattr(robustness, "CANCEL_CHECK_SECONDS", 0.0)
    load = robustness._market

    def load_then_cancel(r):  # the user presses Cancel while the task has started
        assert RobustnessRun.objects.get(pk=r.pk).status == RobustnessStatus.RUNNING
        walk_forward_cancel(run=r)
        return load(r)

    monkeypatch.setattr(robustness, "_market", load_then_cancel)
    assert walk_forward_run(run_id=run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == RobustnessStatus.CANCELLED and run.report is None


def test_cancel_through_the_api(api_client, other_client, user, goog_strategy):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    url = f"/api/robustness/{run.pk}/cancel/"
    assert other_client.post(url).status_code == 404
    response = api_client.post(url)
    assert response.status_code == 200 and response.json()["status"] == "CANCELLED"
    again = api_client.post(url)
    assert again.status_code == 409


def test_a_monte_carlo_cannot_be_cancelled(api_client, user, goog_strategy):
    bt = Backtest.objects.create(
        owner=user,
        strategy=goog_strategy,
        config={},
        capital=Decimal("1000"),
        status=BacktestStatus.COMPLETE,
    )
    run = robustness.monte_carlo_request(backtest=bt, user=user, paths=10)
    assert api_client.post(f"/api/robustness/{run.pk}/cancel/").status_code == 409


# --- bootstrap of bar returns ----------------------------------------------------------------

RNG = np.random.default_rng(21)
RETURNS = RNG.normal(0.0004, 0.012, 400)
EQUITY = list(10_000 * np.cumprod(np.concatenate(([1.0], 1 + RETURNS))))


def test_bar_returns_are_the_equity_curves_steps():
    assert np.allclose(bar_returns(EQUITY), RETURNS)
    assert len(bar_returns([100.0])) == 0


def test_the_same_seed_reproduces_and_another_seed_does_not():
    a = monte_carlo_returns(equity=EQUITY, capital=10_000, paths=3000, seed=4)
    b = monte_carlo_returns(equity=EQUITY, capital=10_000, paths=3000, seed=4)
    c = monte_carlo_returns(equity=EQUITY, capital=10_000, paths=3000, seed=5)
    assert a == b
    assert a["final_equity"] != c["final_equity"]
    assert a["method"] == "bootstrap_returns" and a["bars"] == 400


def test_the_bootstrap_is_statistically_sane():
    paths = simulate_returns(
        returns=RETURNS, capital=10_000.0, paths=20_000, seed=9, ruin_equity=0.0
    )
    # log growth of a path is the sum of n draws: mean n*mean(log1p r), sd sqrt(n)*sd(log1p r)
    logs = np.log1p(RETURNS)
    growth = np.log(paths.final_equity / 10_000.0)
    n = len(RETURNS)
    assert abs(growth.mean() - n * logs.mean()) < 4 * np.sqrt(n) * logs.std() / np.sqrt(20_000)
    assert growth.std() == pytest.approx(np.sqrt(n) * logs.std(), rel=0.05)
    # the original path's final equity is near the median of the resampled ones
    original = EQUITY[-1]
    assert np.mean(paths.final_equity < original) == pytest.approx(0.5, abs=0.05)
    assert np.all((paths.max_drawdown_pct >= 0) & (paths.max_drawdown_pct <= 100))


def test_constant_returns_give_every_path_the_original_curve():
    equity = [1000.0 * 1.01**i for i in range(50)]
    report = monte_carlo_returns(equity=equity, capital=1000, paths=500, seed=0)
    for value in report["final_equity"].values():
        assert value == pytest.approx(equity[-1], abs=1e-4)  # percentiles: 4 places
    assert report["max_drawdown_pct"]["p95"] == 0.0
    assert report["probability_of_ruin"] == 0.0


def test_ruin_and_percentiles():
    falling = [1000.0 * 0.97**i for i in range(60)]  # every return is -3 %: every path ruins
    report = monte_carlo_returns(equity=falling, capital=1000, paths=200, seed=1)
    assert report["probability_of_ruin"] == 1.0
    report = monte_carlo_returns(equity=EQUITY, capital=10_000, paths=2000, seed=2)
    for figure in ("final_equity", "max_drawdown_pct"):
        values = [report[figure][k] for k in ("p5", "p25", "p50", "p75", "p95")]
        assert values == sorted(values)
    assert sum(report["max_drawdown_histogram"]["counts"]) == 2000


def test_bootstrap_returns_through_the_api(
    api_client, user, goog_strategy, settings, django_capture_on_commit_callbacks
):
    from datetime import date

    with django_capture_on_commit_callbacks(execute=True):
        bt = backtest_request(
            strategy=goog_strategy,
            user=user,
            start=date(2006, 1, 1),
            end=date(2007, 12, 31),
            **REFERENCE_COSTS,
        )
    bt.refresh_from_db()
    body = {"method": "bootstrap_returns", "paths": 500, "seed": 7}
    first = api_client.post(f"/api/backtests/{bt.pk}/monte-carlo/", body, format="json")
    second = api_client.post(f"/api/backtests/{bt.pk}/monte-carlo/", body, format="json")
    assert first.status_code == 201, first.json()
    report = first.json()["report"]
    assert report == second.json()["report"]
    assert report["bars"] == bt.equity.count() - 1
    assert report["original_final_equity"] == pytest.approx(
        float(bt.stats["final_equity"]), abs=0.05
    )
    limits = {**settings.ALGOSAAS, "MAX_MONTE_CARLO_STEPS": 499 * report["bars"]}
    settings.ALGOSAAS = limits
    refused = api_client.post(f"/api/backtests/{bt.pk}/monte-carlo/", body, format="json")
    assert refused.status_code == 400
    assert "MAX_MONTE_CARLO_STEPS" in refused.json()["error"]["fields"]
    assert "bar returns" in refused.json()["error"]["message"]
