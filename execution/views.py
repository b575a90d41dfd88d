"""Dashboard pages for trading: the overview."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from strategies import catalog, selectors
from strategies.models import Deployment, DeploymentStatus, StrategyStatus

RUNNING_SHOWN = 25


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    """Strategy counts by status, what is running, and anything in ERROR with its reason."""
    strategies = selectors.strategies_for_user(user=request.user)
    rows = strategies.order_by().values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows}
    counts = [
        {"status": value, "label": label, "count": by_status.get(value, 0)}
        for value, label in StrategyStatus.choices
    ]
    live_runs = Prefetch(
        "deployments",
        queryset=Deployment.objects.filter(status=DeploymentStatus.RUNNING),
        to_attr="live_runs",
    )
    running = list(
        strategies.filter(status=StrategyStatus.RUNNING)
        .prefetch_related(live_runs)
        .order_by("name")[:RUNNING_SHOWN]
    )
    errored = list(strategies.filter(status=StrategyStatus.ERROR).order_by("-updated_at"))
    names = {t.key: t.name for t in catalog.all_types()}
    for strategy in (*running, *errored):
        strategy.type_name = names.get(strategy.strategy_type, strategy.strategy_type)
    return render(
        request,
        "execution/overview.html",
        {
            "counts": counts,
            "total": sum(by_status.values()),
            "running": running,
            "running_count": by_status.get(StrategyStatus.RUNNING, 0),
            "errored": errored,
        },
    )
