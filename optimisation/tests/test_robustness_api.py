"""Walk-forward and Monte Carlo through the API and the (synchronous) task: reports, bad input
as 400s naming the field or the limit, another user's objects as 404s."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from execution.models import Backtest, BacktestStatus
from execution.services.backtests import backtest_request
from optimisation.models import RobustnessKind, RobustnessRun, RobustnessStatus
from optimisation.robustness import walk_forward_request, walk_forward_run
from optimisation.tests.conftest import REFERENCE_COSTS
from strategies.models import Strategy

pytestmark = pytest.mark.django_db

COSTS = {k: str(v) for k, v in REFERENCE_COSTS.items()}
WF = {
    "space": {"fast": [5, 10], "slow": [20, 40], "mode": ["long_short"]},
    "start": "2006-01-01",
    "end": "2009-12-31",
    "windows": 3,
    "in_sample_ratio": 2,
    **COSTS,
}


def _wf(client, strategy, body):
    return client.post(f"/api/strategies/{strategy.pk}/walk-forward/", body, format="json")


def _mc(client, backtest, body):
    return client.post(f"/api/backtests/{backtest.pk}/monte-carlo/", body, format="json")


def _day(ts: int):
    return datetime.fromtimestamp(ts, UTC).date()


@pytest.fixture
def finished_backtest(user, goog_strategy, django_capture_on_commit_callbacks) -> Backtest:
    with django_capture_on_commit_callbacks(execute=True):
        bt = backtest_request(
            strategy=goog_strategy,
            user=user,
            start=_day(1136073600),
            end=_day(1262217600),
            **REFERENCE_COSTS,
        )
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    assert bt.trades.count() > 10
    return bt


def test_walk_forward_report_matches_single_backtests_of_each_window(
    api_client, user, goog_strategy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _wf(api_client, goog_strategy, WF)
    assert response.status_code == 202, response.json()
    run_id = response.json()["id"]
    body = api_client.get(f"/api/robustness/{run_id}/").json()
    assert body["status"] == RobustnessStatus.COMPLETE, body["error"]
    assert body["kind"] == RobustnessKind.WALK_FORWARD
    assert "config" not in body["request"] and body["request"]["windows"] == 3
    report = body["report"]
    assert len(report["windows"]) == 3 and report["parameter_sets"] == 4
    stitched: list[str] = []
    for row in report["windows"]:
        assert row["params"] in [
            {"fast": f, "slow": s, "mode": "long_short"} for f in (5, 10) for s in (20, 40)
        ]
        # the window's out-of-sample test is exactly a backtest of its days with the winner
        Strategy.objects.filter(pk=goog_strategy.pk).update(params=row["params"])
        goog_strategy.refresh_from_db()
        span = row["out_of_sample"]
        with django_capture_on_commit_callbacks(execute=True):
            bt = backtest_request(
                strategy=goog_strategy,
                user=user,
                start=_day(span["first_ts"]),
                end=_day(span["last_ts"]),
                capital=Decimal(str(row["start_equity"])),
                **REFERENCE_COSTS,
            )
        bt.refresh_from_db()
        assert bt.status == BacktestStatus.COMPLETE, bt.error
        assert bt.stats == row["out_of_sample_stats"]
        stitched += [str(e) for e in bt.equity.order_by("ts").values_list("equity", flat=True)]
    ours = [str(Decimal(str(e)).quantize(Decimal("0.01"))) for e in report["equity"]["equity"]]
    assert ours == stitched
    assert report["final_equity"] == float(stitched[-1])
    listed = api_client.get(f"/api/strategies/{goog_strategy.pk}/walk-forward/").json()
    assert [r["id"] for r in listed["results"]] == [run_id]
    # a redelivered task finds the run finished and writes nothing
    assert walk_forward_run(run_id=run_id) == "skipped"


def test_a_range_too_short_for_the_windows_fails_the_run_with_its_reason(
    api_client, goog_strategy, django_capture_on_commit_callbacks
):
    body = {**WF, "start": "2006-01-01", "end": "2006-01-20", "windows": 10}
    with django_capture_on_commit_callbacks(execute=True):
        response = _wf(api_client, goog_strategy, body)
    run = RobustnessRun.objects.get(pk=response.json()["id"])
    assert run.status == RobustnessStatus.FAILED
    assert "cannot hold 10 out-of-sample windows" in run.error


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"windows": 0}, "windows"),
        ({"windows": 21}, "windows"),  # over MAX_WALK_FORWARD_WINDOWS (20)
        ({"mode": "sideways"}, "mode"),
        ({"method": "optuna"}, "method"),
        ({"in_sample_ratio": 0}, "in_sample_ratio"),
        ({"objective": "vibes"}, "objective"),
        ({"method": "random"}, "samples"),
        ({"space": {"lookback": [3]}}, "space"),
        ({"space": {"fast": [50], "slow": [20]}}, "space"),
        ({"start": "2008-01-01", "end": "2007-01-01"}, "end"),
    ],
)
def test_bad_walk_forward_requests_are_a_400_naming_the_field(
    api_client, goog_strategy, extra, field
):
    response = _wf(api_client, goog_strategy, {**WF, **extra})
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not RobustnessRun.objects.exists()


def test_walk_forward_limits_are_400s_naming_the_setting(api_client, goog_strategy, settings, user):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_WALK_FORWARD_BACKTESTS": 11}
    response = _wf(api_client, goog_strategy, WF)  # 4 sets x 3 windows = 12
    assert response.status_code == 400
    assert "MAX_WALK_FORWARD_BACKTESTS" in response.json()["error"]["fields"]
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_RUNNING_WALK_FORWARDS_PER_USER": 1}
    walk_forward_request(strategy=goog_strategy, user=user, space={"fast": [5]}, windows=2)
    response = _wf(api_client, goog_strategy, {**WF, "windows": 2})
    assert response.status_code == 400
    assert "MAX_RUNNING_WALK_FORWARDS_PER_USER" in response.json()["error"]["fields"]


def test_monte_carlo_of_a_backtest(api_client, finished_backtest):
    bt = finished_backtest
    body = {"paths": 2000, "seed": 4, "method": "shuffle", "ruin_equity_pct": 60}
    response = _mc(api_client, bt, body)
    assert response.status_code == 201, response.json()
    made = response.json()
    assert made["status"] == RobustnessStatus.COMPLETE and made["backtest"] == bt.pk
    report = made["report"]
    pnl = sum(bt.trades.values_list("pnl", flat=True))
    assert report["trades"] == bt.trades.count()
    assert report["original_final_equity"] == float(bt.capital + pnl)
    assert set(report["final_equity"].values()) == {float(bt.capital + pnl)}  # a shuffle
    assert report["ruin_equity"] == float(bt.capital) * 0.6
    again = _mc(api_client, bt, body).json()
    assert again["report"] == report  # seeded
    assert api_client.get(f"/api/robustness/{made['id']}/").json()["report"] == report
    listed = api_client.get(f"/api/backtests/{bt.pk}/monte-carlo/").json()
    assert listed["count"] == 2
    assert api_client.get("/api/robustness/").json()["count"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"paths": 0}, "paths"),
        ({"paths": 10_001}, "paths"),  # over MAX_MONTE_CARLO_PATHS
        ({"method": "jackknife"}, "method"),
        ({"ruin_equity_pct": 101}, "ruin_equity_pct"),
        ({"seed": -1}, "seed"),
        ({"paths": "many"}, "paths"),
        ({"ruin_equity_pct": False}, "ruin_equity_pct"),
        ({"path": 10}, "path"),  # a typo of paths  # typed JSON (schemathesis found it)
    ],
)
def test_bad_monte_carlo_requests_are_a_400_naming_the_field(
    api_client, finished_backtest, body, field
):
    response = _mc(api_client, finished_backtest, body)
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not RobustnessRun.objects.exists()


def test_monte_carlo_steps_limit_and_unfinished_backtest(
    api_client, finished_backtest, settings, user, goog_strategy
):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_MONTE_CARLO_STEPS": 100}
    response = _mc(api_client, finished_backtest, {"paths": 50})
    assert response.status_code == 400
    assert "MAX_MONTE_CARLO_STEPS" in response.json()["error"]["fields"]
    queued = backtest_request(strategy=goog_strategy, user=user)  # not run: no on-commit here
    assert _mc(api_client, queued, {"paths": 1}).status_code == 409


def test_another_users_objects_are_404s(
    api_client, other_client, goog_strategy, finished_backtest, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        wf = _wf(api_client, goog_strategy, {**WF, "windows": 2}).json()
    mc = _mc(api_client, finished_backtest, {"paths": 10}).json()
    for url in (
        f"/api/robustness/{wf['id']}/",
        f"/api/robustness/{mc['id']}/",
        f"/api/strategies/{goog_strategy.pk}/walk-forward/",
        f"/api/backtests/{finished_backtest.pk}/monte-carlo/",
    ):
        assert other_client.get(url).status_code == 404, url
    assert _wf(other_client, goog_strategy, WF).status_code == 404
    assert _mc(other_client, finished_backtest, {"paths": 10}).status_code == 404
    assert other_client.get("/api/robustness/").json()["count"] == 0
    assert RobustnessRun.objects.count() == 2
