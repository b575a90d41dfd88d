"""Walk-forward of a basket: folds on the members' common timeline, each out-of-sample test a
basket backtest of its dates, cancel, the API's answers, and Monte Carlo of a basket's backtest.

The baskets: GOOG's stored daily bars (trading days) with WALKX, a synthetic NASDAQ instrument
whose daily bars fall on every calendar day, caps adding up to 200 % (the members compete for
the pool, so a run of the primary alone or of the members apart would not give these figures);
and GOOG with LATE, whose stored bars start in July 2008, to cut folds over members with
different bar ranges.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import numpy as np
import pytest
from django.urls import reverse

from execution.engine.feeds import synthetic_bars
from execution.models import Backtest, BacktestStatus, Bar
from execution.services.backtests import backtest_bars, backtest_request
from execution.services.marketdata import instrument_get_or_create
from optimisation import robustness
from optimisation.models import RobustnessRun, RobustnessStatus
from optimisation.robustness import walk_forward_cancel, walk_forward_request, walk_forward_run
from optimisation.tests.conftest import REFERENCE_COSTS
from optimisation.walkforward import plan_windows
from strategies.baskets import basket_replace
from strategies.models import Strategy
from strategies.services import strategy_config_snapshot

pytestmark = pytest.mark.django_db

COSTS = {k: str(v) for k, v in REFERENCE_COSTS.items()}
SPACE = {"fast": [5, 10], "slow": [20, 40], "mode": ["long_only"]}
WF = {"space": SPACE, "start": "2006-01-01", "end": "2009-12-31", **COSTS}


def _day(ts: int) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def _instrument(symbol: str):
    inst, _ = instrument_get_or_create(
        exchange="NASDAQ", symbol=symbol, tick_size=Decimal("0.01"), currency="USD"
    )
    return inst


def _members(strategy, pairs) -> Strategy:
    basket_replace(
        strategy=strategy,
        members=[{"instrument": i, "allocation_pct": Decimal(p)} for i, p in pairs],
    )
    return strategy


@pytest.fixture
def goog_walkx(goog_strategy, goog):
    return _members(goog_strategy, [(goog, "100"), (_instrument("WALKX"), "100")])


@pytest.fixture
def late():
    """NASDAQ:LATE with stored daily bars from 1 July 2008 to 31 December 2009 only."""
    inst = _instrument("LATE")
    start = int(datetime(2008, 7, 1, tzinfo=UTC).timestamp())
    end = int(datetime(2010, 1, 1, tzinfo=UTC).timestamp())
    bars = synthetic_bars(
        instrument_key="NASDAQ:LATE", interval_s=86_400, start_ts=start, end_ts=end, tick_size=0.01
    )
    Bar.objects.bulk_create(
        Bar(
            instrument=inst,
            timeframe="1d",
            ts=datetime.fromtimestamp(int(bars.ts[i]), UTC),
            open=Decimal(repr(float(bars.open[i]))),
            high=Decimal(repr(float(bars.high[i]))),
            low=Decimal(repr(float(bars.low[i]))),
            close=Decimal(repr(float(bars.close[i]))),
            volume=int(bars.volume[i]),
        )
        for i in range(len(bars))
    )
    return inst


def _walk(client, strategy, capture, **extra) -> dict:
    with capture(execute=True):
        response = client.post(
            f"/api/strategies/{strategy.pk}/walk-forward/", {**WF, **extra}, format="json"
        )
    assert response.status_code == 202, response.json()
    body = client.get(f"/api/robustness/{response.json()['id']}/").json()
    assert body["status"] == RobustnessStatus.COMPLETE, body["error"]
    return body["report"]


def _backtest(strategy, user, capture, *, params, start, end, capital) -> Backtest:
    Strategy.objects.filter(pk=strategy.pk).update(params=params)
    strategy.refresh_from_db()
    with capture(execute=True):
        bt = backtest_request(
            strategy=strategy, user=user, start=start, end=end, capital=capital, **REFERENCE_COSTS
        )
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    return bt


def _equity(bt: Backtest) -> list[str]:
    return [str(e) for e in bt.equity.order_by("ts").values_list("equity", flat=True)]


def _check_windows_are_basket_backtests(report, strategy, user, capture, *, basket_of) -> None:
    """Each window's test is a basket backtest of its dates with the winner on the carried
    equity (stats and curve, exactly), and its in-sample value the winner's basket backtest of
    the in-sample dates; the stitched curve is those tests' curves end to end.

    ``basket_of(row)``: the members (instrument, cap) a backtest of the window has.
    """
    stitched: list[str] = []
    tested = 0
    for row in report["windows"]:
        if row["params"] is None:
            continue
        tested += 1
        _members(strategy, basket_of(row))
        oos, ins = row["out_of_sample"], row["in_sample"]
        bt = _backtest(
            strategy,
            user,
            capture,
            params=row["params"],
            start=_day(oos["first_ts"]),
            end=_day(oos["last_ts"]),
            capital=Decimal(str(row["start_equity"])),
        )
        assert bt.member_stats and len(bt.member_stats) == len(basket_of(row))  # a basket's
        assert bt.stats == row["out_of_sample_stats"]
        stitched += _equity(bt)
        if not row.get("absent", {}).get("in_sample"):
            is_bt = _backtest(
                strategy,
                user,
                capture,
                params=row["params"],
                start=_day(ins["first_ts"]),
                end=_day(ins["last_ts"]),
                capital=Decimal("10000"),
            )
            assert is_bt.stats["total_return_pct"] == row["in_sample_value"]
    assert tested
    ours = [str(Decimal(str(e)).quantize(Decimal("0.01"))) for e in report["equity"]["equity"]]
    assert ours == stitched
    assert report["final_equity"] == float(stitched[-1])


@pytest.mark.parametrize("mode", ["rolling", "anchored"])
def test_a_basket_walk_forwards_tests_equal_basket_backtests_of_each_window(
    api_client, user, goog_walkx, goog, mode, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    report = _walk(api_client, goog_walkx, capture, windows=3, in_sample_ratio=2, mode=mode)
    assert len(report["windows"]) == 3 and report["parameter_sets"] == 4
    assert [m["instrument"] for m in report["members"]] == ["NASDAQ:GOOG", "NASDAQ:WALKX"]
    # the timeline is the union of the members' bar times: every calendar day (WALKX's)
    config = strategy_config_snapshot(goog_walkx)
    probe = Backtest(config=config, start=date(2006, 1, 1), end=date(2009, 12, 31))
    union = np.unique(
        np.concatenate([backtest_bars(probe, m)[0].ts for m in config["instruments"]])
    )
    assert report["bars"] == len(union) == (date(2010, 1, 1) - date(2006, 1, 1)).days
    first_is = report["windows"][0]["in_sample"]
    assert (first_is["start_bar"], _day(first_is["first_ts"])) == (0, date(2006, 1, 1))
    if mode == "anchored":
        assert all(w["in_sample"]["start_bar"] == 0 for w in report["windows"])
    else:
        assert report["windows"][1]["in_sample"]["start_bar"] > 0
    assert report["ratio"] == pytest.approx(report["out_of_sample_mean"] / report["in_sample_mean"])
    pairs = [(goog, "100"), (_instrument("WALKX"), "100")]
    _check_windows_are_basket_backtests(
        report, goog_walkx, user, capture, basket_of=lambda row: pairs
    )


def test_members_with_different_bar_ranges_get_folds_on_the_common_timeline(
    api_client, user, goog_strategy, goog, late, django_capture_on_commit_callbacks
):
    capture = django_capture_on_commit_callbacks
    pairs = [(goog, "60"), (late, "60")]  # 120 %: with both present they compete
    basket = _members(goog_strategy, pairs)
    report = _walk(api_client, basket, capture, windows=4, in_sample_ratio=1, mode="anchored")

    config = strategy_config_snapshot(basket)
    probe = Backtest(config=config, start=date(2006, 1, 1), end=date(2009, 12, 31))
    g, lt = (backtest_bars(probe, m)[0] for m in config["instruments"])
    union = np.unique(np.concatenate([g.ts, lt.ts]))
    assert len(union) > max(len(g), len(lt))  # GOOG's trading days and LATE's every day
    assert report["bars"] == len(union)
    plan = plan_windows(len(union), windows=4, in_sample_ratio=1, mode="anchored")
    for w, row in zip(plan, report["windows"], strict=True):
        for span, (a, b) in (
            ("in_sample", (w.is_start, w.is_stop)),
            ("out_of_sample", (w.oos_start, w.oos_stop)),
        ):
            assert (row[span]["start_bar"], row[span]["stop_bar"]) == (a, b)
            assert (row[span]["first_ts"], row[span]["last_ts"]) == (union[a], union[b - 1])
    # LATE has no bars before July 2008: it sits out the first test, and trades in the last
    first, last = report["windows"][0], report["windows"][-1]
    assert _day(first["out_of_sample"]["last_ts"]) < date(2008, 7, 1)
    assert first["absent"] == {"in_sample": ["NASDAQ:LATE"], "out_of_sample": ["NASDAQ:LATE"]}
    assert "absent" not in last
    # a window's test is the backtest of the basket of the members present in it: GOOG alone
    # on its 60 % cap (LATE's allocation stays in cash), else both
    _check_windows_are_basket_backtests(
        report,
        basket,
        user,
        capture,
        basket_of=lambda row: pairs[:1] if row.get("absent", {}).get("out_of_sample") else pairs,
    )


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"windows": 0}, "windows"),
        ({"windows": 21}, "windows"),
        ({"mode": "sideways"}, "mode"),
        ({"in_sample_ratio": 0}, "in_sample_ratio"),
        ({"start": "2008-01-01", "end": "2007-01-01"}, "end"),
    ],
)
def test_the_api_takes_a_basket_walk_forward_and_still_names_bad_windows(
    api_client, goog_walkx, extra, field
):
    url = f"/api/strategies/{goog_walkx.pk}/walk-forward/"
    response = api_client.post(url, {**WF, **extra}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["fields"], response.json()
    assert not RobustnessRun.objects.exists()
    accepted = api_client.post(url, {**WF, "windows": 2}, format="json")  # not run: no commit
    assert accepted.status_code == 202, accepted.json()
    assert RobustnessRun.objects.get().request["config"]["instruments"]


def test_the_backtests_limit_counts_each_members_backtests(api_client, goog_walkx, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_WALK_FORWARD_BACKTESTS": 23}
    url = f"/api/strategies/{goog_walkx.pk}/walk-forward/"
    body = {**WF, "windows": 3}  # 4 sets x 3 windows x 2 members = 24
    response = api_client.post(url, body, format="json")
    assert response.status_code == 400, response.json()
    assert "MAX_WALK_FORWARD_BACKTESTS" in response.json()["error"]["fields"]
    assert "x 2 members" in response.json()["error"]["message"]
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_WALK_FORWARD_BACKTESTS": 24}
    assert api_client.post(url, body, format="json").status_code == 202


def test_a_basket_walk_forward_fails_with_the_reason_when_it_cannot_run(
    user, goog_walkx, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        short = walk_forward_request(
            strategy=goog_walkx,
            user=user,
            space=SPACE,
            windows=10,
            start=date(2006, 1, 1),
            end=date(2006, 1, 20),
        )
        empty = walk_forward_request(
            strategy=goog_walkx,
            user=user,
            space=SPACE,
            windows=2,
            start=date(1990, 1, 1),
            end=date(1990, 1, 31),
        )
    short.refresh_from_db()
    empty.refresh_from_db()
    assert short.status == RobustnessStatus.FAILED
    assert "cannot hold 10 out-of-sample windows" in short.error
    assert empty.status == RobustnessStatus.FAILED
    assert empty.error == "No bars for NASDAQ:GOOG in the chosen range."


def test_cancelling_a_basket_walk_forward(user, goog_walkx, monkeypatch):
    body = {
        "space": SPACE,
        "windows": 3,
        "in_sample_ratio": 2,
        "start": date(2006, 1, 1),
        "end": date(2009, 12, 31),
    }
    queued = walk_forward_request(strategy=goog_walkx, user=user, **body)
    walk_forward_cancel(run=queued)
    assert walk_forward_run(run_id=queued.pk) == "skipped"

    running = walk_forward_request(strategy=goog_walkx, user=user, **body)
    monkeypatch.setattr(robustness, "CANCEL_CHECK_SECONDS", 0.0)
    load = robustness._market

    def load_then_cancel(r):  # Cancel pressed while the task loads the members' bars
        walk_forward_cancel(run=r)
        return load(r)

    monkeypatch.setattr(robustness, "_market", load_then_cancel)
    assert walk_forward_run(run_id=running.pk) == "cancelled"
    for run in (queued, running):
        run.refresh_from_db()
        assert run.status == RobustnessStatus.CANCELLED and run.report is None


def test_monte_carlo_of_a_basket_backtest_resamples_the_baskets_total(
    api_client, user, goog_walkx, django_capture_on_commit_callbacks
):
    bt = _backtest(
        goog_walkx,
        user,
        django_capture_on_commit_callbacks,
        params={"fast": 10, "slow": 40, "mode": "long_only"},
        start=date(2006, 1, 1),
        end=date(2009, 12, 31),
        capital=Decimal("10000"),
    )
    by_member = [m["stats"]["trades"] for m in bt.member_stats]
    assert all(by_member) and bt.trades.count() == sum(by_member) == bt.stats["trades"]
    url = f"/api/backtests/{bt.pk}/monte-carlo/"
    shuffle = api_client.post(url, {"paths": 300, "seed": 1}, format="json")
    assert shuffle.status_code == 201, shuffle.json()
    report = shuffle.json()["report"]
    assert report["trades"] == sum(by_member)  # every member's trades, not the primary's
    # the positions are closed at the end: the trades' P&L (each stored to the paisa) adds up
    # to the basket's total, both members' books together
    stored = float(bt.capital + sum(bt.trades.values_list("pnl", flat=True)))
    assert report["original_final_equity"] == stored
    assert stored == pytest.approx(float(bt.stats["final_equity"]), abs=0.005 * sum(by_member))
    assert set(report["final_equity"].values()) == {stored}  # a shuffle keeps the total
    returns = api_client.post(
        url, {"paths": 300, "seed": 1, "method": "bootstrap_returns"}, format="json"
    )
    assert returns.status_code == 201, returns.json()
    report = returns.json()["report"]
    assert report["bars"] == bt.equity.count() - 1  # the total curve's steps
    assert report["original_final_equity"] == pytest.approx(
        float(bt.stats["final_equity"]), abs=0.01
    )


def test_the_dashboard_walks_a_basket_sweep_forward_and_renders_its_report(
    client, user, goog_strategy, goog, late, sweep_run, django_capture_on_commit_callbacks
):
    basket = _members(goog_strategy, [(goog, "60"), (late, "60")])
    sweep = sweep_run(
        basket, space=SPACE, start=date(2006, 1, 1), end=date(2009, 12, 31), **REFERENCE_COSTS
    )
    assert sweep.status == "COMPLETE", sweep.error
    client.force_login(user)
    body = {"windows": "4", "mode": "anchored", "in_sample_ratio": "1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("optimisation:sweep_walk_forward", args=[sweep.pk]), body)
    run = RobustnessRun.objects.get()
    assert response["Location"] == reverse("optimisation:robustness", args=[run.pk])
    assert run.status == RobustnessStatus.COMPLETE, run.error
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "basket of 2" in html and f"{run.report['ratio']:.3f}" in html
    assert f"{run.report['bars']:,} bar times on the common timeline" in html
    members = re.search(r'id="wf-members".*?</table>', html, re.S).group(0)
    assert "NASDAQ:GOOG" in members and "NASDAQ:LATE" in members
    assert "01 Jul 2008 → 31 Dec 2009" in members  # LATE's bars
    windows = re.search(r'id="wf-windows".*?</table>', html, re.S).group(0)
    assert windows.count("<tr>") == 1 + 4
    assert 'data-sat-out="out_of_sample">sat out: NASDAQ:LATE' in windows  # the first test
    chart = page.context["chart"]
    assert [p[1] for p in chart["equity"]] == run.report["equity"]["equity"]
    assert 'data-chart="wf-equity"' in html
