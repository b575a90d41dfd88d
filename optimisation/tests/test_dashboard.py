"""The optimisation pages: the space form (built from the type's ``Param`` schema, refusals next
to their fields), the sweep page (progress, heatmap, sortable results, save / backtest a
result, cancel) and the robustness pages (walk-forward and Monte Carlo of the winner).

Sweeps, walk-forwards and backtests are requested through the real services; their django-q2
tasks run synchronously when the request's transaction commits (test settings).
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

import pytest
from django.urls import reverse

from execution.models import Backtest, BacktestStatus
from optimisation.models import (
    ChunkStatus,
    RobustnessKind,
    RobustnessRun,
    RobustnessStatus,
    Sweep,
    SweepResult,
    SweepStatus,
)
from optimisation.services import sweep_request
from strategies.models import Strategy, StrategyEvent, StrategyStatus

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
RANGE = {"start": "2006-01-01", "end": "2007-12-31"}
COSTS = {"apply_charges": "", "commission_pct": "0.2", "slippage_bps": "0", "close_at_end": "close"}


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def form_data(**overrides: str) -> dict[str, str]:
    """A grid over fast 5..15 step 5 x slow [20, 30, 40] with mode fixed: 9 combinations."""
    data = {
        "p_fast": "range",
        "p_fast_start": "5",
        "p_fast_stop": "15",
        "p_fast_step": "5",
        "p_slow": "list",
        "p_slow_list": "20, 30, 40",
        "p_mode": "fixed",
        "p_mode_value": "long_short",
        "method": "grid",
        "seed": "0",
        "objective": "return",
        **RANGE,
        **COSTS,
    }
    data.update(overrides)
    return data


@pytest.fixture
def finished_sweep(owner_client, goog_strategy, django_capture_on_commit_callbacks) -> Sweep:
    """A complete grid sweep over fast x slow x mode (18 sets), requested through the page."""
    url = reverse("optimisation:sweep_new", args=[goog_strategy.pk])
    data = form_data(p_mode="list")
    data = {k: v for k, v in data.items() if k != "p_mode_value"}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, {**data, "p_mode_list": ["long_only", "long_short"]})
    assert response.status_code == 302, response.content.decode()[:2000]
    sweep = Sweep.objects.get(strategy=goog_strategy)
    assert response["Location"] == reverse("optimisation:sweep", args=[sweep.pk])
    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    return sweep


def _html(response) -> str:
    return response.content.decode()


# --- the form --------------------------------------------------------------------------------


def test_strategy_page_links_to_the_optimise_page(owner_client, goog_strategy):
    page = _html(owner_client.get(reverse("strategies:detail", args=[goog_strategy.pk])))
    assert f'href="{reverse("optimisation:sweep_new", args=[goog_strategy.pk])}"' in page


def test_the_space_form_is_built_from_the_types_params(owner_client, goog_strategy):
    response = owner_client.get(reverse("optimisation:sweep_new", args=[goog_strategy.pk]))
    assert response.status_code == 200
    form = response.context["form"]
    # int parameters: fixed, list or range; a choice parameter: fixed or list
    assert [c for c, _ in form.fields["p_fast"].choices] == ["fixed", "list", "range"]
    assert [c for c, _ in form.fields["p_mode"].choices] == ["fixed", "list"]
    assert {"p_fast_start", "p_fast_stop", "p_fast_step", "p_slow_list"} <= set(form.fields)
    assert "p_mode_start" not in form.fields
    # the fixed value starts at the strategy's own
    assert form["p_fast_value"].value() == 10 and form["p_mode_value"].value() == "long_short"


def test_a_valid_grid_starts_and_runs_the_sweep(
    owner_client, goog_strategy, django_capture_on_commit_callbacks
):
    url = reverse("optimisation:sweep_new", args=[goog_strategy.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, form_data())
    sweep = Sweep.objects.get(strategy=goog_strategy)
    assert response.status_code == 302
    assert sweep.space == {
        "fast": {"start": 5, "stop": 15, "step": 5},
        "slow": [20, 30, 40],
        "mode": ["long_short"],
    }
    assert (sweep.total, sweep.skipped, sweep.status) == (9, 0, SweepStatus.COMPLETE)
    assert str(sweep.start) == "2006-01-01" and sweep.commission_pct == Decimal("0.2")
    assert sweep.charges == "none"
    # the list of the strategy's sweeps on the form page
    page = _html(owner_client.get(url))
    assert f'href="{reverse("optimisation:sweep", args=[sweep.pk])}"' in page


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"p_fast_step": "0"}, "p_fast", "The range's step must be greater than 0."),
        ({"p_fast_stop": "2"}, "p_fast", "The range is empty"),
        ({"p_slow_list": "20, abc"}, "p_slow_list", "“abc” is not a number."),
        ({"p_slow_list": "20, nan"}, "p_slow_list", "“nan” is not a finite number."),
        ({"p_slow_list": "20, 25.5"}, "p_slow", "Must be an integer."),
        ({"p_slow_list": ""}, "p_slow", "The list of values is empty."),
        ({"p_fast_start": "0"}, "p_fast", "Must be at least 1."),
        ({"method": "random"}, "samples", "Required by the random method."),
        ({"objective": "return_max_dd"}, "max_drawdown_pct", "Required by the return_max_dd"),
        ({"start": "2007-01-01", "end": "2006-01-01"}, "end", ""),
    ],
)
def test_bad_input_is_refused_next_to_its_field(
    owner_client, goog_strategy, overrides, field, message
):
    url = reverse("optimisation:sweep_new", args=[goog_strategy.pk])
    response = owner_client.post(url, form_data(**overrides))
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, errors
    assert message in " ".join(errors[field])
    assert not Sweep.objects.exists()


def test_more_combinations_than_the_limit_names_the_limit(owner_client, goog_strategy, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_SWEEP_COMBINATIONS": 5}
    url = reverse("optimisation:sweep_new", args=[goog_strategy.pk])
    response = owner_client.post(url, form_data())
    assert response.status_code == 400
    assert "MAX_SWEEP_COMBINATIONS" in _html(response)
    assert not Sweep.objects.exists()


def _section(page: str, heading: str) -> str:
    """The HTML of the form section whose ``<h2>`` is ``heading``."""
    start = page.index(f"<h2>{heading}</h2>")
    return page[start : page.index("</section>", start)]


def test_the_sweep_and_backtest_forms_share_their_range_and_costs_fields(
    owner_client, goog_strategy
):
    """One partial draws both forms' range and costs, so a cost field (or a default) added to the
    backtest form reaches the sweep form too: their fields render the same, and the backtest
    form alone adds its notes and the live charges estimate."""
    sweep = owner_client.get(reverse("optimisation:sweep_new", args=[goog_strategy.pk]))
    backtest = owner_client.get(reverse("backtest_new", args=[goog_strategy.pk]))
    for response in (sweep, backtest):
        assert "execution/partials/range_costs.html" in [t.name for t in response.templates]
    field = re.compile(r"<(?:input|select)[^>]*>")
    for heading in ("Range", "Capital &amp; costs"):
        mine, theirs = _section(_html(sweep), heading), _section(_html(backtest), heading)
        assert field.findall(mine) == field.findall(theirs)
    costs = field.findall(_section(_html(sweep), "Capital &amp; costs"))
    names = [re.search(r'name="(\w+)"', f).group(1) for f in costs]
    assert names == ["capital", "slippage_bps", "apply_charges", "commission_pct", "close_at_end"]
    assert 'id="charges-estimate"' in _html(backtest)
    assert 'id="charges-estimate"' not in _html(sweep)


# --- the sweep page --------------------------------------------------------------------------


def _result(sweep: Sweep, **params) -> SweepResult:
    return next(r for r in sweep.results.all() if all(r.params[k] == v for k, v in params.items()))


def test_the_finished_page_shows_progress_heatmap_and_results(owner_client, finished_sweep):
    response = owner_client.get(reverse("optimisation:sweep", args=[finished_sweep.pk]))
    assert response.status_code == 200
    page = _html(response)
    body = re.search(r'<div id="sweep-body"[^>]*>', page).group(0)
    assert "hx-trigger" not in body  # finished: no more polling
    assert "Sweep complete" in page
    assert re.search(r'id="sweep-done">18 / 18<', page)
    assert f"{finished_sweep.best_value:.4f}" in page
    assert response.context["results"].paginator.count == 18


def test_heatmap_values_are_the_results_of_each_pair(owner_client, finished_sweep):
    best_mode = finished_sweep.best_params["mode"]
    response = owner_client.get(reverse("optimisation:sweep", args=[finished_sweep.pk]))
    heatmap = response.context["heatmap"]
    assert (heatmap.x, heatmap.y, heatmap.fixed) == ("fast", "slow", {"mode": best_mode})
    assert heatmap.xs == [5, 10, 15] and heatmap.ys == [20, 30, 40]
    cells = [c for _, row in heatmap.rows for c in row]
    assert len(cells) == 9
    for cell in cells:
        expected = _result(finished_sweep, fast=cell.x, slow=cell.y, mode=best_mode).value
        assert cell.ran and cell.value == expected
        shown = f"{expected:.2f}" if expected is not None else "n/a"
        assert f'data-x="{cell.x}" data-y="{cell.y}"' in _html(response)
        assert shown in _html(response)
    # the best cell is the top of the colour scale
    best = max(cells, key=lambda c: -math.inf if c.value is None else c.value)
    assert best.level == 9


def test_heatmap_over_two_other_parameters(owner_client, finished_sweep):
    url = reverse("optimisation:sweep_heatmap", args=[finished_sweep.pk])
    response = owner_client.get(url, {"x": "mode", "y": "fast"}, **HTMX)
    heatmap = response.context["heatmap"]
    best_slow = finished_sweep.best_params["slow"]
    assert (heatmap.x, heatmap.y, heatmap.fixed) == ("mode", "fast", {"slow": best_slow})
    for _, row in heatmap.rows:
        for cell in row:
            assert (
                cell.value
                == _result(finished_sweep, mode=cell.x, fast=cell.y, slow=best_slow).value
            )
    page = _html(response)
    assert page.lstrip().startswith('<section class="card" id="heatmap">')
    assert '<option value="mode" selected>' in page


@pytest.mark.parametrize("key", ["value", "sharpe", "max_drawdown_pct", "trades"])
@pytest.mark.parametrize("descending", [True, False])
def test_results_sort_by_any_column(owner_client, finished_sweep, key, descending):
    url = reverse("optimisation:sweep_results", args=[finished_sweep.pk])
    response = owner_client.get(url, {"sort": f"{'-' if descending else ''}{key}"}, **HTMX)
    rows = list(response.context["results"])

    def of(r):
        return r.value if key == "value" else r.stats.get(key)

    defined = [of(r) for r in rows if of(r) is not None]
    assert defined == sorted(defined, reverse=descending)
    assert all(of(r) is None for r in rows[len(defined) :])  # undefined values last
    html = _html(response)
    assert f'aria-sort="{"descending" if descending else "ascending"}"' in html
    ids = [int(i) for i in re.findall(r'data-result="(\d+)"', html)]
    assert ids == [r.pk for r in rows]


def test_an_unknown_sort_falls_back_to_the_objective(owner_client, finished_sweep):
    url = reverse("optimisation:sweep_results", args=[finished_sweep.pk])
    rows = list(owner_client.get(url, {"sort": "pk; drop"}, **HTMX).context["results"])
    assert rows[0].value == finished_sweep.best_value


def test_save_these_parameters_updates_the_strategy_with_an_audit_row(
    owner_client, user, finished_sweep, goog_strategy
):
    result = _result(finished_sweep, fast=15, slow=40, mode="long_only")
    url = reverse("optimisation:sweep_save", args=[finished_sweep.pk])
    response = owner_client.post(url, {"result": result.pk})
    assert response.status_code == 302
    goog_strategy.refresh_from_db()
    assert goog_strategy.params == result.params
    event = StrategyEvent.objects.get(strategy=goog_strategy, trigger="params")
    assert event.actor == user and event.from_status == event.to_status == "INACTIVE"
    assert f"sweep #{finished_sweep.pk}" in event.reason and "fast=15" in event.reason


def test_save_is_refused_while_the_strategy_runs(owner_client, finished_sweep, goog_strategy):
    before = dict(goog_strategy.params)
    Strategy.objects.filter(pk=goog_strategy.pk).update(status=StrategyStatus.RUNNING)
    result = _result(finished_sweep, fast=15, slow=40, mode="long_only")
    url = reverse("optimisation:sweep_save", args=[finished_sweep.pk])
    response = owner_client.post(url, {"result": result.pk}, follow=True)
    goog_strategy.refresh_from_db()
    assert goog_strategy.params == before
    assert not StrategyEvent.objects.filter(trigger="params").exists()
    assert "Stop the strategy before changing its parameters." in _html(response)


def test_a_result_of_another_sweep_is_a_404(owner_client, finished_sweep, goog_strategy):
    other = sweep_request(strategy=goog_strategy, user=finished_sweep.owner, space={"fast": [3]})
    url = reverse("optimisation:sweep_save", args=[other.pk])
    result = finished_sweep.results.first()
    assert owner_client.post(url, {"result": result.pk}).status_code == 404
    assert owner_client.post(url, {"result": "x"}).status_code == 404


def test_backtest_this_creates_that_backtest_and_goes_to_it(
    owner_client, finished_sweep, goog_strategy, django_capture_on_commit_callbacks
):
    result = _result(finished_sweep, fast=10, slow=30, mode="long_short")
    url = reverse("optimisation:sweep_backtest", args=[finished_sweep.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, {"result": result.pk})
    bt = Backtest.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("backtest_detail", args=[bt.pk])
    assert bt.config["params"] == result.params
    assert (bt.start, bt.end, bt.capital) == (
        finished_sweep.start,
        finished_sweep.end,
        finished_sweep.capital,
    )
    assert (bt.charges, bt.commission_pct, bt.slippage_bps, bt.close_at_end) == (
        finished_sweep.charges,
        finished_sweep.commission_pct,
        finished_sweep.slippage_bps,
        finished_sweep.close_at_end,
    )
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    assert bt.stats == result.stats  # the sweep's result is that backtest, exactly
    goog_strategy.refresh_from_db()
    assert goog_strategy.params == {"fast": 10, "slow": 20, "mode": "long_short"}  # unchanged


def test_a_running_sweep_polls_and_can_be_cancelled(owner_client, user, goog_strategy):
    sweep = sweep_request(strategy=goog_strategy, user=user, space={"fast": [3, 4, 5]})
    # its chunks were never run (no commit in this test): it is queued
    page = _html(owner_client.get(reverse("optimisation:sweep", args=[sweep.pk])))
    body = re.search(r'<div id="sweep-body"[^>]*>', page).group(0)
    assert 'hx-trigger="every 1s"' in body
    assert reverse("optimisation:sweep_body", args=[sweep.pk]) in body
    assert "Cancel sweep" in page
    partial = owner_client.get(reverse("optimisation:sweep_body", args=[sweep.pk]), **HTMX)
    assert 'hx-trigger="every 1s"' in _html(partial)
    assert 'id="sweep-cancel"' in _html(partial)
    response = owner_client.post(reverse("optimisation:sweep_cancel", args=[sweep.pk]))
    assert response.status_code == 302
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.CANCELLED
    assert set(sweep.chunks.values_list("status", flat=True)) == {ChunkStatus.CANCELLED}
    partial = _html(owner_client.get(reverse("optimisation:sweep_body", args=[sweep.pk]), **HTMX))
    assert "hx-trigger" not in re.search(r'<div id="sweep-body"[^>]*>', partial).group(0)
    # the header's badge and Cancel button follow, out of band
    assert '<span id="sweep-badge" class="badge CANCELLED" hx-swap-oob="true">' in partial
    assert re.search(r'<span id="sweep-cancel-slot" hx-swap-oob="true">\s*</span>', partial)
    # once finished, cancelling again is refused (the service's answer, as a message)
    again = owner_client.post(reverse("optimisation:sweep_cancel", args=[sweep.pk]), follow=True)
    assert "only a queued or running one can be cancelled" in _html(again)


def test_another_users_sweep_pages_are_404(client, other_user, finished_sweep):
    client.force_login(other_user)
    for name in ("sweep", "sweep_body", "sweep_heatmap", "sweep_results"):
        assert (
            client.get(reverse(f"optimisation:{name}", args=[finished_sweep.pk])).status_code == 404
        )
    for name in ("sweep_cancel", "sweep_save", "sweep_backtest", "sweep_walk_forward"):
        url = reverse(f"optimisation:{name}", args=[finished_sweep.pk])
        assert client.post(url, {"result": finished_sweep.results.first().pk}).status_code == 404


# every page of a sweep or robustness run: owner only, its methods only -------------------------

SWEEP_PAGES = {
    "optimisation:sweep": "GET",
    "optimisation:sweep_body": "GET",
    "optimisation:sweep_heatmap": "GET",
    "optimisation:sweep_results": "GET",
    "optimisation:sweep_cancel": "POST",
    "optimisation:sweep_save": "POST",
    "optimisation:sweep_backtest": "POST",
    "optimisation:sweep_walk_forward": "POST",
    "optimisation:sweep_monte_carlo": "POST",
}
RUN_PAGES = {
    "optimisation:robustness": "GET",
    "optimisation:robustness_body": "GET",
    "optimisation:robustness_cancel": "POST",
}


@pytest.mark.parametrize("name", [*SWEEP_PAGES, *RUN_PAGES])
def test_each_page_answers_its_owner_only_and_its_method_only(
    client, user, other_user, goog_strategy, name
):
    """Logged out: the login page; the wrong method: 405 before any lookup; another user's
    sweep or run, or one that does not exist: 404, the same answer; the owner: served."""
    sweep = sweep_request(strategy=goog_strategy, user=user, space={"fast": [3, 4]})
    run = RobustnessRun.objects.create(
        owner=user,
        kind=RobustnessKind.WALK_FORWARD,
        strategy=goog_strategy,
        request={},
        status=RobustnessStatus.QUEUED,
    )
    pk = sweep.pk if name in SWEEP_PAGES else run.pk
    method = (SWEEP_PAGES | RUN_PAGES)[name]
    other = "get" if method == "POST" else "post"
    url = reverse(name, args=[pk])

    def call(verb: str, target: str = url):
        return getattr(client, verb.lower())(target)

    response = call(method)
    assert response.status_code == 302 and "/login/" in response["Location"]
    client.force_login(other_user)
    assert call(other).status_code == 405
    assert call(method).status_code == 404
    assert call(method, reverse(name, args=[pk + 1000])).status_code == 404
    client.force_login(user)
    assert call(other).status_code == 405
    if name not in ("optimisation:sweep_save", "optimisation:sweep_backtest"):
        # (those two then look the result up: without one they are a 404 of their own)
        assert call(method).status_code in (200, 302, 400)


# --- robustness of the winner ----------------------------------------------------------------


def test_walk_forward_of_the_sweep_and_its_report(
    owner_client, finished_sweep, django_capture_on_commit_callbacks
):
    url = reverse("optimisation:sweep_walk_forward", args=[finished_sweep.pk])
    body = {"windows": "3", "mode": "rolling", "in_sample_ratio": "2"}
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url, body)
    run = RobustnessRun.objects.get(kind=RobustnessKind.WALK_FORWARD)
    assert response["Location"] == reverse("optimisation:robustness", args=[run.pk])
    assert run.status == RobustnessStatus.COMPLETE, run.error
    assert run.request["space"] == finished_sweep.space
    assert run.request["objective"] == finished_sweep.objective
    assert run.request["windows"] == 3 and run.report["parameter_sets"] == 18
    page_response = owner_client.get(response["Location"])
    page = _html(page_response)
    assert page.count("<tr>") >= 3 + 1  # a row per window
    assert f"{run.report['ratio']:.3f}" in page
    chart = page_response.context["chart"]
    assert [p[1] for p in chart["equity"]] == run.report["equity"]["equity"]
    assert 'data-chart="wf-equity"' in page
    # listed on the sweep page
    sweep_page = _html(owner_client.get(reverse("optimisation:sweep", args=[finished_sweep.pk])))
    assert f"Walk-forward #{run.pk}" in sweep_page


def test_walk_forward_refusal_shows_next_to_the_field(owner_client, finished_sweep):
    url = reverse("optimisation:sweep_walk_forward", args=[finished_sweep.pk])
    response = owner_client.post(url, {"windows": "0", "mode": "rolling", "in_sample_ratio": "2"})
    assert response.status_code == 400
    assert "MAX_WALK_FORWARD_WINDOWS" in " ".join(response.context["wf_form"].errors["windows"])
    assert not RobustnessRun.objects.exists()


def test_monte_carlo_of_the_winners_backtest(
    owner_client, finished_sweep, django_capture_on_commit_callbacks
):
    page = owner_client.get(reverse("optimisation:sweep", args=[finished_sweep.pk]))
    assert page.context["mc_form"] is None  # no backtest of the winner yet
    best = finished_sweep.results.get(value=finished_sweep.best_value)
    with django_capture_on_commit_callbacks(execute=True):
        owner_client.post(
            reverse("optimisation:sweep_backtest", args=[finished_sweep.pk]), {"result": best.pk}
        )
    bt = Backtest.objects.get()
    page = owner_client.get(reverse("optimisation:sweep", args=[finished_sweep.pk]))
    assert page.context["mc_form"]["backtest"].value() == bt.pk
    for method in ("shuffle", "bootstrap_returns"):
        response = owner_client.post(
            reverse("optimisation:sweep_monte_carlo", args=[finished_sweep.pk]),
            {
                "backtest": bt.pk,
                "method": method,
                "paths": "200",
                "seed": "3",
                "ruin_equity_pct": "90",
            },
        )
        run = RobustnessRun.objects.filter(kind=RobustnessKind.MONTE_CARLO).latest("id")
        assert response["Location"] == reverse("optimisation:robustness", args=[run.pk])
        report_page = owner_client.get(response["Location"])
        html = _html(report_page)
        assert run.report["method"] == method
        assert f"{run.report['probability_of_ruin']:.3f}" in html
        for hist in ("mc-hist-equity", "mc-hist-drawdown"):
            table = re.search(rf'id="{hist}".*?</table>', html, re.S).group(0)
            counts = [
                int(c)
                for c in re.findall(r'<td class="num">(\d+)</td>\s*<td class="hist-cell">', table)
            ]
            assert sum(counts) == 200
        assert len(report_page.context["percentiles"]) == 5


def test_monte_carlo_of_another_users_backtest_is_404(
    owner_client, finished_sweep, other_user, goog
):
    from strategies.tests.factories import StrategyFactory

    theirs = StrategyFactory(owner=other_user, instrument=goog)
    bt = Backtest.objects.create(
        owner=other_user,
        strategy=theirs,
        config={},
        capital=Decimal("1000"),
        status=BacktestStatus.COMPLETE,
    )
    url = reverse("optimisation:sweep_monte_carlo", args=[finished_sweep.pk])
    body = {
        "backtest": bt.pk,
        "method": "shuffle",
        "paths": "10",
        "seed": "0",
        "ruin_equity_pct": "50",
    }
    assert owner_client.post(url, body).status_code == 404
    assert not RobustnessRun.objects.exists()


def test_every_strategy_type_gets_its_space_form(owner_client, user, goog):
    from strategies import catalog
    from strategies.services import strategy_create

    for stype in catalog.all_types():
        if not stype.dashboard_form:
            continue
        strategy = strategy_create(
            owner=user,
            name=f"Every type {stype.key}",
            strategy_type=stype.key,
            params={},
            instrument=goog,
            timeframe="1d",
            allocation_pct=Decimal("100"),
        )
        response = owner_client.get(reverse("optimisation:sweep_new", args=[strategy.pk]))
        assert response.status_code == 200, stype.key
        form = response.context["form"]
        for p in stype.params:
            modes = [c for c, _ in form.fields[f"p_{p.name}"].choices]
            assert modes == (
                ["fixed", "list", "range"] if p.kind in ("int", "float") else ["fixed", "list"]
            )
            assert form[f"p_{p.name}_value"].value() in (p.default, str(p.default).lower())


def test_a_float_range_sweeps_the_values_a_user_typed(
    owner_client, user, goog, django_capture_on_commit_callbacks
):
    from strategies.services import strategy_create

    strategy = strategy_create(
        owner=user,
        name="Bands",
        strategy_type="bollinger_reversion",
        params={},
        instrument=goog,
        timeframe="1d",
        allocation_pct=Decimal("100"),
    )
    data = {
        "p_period": "list",
        "p_period_list": "10 20",
        "p_width": "range",
        "p_width_start": "1.5",
        "p_width_stop": "2.1",
        "p_width_step": "0.3",
        "p_mode": "fixed",
        "p_mode_value": "long_only",
        "method": "grid",
        "seed": "0",
        "objective": "sharpe",
        **RANGE,
        **COSTS,
    }
    url = reverse("optimisation:sweep_new", args=[strategy.pk])
    with django_capture_on_commit_callbacks(execute=True):
        assert owner_client.post(url, data).status_code == 302
    sweep = Sweep.objects.get(strategy=strategy)
    assert sweep.status == SweepStatus.COMPLETE, sweep.error
    widths = sorted({r.params["width"] for r in sweep.results.all()})
    assert widths == [1.5, 1.8, 2.1] and sweep.total == 6
    heatmap = owner_client.get(reverse("optimisation:sweep", args=[sweep.pk])).context["heatmap"]
    assert (heatmap.x, heatmap.xs, heatmap.ys) == ("period", [10, 20], [1.5, 1.8, 2.1])
