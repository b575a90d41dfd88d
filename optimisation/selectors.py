"""Reads of sweeps, scoped to their owner: "missing" and "not yours" are the same 404."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.http import Http404

from optimisation.models import RobustnessRun, Sweep, SweepResult


def sweeps_for_user(*, user) -> QuerySet[Sweep]:
    return Sweep.objects.filter(owner=user).defer("config")


def sweep_get_for_user(*, user, sweep_id: int | str) -> Sweep:
    """Return the user's sweep or raise 404 — the same answer for missing and not yours."""
    try:
        return Sweep.objects.get(owner=user, pk=int(sweep_id))
    except (Sweep.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such sweep.") from None


def sweep_results(*, sweep: Sweep) -> QuerySet[SweepResult]:
    """The sweep's results, best first (by the objective; undefined values last)."""
    return sweep.results.order_by(F("value").desc(nulls_last=True), "id")


def robustness_runs_for_user(*, user) -> QuerySet[RobustnessRun]:
    return RobustnessRun.objects.filter(owner=user)


def robustness_run_get_for_user(*, user, run_id: int | str) -> RobustnessRun:
    """Return the user's walk-forward or Monte Carlo, or 404 — missing and not yours alike."""
    try:
        return RobustnessRun.objects.get(owner=user, pk=int(run_id))
    except (RobustnessRun.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such report.") from None


def sweep_for_request(*, user, strategy, request_token: str) -> Sweep | None:
    """The sweep of ``strategy`` an API request with this key's token started, if any."""
    if not request_token:
        return None
    return Sweep.objects.filter(owner=user, strategy=strategy, request_token=request_token).first()


def robustness_run_for_request(
    *, user, request_token: str, **parent: object
) -> RobustnessRun | None:
    """The walk-forward (``strategy=``) or Monte Carlo (``backtest=``) an API request with this
    key's token started, if any."""
    if not request_token:
        return None
    return RobustnessRun.objects.filter(owner=user, request_token=request_token, **parent).first()
