"""The overview page: equity and today's P&L of what runs, strategy counts, recent orders."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from execution import selectors
from execution.engine.orders import WORKING_STATUSES
from execution.forms import IST, ist_midnight
from execution.models import EquitySnapshot
from execution.views.common import type_names
from strategies import selectors as strategy_selectors
from strategies.models import DeploymentStatus, StrategyStatus

RUNNING_SHOWN = 25


def _currency(deployment) -> str:
    return (deployment.config.get("instrument") or {}).get("currency") or "INR"


def totals_by_currency(running) -> list[dict]:
    """Equity, P&L and capital of the running deployments, one row per currency.

    Rupees and dollars are never added together: a user running NSE and NASDAQ strategies sees
    one line per currency, the account's rupees first.
    """
    rows: dict[str, dict] = {}
    for d in running:
        cur = _currency(d)
        row = rows.setdefault(
            cur,
            {
                "currency": cur,
                "equity": Decimal("0"),
                "today_pnl": Decimal("0"),
                "total_pnl": Decimal("0"),
                "capital": Decimal("0"),
            },
        )
        row["equity"] += d.pnl["equity"]
        row["today_pnl"] += d.today_pnl
        row["total_pnl"] += d.total_pnl
        row["capital"] += d.capital
    return sorted(rows.values(), key=lambda r: (r["currency"] != "INR", r["currency"]))


RECENT_ORDERS = 8


def _with_today(deployments, *, midnight: datetime):
    """Annotate each deployment with its equity at the last point before ``midnight``."""
    day_open = EquitySnapshot.objects.filter(deployment=OuterRef("pk"), ts__lt=midnight).order_by(
        "-ts"
    )
    return deployments.annotate(day_open_equity=Subquery(day_open.values("equity")[:1]))


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    """Equity and today's P&L of what runs, strategy counts, recent orders and any ERROR."""
    user = request.user
    strategies = strategy_selectors.strategies_for_user(user=user)
    rows = strategies.order_by().values("status").annotate(n=Count("id"))
    by_status = {row["status"]: row["n"] for row in rows}
    counts = [
        {"status": value, "label": label, "count": by_status.get(value, 0)}
        for value, label in StrategyStatus.choices
    ]
    midnight = ist_midnight(timezone.localtime(timezone.now(), IST).date())
    running = list(
        _with_today(
            selectors.deployments_for_user(user=user).filter(status=DeploymentStatus.RUNNING),
            midnight=midnight,
        ).order_by("-started_at", "-id")
    )
    names = type_names()
    total_equity = today_pnl = total_pnl = Decimal("0")
    for d in running:
        d.pnl = selectors.deployment_pnl(d)
        base = d.day_open_equity if d.day_open_equity is not None else d.capital
        d.today_pnl = d.pnl["equity"] - base
        d.total_pnl = d.pnl["equity"] - d.capital
        d.type_name = names.get(d.strategy.strategy_type, d.strategy.strategy_type)
        d.currency = _currency(d)
        total_equity += d.pnl["equity"]
        today_pnl += d.today_pnl
        total_pnl += d.total_pnl
    errored = list(strategies.filter(status=StrategyStatus.ERROR).order_by("-updated_at"))
    for strategy in errored:
        strategy.type_name = names.get(strategy.strategy_type, strategy.strategy_type)
    orders = selectors.orders_for_user(user=user).select_related("deployment__strategy")
    return render(
        request,
        "execution/overview.html",
        {
            "counts": counts,
            "total": sum(by_status.values()),
            "running": running[:RUNNING_SHOWN],
            "running_count": len(running),
            "total_equity": total_equity,
            "today_pnl": today_pnl,
            "total_pnl": total_pnl,
            "totals": totals_by_currency(running),
            "capital_running": sum((d.capital for d in running), Decimal("0")),
            "midnight": midnight,
            "open_orders": orders.filter(status__in=WORKING_STATUSES).count(),
            "recent_orders": list(orders[:RECENT_ORDERS]),
            "errored": errored,
        },
    )
