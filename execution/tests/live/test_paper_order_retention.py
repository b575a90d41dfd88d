"""Pruning the paper broker's order records: only those no run will read again, and only old.

Each deployment here is deployed, given resting limit orders and (most) stopped through the
real services, so its records are the ones the paper broker wrote; the age of a stop is set by
moving ``stopped_at`` back.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from django_q.models import Schedule

from execution import tasks
from execution.models import DeploymentState, LivePhase, Order, PaperOrderRecord, TradingMode
from execution.services.live import order_place
from execution.services.retention import paper_orders_prune
from execution.tests.live.conftest import deploy, live_of, make_strategy
from strategies import services
from strategies.models import Deployment

pytestmark = pytest.mark.django_db


def _run(user, name: str, *, orders: int = 2, stopped_days_ago: float | None = None):
    """A deployment with ``orders`` resting limit orders, stopped so long ago (None: running)."""
    strategy = make_strategy(user, name=name)
    deployment = deploy(strategy)
    for _ in range(orders):
        order_place(
            deployment=deployment, side="BUY", order_type="LIMIT", quantity=1, price=Decimal("1")
        )
    if stopped_days_ago is not None:
        services.strategy_stop(strategy=strategy, actor=user)
        stopped = timezone.now() - timedelta(days=stopped_days_ago)
        Deployment.objects.filter(pk=deployment.pk).update(stopped_at=stopped)
    return deployment


def _records(deployment) -> int:
    return PaperOrderRecord.objects.filter(live__deployment=deployment).count()


def test_prunes_only_long_stopped_paper_runs_records(user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "PAPER_ORDER_RETENTION_DAYS": 30}
    old = _run(user, "old", stopped_days_ago=31)
    recent = _run(user, "recent", stopped_days_ago=29)
    running = _run(user, "running")
    squaring = _run(user, "squaring", stopped_days_ago=40)
    live_mode = _run(user, "on a broker account", stopped_days_ago=40)
    still_working = _run(user, "cancel lost", stopped_days_ago=40)
    # a square-off still working after the stop: its steps still load the book
    DeploymentState.objects.filter(deployment=squaring).update(phase=LivePhase.SQUARING_OFF)
    # a run on a real broker account: reconciliation and postbacks may still follow its orders
    DeploymentState.objects.filter(deployment=live_mode).update(mode=TradingMode.LIVE)
    # a record the stop could not close (still working): a step or a cancel would load it
    kept = PaperOrderRecord.objects.filter(live__deployment=still_working).first()
    PaperOrderRecord.objects.filter(pk=kept.pk).update(working=True)
    # the stop cancelled the resting orders: their records are final, not working
    assert _records(old) == 2
    assert not PaperOrderRecord.objects.filter(live__deployment=old, working=True).exists()
    assert PaperOrderRecord.objects.filter(live__deployment=running, working=True).count() == 2
    orders_before = Order.objects.count()

    assert tasks.prune_paper_orders() == 2 + 1

    assert _records(old) == 0
    assert _records(recent) == 2
    assert _records(running) == 2
    assert _records(squaring) == 2
    assert _records(live_mode) == 2
    assert list(
        PaperOrderRecord.objects.filter(live__deployment=still_working).values_list("pk", flat=True)
    ) == [kept.pk]
    # the books the pages and the API show are kept
    assert Order.objects.count() == orders_before
    assert Order.objects.filter(deployment=old).count() == 2
    # a second run finds nothing more to do
    assert paper_orders_prune() == 0


def test_the_retention_follows_the_setting_and_batches(user, settings):
    old = _run(user, "old", orders=3, stopped_days_ago=8)
    settings.ALGOSAAS = {**settings.ALGOSAAS, "PAPER_ORDER_RETENTION_DAYS": 10}
    assert paper_orders_prune() == 0
    settings.ALGOSAAS = {**settings.ALGOSAAS, "PAPER_ORDER_RETENTION_DAYS": 7}
    assert paper_orders_prune(batch=2) == 3  # two batches
    assert _records(old) == 0


def test_a_failed_runs_records_are_pruned_too(user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "PAPER_ORDER_RETENTION_DAYS": 30}
    deployment = _run(user, "failed")
    services.strategy_fail(strategy_id=deployment.strategy_id, reason="broker down")
    Deployment.objects.filter(pk=deployment.pk).update(
        stopped_at=timezone.now() - timedelta(days=31)
    )
    assert live_of(deployment).phase == LivePhase.DONE
    assert paper_orders_prune() == 2


def test_the_daily_schedule_exists():
    schedule = Schedule.objects.get(name="prune-paper-orders")
    assert (schedule.func, schedule.schedule_type, schedule.repeats) == (
        "execution.tasks.prune_paper_orders",
        Schedule.DAILY,
        -1,
    )
