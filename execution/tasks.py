"""django-q2 tasks: they take ids and call services; correctness never rests on the queue."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.db import close_old_connections
from django_q.tasks import async_task

from execution.services.backtests import backtest_execute, backtests_sweep
from execution.services.live import deployments_claim_due, deployments_step
from execution.services.retention import paper_orders_prune


def backtest_run(backtest_id: int) -> str:
    """Run one backtest (a redelivered task finds it finished and does nothing)."""
    bt = backtest_execute(backtest_id=backtest_id)
    return "skipped" if bt is None else bt.status


def sweep_backtests() -> dict[str, int]:
    """The one schedule that re-queues or fails backtests whose worker or task is gone."""
    return backtests_sweep()


def prune_paper_orders() -> int:
    """The daily schedule that drops the order records of long-stopped paper deployments."""
    return paper_orders_prune()


def run_steps(deployment_ids: list[int]) -> dict[str, int]:
    """Step a chunk of deployments (one transaction, bulk writes); failures stay isolated."""
    counts: dict[str, int] = {}
    for outcome in deployments_step(deployment_ids=deployment_ids):
        counts[outcome.status] = counts.get(outcome.status, 0) + 1
    return counts


def dispatch_once() -> int:
    """Claim every deployment with a closed bar due and enqueue steps in chunks."""
    chunk = settings.ALGOSAAS["STEP_CHUNK"]
    claimed = 0
    while True:
        ids = deployments_claim_due(limit=chunk * 10)
        for i in range(0, len(ids), chunk):
            async_task("execution.tasks.run_steps", ids[i : i + chunk], task_name="steps")
        claimed += len(ids)
        if len(ids) < chunk * 10:
            return claimed


@contextmanager
def _ends_on_interrupt() -> Iterator[threading.Event]:
    """An event set by a SIGINT while the block runs (in a process's main thread only).

    Ctrl-C on ``make run`` reaches every process of the terminal's group, the cluster's workers
    too, which django-q has ignore SIGINT while its sentinel waits for their current tasks to end.
    The dispatcher's task runs for ``DISPATCH_SECONDS`` (85 s), so that clean stop could take as
    long; with this it ends at its next pass instead. Elsewhere (a thread, the sync test mode)
    nothing is installed and the event is never set.
    """
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def dispatch_steps() -> int:
    """The one schedule of paper trading: each minute, dispatch due steps once a second.

    django-q2's scheduler fires at most once a minute, and bars close every few seconds; so this
    task keeps dispatching for ``DISPATCH_SECONDS`` and ends before the next run starts. Claims
    skip locked rows and leases expire, so an overlap or a lost task is harmless. A Ctrl-C on its
    cluster ends it at once (``_ends_on_interrupt``).
    """
    deadline = time.monotonic() + settings.ALGOSAAS["DISPATCH_SECONDS"]
    total = 0
    with _ends_on_interrupt() as stop:
        while time.monotonic() < deadline and not stop.is_set():
            close_old_connections()
            total += dispatch_once()
            time.sleep(1.0)  # a SIGINT's handler runs during it; the loop then ends
    return total
