"""Retention: drop the paper broker's order records that no run will read again.

A deployment's ``PaperOrderRecord`` rows are its paper broker's order book, loaded by its steps
(the working orders) and by manual orders, cancels and modifications (the orders they name).
Once the deployment has stopped (or failed) and its live state is ``DONE`` (no square-off still
working), nothing loads them: a redeploy starts fresh books, and the orders, events, trades and
positions the pages and the API show live in their own tables, which are kept. The records of
such a deployment stopped longer ago than ``ALGOSAAS["PAPER_ORDER_RETENTION_DAYS"]`` are pruned
by the ``prune-paper-orders`` schedule; never a running deployment's, never a working order's,
never those of a run on a real broker account (its broker may still report on its orders, and
reconciliation and the postback replay follow them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from execution.models import LivePhase, PaperOrderRecord, TradingMode
from strategies.models import DeploymentStatus

log = structlog.get_logger(__name__)

# Rows deleted per statement: each delete is its own short transaction, so pruning a large
# backlog never holds locks on the table for long.
PRUNE_BATCH = 5_000


def paper_orders_prunable(*, now: datetime | None = None) -> QuerySet[PaperOrderRecord]:
    """The order records no run will read again and old enough to drop (see the module)."""
    days = settings.ALGOSAAS["PAPER_ORDER_RETENTION_DAYS"]
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return PaperOrderRecord.objects.filter(
        working=False,
        live__phase=LivePhase.DONE,
        live__mode=TradingMode.PAPER,
        live__deployment__status__in=[DeploymentStatus.STOPPED, DeploymentStatus.ERROR],
        live__deployment__stopped_at__lt=cutoff,
    )


def paper_orders_prune(*, now: datetime | None = None, batch: int = PRUNE_BATCH) -> int:
    """Delete the prunable paper order records in batches; return how many were deleted."""
    deleted = 0
    while True:
        ids = list(paper_orders_prunable(now=now).values_list("pk", flat=True)[:batch])
        if not ids:
            break
        deleted += PaperOrderRecord.objects.filter(pk__in=ids).delete()[0]
        if len(ids) < batch:
            break
    if deleted:
        log.info("paper_orders_pruned", deleted=deleted)
    return deleted
