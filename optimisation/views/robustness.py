"""Robustness of a sweep's winner: ask a walk-forward or a Monte Carlo, and read the reports.

A walk-forward runs as a job: its page polls itself while queued or running and offers Cancel.
A Monte Carlo of a backtest of the winner is computed in the request and shown at once.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from algosaas.errors import DomainError
from execution.selectors import backtest_get_for_user
from optimisation.forms import MC_METHOD_LABELS, MonteCarloForm, WalkForwardForm
from optimisation.models import RobustnessKind, RobustnessRun, RobustnessStatus, Sweep
from optimisation.results import sweep_walk_forward
from optimisation.robustness import ACTIVE, monte_carlo_request, walk_forward_cancel
from optimisation.views.common import (
    cancel_and_redirect,
    progress_context,
    refusal_status,
    robustness_view,
    sweep_view,
)
from optimisation.views.sweeps import sweep_page_context
from optimisation.walkforward_steps import walk_forward_progress

PERCENTILE_LABELS = (
    ("p5", "5th"),
    ("p25", "25th"),
    ("p50", "Median"),
    ("p75", "75th"),
    ("p95", "95th"),
)


def _refused_page(request: HttpRequest, sweep: Sweep, status: int, **forms: Any) -> HttpResponse:
    """The sweep page again, the refused robustness form showing why."""
    context = sweep_page_context(request, sweep, **forms)
    return render(request, "optimisation/sweep_detail.html", context, status=status)


@sweep_view("POST")
def sweep_walk_forward_view(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    """Walk the sweep's search forward (the walk-forward service checks the windows)."""
    form = WalkForwardForm(request.POST)
    if not form.is_valid():
        return _refused_page(request, sweep, refusal_status(request, form), wf_form=form)
    try:
        run = sweep_walk_forward(sweep=sweep, user=request.user, **form.cleaned_data)
    except DomainError as e:
        return _refused_page(request, sweep, refusal_status(request, form, e), wf_form=form)
    messages.success(request, f"Walk-forward #{run.pk} of sweep #{sweep.pk} started.")
    return redirect("optimisation:robustness", pk=run.pk)


@sweep_view("POST")
def sweep_monte_carlo_view(request: HttpRequest, sweep: Sweep) -> HttpResponse:
    """A Monte Carlo of one of the user's backtests of the sweep's winner."""
    form = MonteCarloForm(request.POST)
    if not form.is_valid():
        return _refused_page(request, sweep, refusal_status(request, form), mc_form=form)
    data = dict(form.cleaned_data)
    backtest = backtest_get_for_user(user=request.user, backtest_id=data.pop("backtest"))
    try:
        run = monte_carlo_request(backtest=backtest, user=request.user, **data)
    except DomainError as e:
        return _refused_page(request, sweep, refusal_status(request, form, e), mc_form=form)
    return redirect("optimisation:robustness", pk=run.pk)


def _histogram_rows(hist: dict[str, list] | None) -> list[dict[str, Any]]:
    """Bins as rows (from, to, count, share of the tallest bin for the bar's width)."""
    if not hist:
        return []
    counts, edges = hist["counts"], hist["edges"]
    tallest = max(counts) if counts else 0
    return [
        {
            "low": edges[i],
            "high": edges[i + 1],
            "count": c,
            "width": round(100.0 * c / tallest, 1) if tallest else 0,
        }
        for i, c in enumerate(counts)
    ]


def _dates(bounds: dict[str, Any]) -> str:
    return " → ".join(
        datetime.fromtimestamp(bounds[k], UTC).strftime("%d %b %Y") for k in ("first_ts", "last_ts")
    )


def _report_context(run: RobustnessRun) -> dict[str, Any]:
    report = run.report or {}
    context: dict[str, Any] = {"report": report}
    if run.kind == RobustnessKind.MONTE_CARLO:
        context.update(
            method_label=MC_METHOD_LABELS.get(report.get("method"), report.get("method")),
            percentiles=[
                {
                    "label": label,
                    "equity": (report.get("final_equity") or {}).get(key),
                    "drawdown": (report.get("max_drawdown_pct") or {}).get(key),
                }
                for key, label in PERCENTILE_LABELS
            ],
            equity_bins=_histogram_rows(report.get("final_equity_histogram")),
            drawdown_bins=_histogram_rows(report.get("max_drawdown_histogram")),
        )
    elif report:
        for w in report.get("windows", []):
            for span in ("in_sample", "out_of_sample"):
                bounds = w.get(span) or {}
                if "first_ts" in bounds:
                    w[f"{span}_dates"] = _dates(bounds)
        # a basket's: each member's bars over the range (the windows are cut on their union)
        context["members"] = [{**m, "dates": _dates(m)} for m in report.get("members") or []]
        curve = report.get("equity") or {}
        context["chart"] = {
            "equity": [
                [int(t), float(e)]
                for t, e in zip(curve.get("ts", []), curve.get("equity", []), strict=False)
            ],
            "capital": float(run.request.get("capital") or 0),
            "currency": run.request.get("config", {}).get("instrument", {}).get("currency")
            or "INR",
        }
    return context


def _run_context(run: RobustnessRun) -> dict[str, Any]:
    return {
        "run": run,
        **progress_context(run, active=run.status in ACTIVE),
        "is_walk_forward": run.kind == RobustnessKind.WALK_FORWARD,
        "progress": walk_forward_progress(run),
        "basket_size": len((run.request or {}).get("config", {}).get("instruments") or []),
        "req": {k: v for k, v in (run.request or {}).items() if k != "config"},
        **(_report_context(run) if run.status == RobustnessStatus.COMPLETE else {}),
    }


@robustness_view("GET")
def robustness_detail(request: HttpRequest, run: RobustnessRun) -> HttpResponse:
    return render(request, "optimisation/robustness_detail.html", _run_context(run))


@robustness_view("GET")
def robustness_body(request: HttpRequest, run: RobustnessRun) -> HttpResponse:
    """The report's body: a progress note polling itself while the walk-forward runs."""
    return render(request, "optimisation/partials/robustness_body.html", _run_context(run))


@robustness_view("POST")
def robustness_cancel(request: HttpRequest, run: RobustnessRun) -> HttpResponse:
    return cancel_and_redirect(
        request,
        lambda: walk_forward_cancel(run=run),
        done=f"Cancelled walk-forward #{run.pk}.",
        to="optimisation:robustness",
        pk=run.pk,
    )
