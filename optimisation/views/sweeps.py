"""Sweep pages: the space form and list of a strategy's sweeps, and one sweep's page.

The sweep's body (progress, heatmap, top results) polls itself every second while the sweep
is queued or running and drops its ``hx-trigger`` once it ends, as a backtest's page does. The
actions on a result go through services: saving the parameters through the strategy service
(validation, refusal while running, audit row), "Backtest this" through the backtest service.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from algosaas.errors import DomainError
from execution.views.common import type_names
from optimisation import results as sweep_results
from optimisation import selectors
from optimisation.forms import MonteCarloForm, SweepForm, WalkForwardForm
from optimisation.models import ACTIVE_SWEEP_STATUSES, RobustnessKind, Sweep
from optimisation.services import sweep_cancel, sweep_progress, sweep_request, sweep_space
from optimisation.space import SpaceInvalid
from optimisation.views.common import (
    cancel_and_redirect,
    progress_context,
    refusal_status,
    sweep_view,
)
from strategies import selectors as strategy_selectors

RESULTS_PAGE_SIZE = 20
SWEEPS_SHOWN = 20
RUNS_SHOWN = 5


@login_required
@require_http_methods(["GET", "POST"])
def sweep_new(request: HttpRequest, pk: int) -> HttpResponse:
    """The space form of one strategy and its sweeps; a valid request goes to the sweep page."""
    strategy = strategy_selectors.strategy_get_for_user(user=request.user, strategy_id=pk)
    form = SweepForm(request.POST if request.method == "POST" else None, strategy=strategy)
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = refusal_status(request, form)
        else:
            try:
                sweep = sweep_request(strategy=strategy, user=request.user, **form.service_kwargs)
            except DomainError as e:
                status = refusal_status(request, form, e)
            else:
                messages.success(request, f"Sweep #{sweep.pk} of “{strategy.name}” started.")
                return redirect("optimisation:sweep", pk=sweep.pk)
    sweeps = selectors.sweeps_for_user(user=request.user).filter(strategy=strategy)
    context = {
        "strategy": strategy,
        "form": form,
        "type_name": type_names().get(strategy.strategy_type, strategy.strategy_type),
        "sweeps": sweeps[:SWEEPS_SHOWN],
        "currency": strategy.instrument.currency,
    }
    return render(request, "optimisation/sweep_form.html", context, status=status)


def _varied(sweep: Sweep) -> list[str]:
    """The parameters the sweep varies (more than one value), in the type's order."""
    try:
        space = sweep_space(sweep)
    except SpaceInvalid:
        return []
    return [d.name for d in space.dimensions if len(d.values) > 1]


def _results_context(request: HttpRequest, sweep: Sweep) -> dict[str, Any]:
    sort = request.GET.get("sort")
    key, descending = sweep_results.parse_sort(sort)
    queryset = sweep_results.sweep_results_sorted(sweep=sweep, sort=sort)
    page = Paginator(queryset, RESULTS_PAGE_SIZE).get_page(request.GET.get("page"))
    columns = [
        {
            "key": k,
            "label": label,
            "active": k == key,
            "descending": descending,
            # a click on the active column flips it; another column starts best first
            "next": (k if descending else f"-{k}") if k == key else f"-{k}",
        }
        for k, label in sweep_results.SORT_KEYS.items()
    ]
    return {
        "results": page,
        "columns": columns,
        "sort": f"{'-' if descending else ''}{key}",
        "varied": _varied(sweep),
        "rank_from": page.start_index(),
    }


def _heatmap_context(request: HttpRequest, sweep: Sweep) -> dict[str, Any]:
    heatmap = sweep_results.sweep_heatmap(
        sweep=sweep, x=request.GET.get("x"), y=request.GET.get("y")
    )
    return {"heatmap": heatmap}


def _body_context(request: HttpRequest, sweep: Sweep) -> dict[str, Any]:
    return {
        "sweep": sweep,
        "progress": sweep_progress(sweep),
        **progress_context(sweep, active=sweep.status in ACTIVE_SWEEP_STATUSES),
        **_heatmap_context(request, sweep),
        **_results_context(request, sweep),
    }


def sweep_page_context(
    request: HttpRequest,
    sweep: Sweep,
    *,
    wf_form: WalkForwardForm | None = None,
    mc_form: MonteCarloForm | None = None,
) -> dict[str, Any]:
    """The whole sweep page: its body, and the robustness of its winner."""
    winners = list(sweep_results.winner_backtests(sweep=sweep)[:RUNS_SHOWN])
    runs = selectors.robustness_runs_for_user(user=request.user).filter(
        strategy_id=sweep.strategy_id
    )
    walk_forwards = list(runs.filter(kind=RobustnessKind.WALK_FORWARD)[:RUNS_SHOWN])
    monte_carlos = list(
        runs.filter(kind=RobustnessKind.MONTE_CARLO, backtest__in=[b.pk for b in winners])[
            :RUNS_SHOWN
        ]
    )
    if mc_form is None and winners:
        mc_form = MonteCarloForm(initial={"backtest": winners[0].pk})
    return {
        **_body_context(request, sweep),
        "type_name": type_names().get(sweep.config.get("strategy_type"), ""),
        "winners": winners,
        "walk_forwards": walk_forwards,
        "monte_carlos": monte_carlos,
        "wf_form": wf_form or WalkForwardForm(),
        "mc_form": mc_form,
    }


@sweep_view("GET")
def sweep_detail(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    return render(request, "optimisation/sweep_detail.html", sweep_page_context(request, sweep))


@sweep_view("GET")
def sweep_body(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    """The sweep's body: progress (polling itself while active), heatmap and top results."""
    context = _body_context(request, sweep)
    context["oob"] = True
    return render(request, "optimisation/partials/sweep_body.html", context)


@sweep_view("GET")
def sweep_heatmap_part(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    """The heatmap over the two parameters the selects name (``?x=&y=``)."""
    context = {"sweep": sweep, **_heatmap_context(request, sweep)}
    return render(request, "optimisation/partials/heatmap.html", context)


@sweep_view("GET")
def sweep_results_part(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    """The top-results table, sorted by ``?sort=`` (a key of ``SORT_KEYS``, ``-`` for best
    first)."""
    context = {"sweep": sweep, "strategy": sweep.strategy, **_results_context(request, sweep)}
    return render(request, "optimisation/partials/results.html", context)


@sweep_view("POST")
def sweep_cancel_view(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    return cancel_and_redirect(
        request,
        lambda: sweep_cancel(sweep=sweep),
        done=f"Cancelled sweep #{sweep.pk}; its remaining chunks won't run.",
        to="optimisation:sweep",
        pk=sweep.pk,
    )


@sweep_view("POST")
def sweep_save_params(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    """Make one result's parameters the strategy's (the strategy service decides)."""
    result = sweep_results.sweep_result_get(sweep=sweep, result_id=request.POST.get("result"))
    try:
        strategy = sweep_results.sweep_params_save(sweep=sweep, result=result, actor=request.user)
    except DomainError as e:
        messages.error(request, f"Not saved: {e.message}")
    else:
        messages.success(request, f"Saved these parameters to “{strategy.name}”.")
    return redirect("optimisation:sweep", pk=sweep.pk)


@sweep_view("POST")
def sweep_backtest(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    """Backtest one result's parameters over the sweep's range and costs; go to its page."""
    result = sweep_results.sweep_result_get(sweep=sweep, result_id=request.POST.get("result"))
    try:
        bt = sweep_results.sweep_result_backtest(sweep=sweep, result=result, user=request.user)
    except DomainError as e:
        messages.error(request, f"Not started: {e.message}")
        return redirect("optimisation:sweep", pk=sweep.pk)
    messages.success(request, f"Backtest #{bt.pk} of these parameters started.")
    return redirect("backtest_detail", pk=bt.pk)
