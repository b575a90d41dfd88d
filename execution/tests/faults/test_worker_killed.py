"""A worker SIGKILLed in the middle of a step, and the same step enqueued twice (ARCHITECTURE §5).

Both run a real ``qcluster`` (ORM broker) on the test database against paper deployments of
SMA 2/5 long-short MIS strategies on the 5 s synthetic feed, and then check the books with SQL:
every bar processed once, no duplicate order, positions and equity consistent.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_q.models import OrmQ, Schedule, Task

from execution.models import DeploymentState, LivePhase
from execution.tests.faults.cluster import (
    Q_RETRY,
    check_books,
    enqueue,
    orm_broker_only,
    parked_deployment_ids,
    pid_alive,
    postgres_only,
    snapshot_ts,
    strategy_orders,
    wait_for,
)
from execution.tests.faults.conftest import DISPATCH_SCHEDULE, FAULT_APPS
from strategies import services
from strategies.models import DeploymentStatus

pytestmark = [
    postgres_only,
    orm_broker_only,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, available_apps=FAULT_APPS),
    pytest.mark.timeout(180),
]

BAR = 5  # seconds: the "5s" timeframe


def _in_flight_step_tasks() -> set[str]:
    """Ids of the ``run_steps`` tasks a worker holds (dequeued, lock not yet expired)."""
    now = timezone.now()
    return {
        q.task_id()
        for q in OrmQ.objects.filter(lock__gt=now)
        if q.func() == "execution.tasks.run_steps"
    }


@pytest.mark.parametrize("basket", [0, 3], ids=["single", "basket-of-3"])
def test_worker_killed_mid_step_loses_and_duplicates_nothing(
    paper_deployments, qcluster, ticker, basket
):
    papers = paper_deployments(4, basket=basket)
    ids = [p.deployment.pk for p in papers]
    cluster = qcluster()
    ticker()

    # Park the next step that writes orders just before its commit, then SIGKILL its worker.
    cluster.hold_steps()
    pid = wait_for(
        cluster.parked_pid, timeout=60, what="a step at the pause point", cluster=cluster
    )
    parked = wait_for(parked_deployment_ids, timeout=5, what="the parked step's deployments")
    cursors_at_kill = dict(  # the committed cursors: the parked step's writes are invisible
        DeploymentState.objects.filter(pk__in=parked).values_list("pk", "cursor_ts")
    )
    held = _in_flight_step_tasks()
    assert held, "the parked step's task should be held by the broker"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), timeout=10, what=f"worker {pid} to die")
    wait_for(
        lambda: "reincarnated worker" in cluster.log(),
        timeout=10,
        what="the sentinel to respawn the killed worker",
        cluster=cluster,
    )
    cluster.release_steps()

    # The broker hands the killed task out again after ``retry``; it completes this time.
    wait_for(
        lambda: Task.objects.filter(id__in=held, success=True).count() == len(held),
        timeout=Q_RETRY + 30,
        what="the killed worker's step task to be redelivered and succeed",
        cluster=cluster,
    )
    wait_for(
        lambda: all(
            DeploymentState.objects.get(pk=d).cursor_ts > c for d, c in cursors_at_kill.items()
        ),
        timeout=30,
        what="the parked deployments to move past the killed step",
        cluster=cluster,
    )

    # Stop one deployment mid-run: it must not trade any more.
    stopped = papers[-1]
    services.strategy_stop(strategy=stopped.strategy)
    orders_at_stop = strategy_orders(stopped.deployment.pk)
    cursor_at_stop = DeploymentState.objects.get(pk=stopped.deployment.pk).cursor_ts
    stopped_at = int(time.time())
    running = ids[:-1]
    wait_for(
        lambda: all(snapshot_ts(d)[-1:] > [stopped_at + BAR] for d in running),
        timeout=40,
        what="two more bars on the running deployments",
        cluster=cluster,
    )
    cluster.stop()

    bars = check_books(ids, first_bar={p.deployment.pk: p.first_bar for p in papers})
    assert strategy_orders(stopped.deployment.pk) == orders_at_stop
    live = DeploymentState.objects.get(pk=stopped.deployment.pk)
    assert live.phase == LivePhase.DONE
    assert live.cursor_ts == cursor_at_stop
    assert all(bars[d] >= 3 for d in running), bars
    for p in papers[:-1]:
        p.deployment.refresh_from_db()
        assert p.deployment.status == DeploymentStatus.RUNNING, p.deployment.stop_reason


def _next_bar_close(now: float) -> float:
    return (int(now) // BAR + 1) * BAR


def test_the_same_step_enqueued_twice_has_one_set_of_effects(paper_deployments, qcluster):
    # No dispatcher: only the copies enqueued below may step these deployments.
    Schedule.objects.filter(name=DISPATCH_SCHEDULE).update(
        next_run=timezone.now() + timedelta(hours=1)
    )
    papers = paper_deployments(4)
    ids = [p.deployment.pk for p in papers]
    cluster = qcluster()

    rounds = []
    for _ in range(3):
        # Just after a bar closes, so every copy of the round sees the same closed bars.
        time.sleep(max(0.0, _next_bar_close(time.time()) + 0.3 - time.time()))
        with transaction.atomic():  # both copies reach the queue in one commit
            pair = [enqueue("execution.tasks.run_steps", ids) for _ in range(2)]
        racing = _wait_finished(pair, cluster)
        late = _wait_finished([enqueue("execution.tasks.run_steps", ids)], cluster)
        rounds.append((racing, late[0]))

    check_books(ids, first_bar={p.deployment.pk: p.first_bar for p in papers})
    n = len(ids)
    for racing, late in rounds:
        results = [t.result for t in racing] + [late.result]
        assert all(sum(r.values()) == n for r in results), results
        if _same_bar(min(t.started for t in racing), late.stopped):
            # Nothing closed in between: the racing copies stepped each deployment once (the
            # other found the rows locked and skipped them); the late copy found nothing new.
            assert sum(t.result.get("stepped", 0) for t in racing) == n, results
            assert late.result == {"idle": n}, results
        else:  # a bar closed meanwhile (a slow machine): a later copy steps that bar, once
            assert n <= sum(r.get("stepped", 0) for r in results) <= 3 * n, results
    # Every deployment stands at the bar that closed before the last round.
    last_closed_open = (int(min(t.started for t in rounds[-1][0]).timestamp()) // BAR - 1) * BAR
    for p in papers:
        assert snapshot_ts(p.deployment.pk)[-1] >= last_closed_open


def _wait_finished(task_ids: list[str], cluster) -> list[Task]:
    def finished() -> list[Task] | None:
        done = list(Task.objects.filter(id__in=task_ids, success=True))
        return done if len(done) == len(task_ids) else None

    return wait_for(finished, timeout=30, what=f"step tasks {task_ids}", cluster=cluster)


def _same_bar(a, b) -> bool:
    """Whether no bar closed between times ``a`` and ``b``."""
    return int(a.timestamp()) // BAR == int(b.timestamp()) // BAR
