"""The daily P&L summary sent at the NSE close (15:35 IST, a django-q2 cron schedule).

The schedule fires every weekday; the session calendar (``execution.engine.session``) decides
whether the day traded, so exchange holidays send nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone

from execution.engine.session import calendar_for
from execution.forms import IST, ist_midnight
from execution.models import EquitySnapshot
from notifications.models import EventKind, NotificationSettings, WebhookEndpoint
from notifications.services import dispatch
from strategies.models import Deployment, DeploymentStatus


def _subscribers() -> set[int]:
    kind = EventKind.DAILY_SUMMARY
    hooks = WebhookEndpoint.objects.filter(enabled=True)
    mails = NotificationSettings.objects.all()
    if connection.features.supports_json_field_contains:  # PostgreSQL: the index answers
        hooks = hooks.filter(kinds__contains=[kind])
        mails = mails.filter(email_kinds__contains=[kind])
        return set(hooks.values_list("user_id", flat=True)) | set(
            mails.values_list("user_id", flat=True)
        )
    # SQLite (make run) has no JSON containment: the same test, row by row.
    return {u for u, kinds in hooks.values_list("user_id", "kinds") if kind in kinds} | {
        u for u, kinds in mails.values_list("user_id", "email_kinds") if kind in kinds
    }


def build_summary(user_id: int, now: datetime) -> dict[str, Any] | None:
    """Equity, today's and total P&L and today's fills of each running deployment."""
    day = timezone.localtime(now, IST).date()
    midnight = ist_midnight(day)
    day_open = EquitySnapshot.objects.filter(deployment=OuterRef("pk"), ts__lt=midnight).order_by(
        "-ts"
    )
    latest = EquitySnapshot.objects.filter(deployment=OuterRef("pk")).order_by("-ts")
    running = (
        Deployment.objects.filter(strategy__owner_id=user_id, status=DeploymentStatus.RUNNING)
        .select_related("strategy")
        .annotate(
            day_open_equity=Subquery(day_open.values("equity")[:1]),
            last_equity=Subquery(latest.values("equity")[:1]),
            fills_today=Count("trades", filter=Q(trades__executed_at__gte=midnight)),
        )
        .order_by("pk")
    )
    rows = []
    for d in running:
        equity = d.last_equity if d.last_equity is not None else d.capital
        base = d.day_open_equity if d.day_open_equity is not None else d.capital
        rows.append(
            {
                "deployment_id": d.pk,
                "strategy": d.strategy.name,
                "currency": (d.config.get("instrument") or {}).get("currency") or "INR",
                "equity": str(Decimal(equity).quantize(Decimal("0.01"))),
                "today_pnl": str(Decimal(equity - base).quantize(Decimal("0.01"))),
                "total_pnl": str(Decimal(equity - d.capital).quantize(Decimal("0.01"))),
                "fills_today": d.fills_today,
            }
        )
    if not rows:
        return None
    return {"date": day.isoformat(), "deployments": rows}


def send_daily_summaries(now: datetime) -> int:
    """Send today's summary to every subscribed user with a running deployment; return the count."""
    calendar = calendar_for("NSE")
    day = timezone.localtime(now, IST).date()
    if calendar is not None and not calendar.is_trading_day(day):
        return 0
    sent = 0
    for user_id in sorted(_subscribers()):
        summary = build_summary(user_id, now)
        if summary is not None:
            dispatch(user_id, EventKind.DAILY_SUMMARY, summary)
            sent += 1
    return sent
