"""django-q2 tasks: reconcile every linked broker account (the schedule's entry point)."""

from __future__ import annotations

from django.utils import timezone
from django_q.tasks import async_task

from brokers.models import BrokerAccount
from brokers.reconcile import reconcile_account


def dispatch_reconciliation() -> int:
    """Queue one reconciliation per linked account (the every-minute schedule, and startup)."""
    now = timezone.now()
    ids = [
        a.pk
        for a in BrokerAccount.objects.filter(status=BrokerAccount.Status.LINKED)
        if a.current_status(now) == BrokerAccount.Status.LINKED
    ]
    for pk in ids:
        async_task("brokers.tasks.reconcile", pk, task_name=f"reconcile-{pk}")
    return len(ids)


def reconcile(account_id: int) -> dict[str, object]:
    """Reconcile one account; an unlinked (deleted) account is nothing to do."""
    account = BrokerAccount.objects.filter(pk=account_id).first()
    if account is None:
        return {"skipped": "no such account"}
    out = reconcile_account(account=account)
    return {"fixed": out.fixed, "alerts": len(out.open_alerts), "skipped": out.skipped}
