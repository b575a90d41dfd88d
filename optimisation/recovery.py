"""Queue again the sweep chunks and walk-forward steps whose task was lost.

django-q2's ORM broker hands a task out again after ``Q_RETRY`` when its worker dies; the Redis
broker (production) keeps no receipt, so a killed worker's task, or a dead cluster's prefetched
ones, are gone and their sweep or walk-forward would stay RUNNING for ever. Every pending step
records when its task was last queued or taken (``leased_at``; a walk-forward's next window
test: ``RobustnessRun.window_queued_at``). No live task keeps a step longer than ``Q_TIMEOUT``
(django-q2 stops it), so one queued or taken longer ago than that plus
``STEP_STALE_MARGIN_SECONDS`` is queued again by the ``recover-optimisation-steps`` schedule, as
``backtests_sweep`` does for backtests. A duplicate is harmless: a chunk is recorded once under
its row lock (``_record``, ``_chunk_record``), a window once per (run, index), results once per
(sweep, parameters), so a second task finds its step done and skips. Only active sweeps and runs
are looked at; an optuna sweep's later chunks have no lease until the previous one queues them.
A stale chunk started ``STEP_MAX_ATTEMPTS`` times already (it kills its worker, or outruns
``Q_TIMEOUT``, every time) fails its run with the reason instead of looping for ever.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from optimisation import walkforward_steps
from optimisation.models import (
    ACTIVE_SWEEP_STATUSES,
    ChunkStatus,
    RobustnessKind,
    RobustnessRun,
    RobustnessStatus,
    Sweep,
    SweepChunk,
    WalkForwardChunk,
)
from optimisation.robustness import ACTIVE
from optimisation.services import _close_pending, _transition, sweep_chunk_enqueue

logger = structlog.get_logger(__name__)


def stale_before() -> datetime:
    """A step queued or taken before this has no live task (``Q_TIMEOUT`` plus a margin)."""
    seconds = settings.Q_CLUSTER["timeout"] + settings.ALGOSAAS["STEP_STALE_MARGIN_SECONDS"]
    return timezone.now() - timedelta(seconds=seconds)


def _dead_reason(seq: int, attempts: int) -> str:
    return (
        f"Chunk {seq} was started {attempts} times and never finished: its worker was killed "
        "or it ran past the job cluster's timeout (Q_TIMEOUT) each time; lower "
        "SWEEP_CHUNK_SIZE or raise Q_TIMEOUT."
    )


def _fail_sweep(sweep_id: int, reason: str) -> None:
    with transaction.atomic():
        row = Sweep.objects.select_for_update().get(pk=sweep_id)
        failed = _transition(row, "fail", error=reason, finished_at=timezone.now())
    if failed:
        _close_pending(sweep_id)


def _fail_run(run_id: int, reason: str) -> None:
    with transaction.atomic():
        run = RobustnessRun.objects.select_for_update().get(pk=run_id)
        if run.status not in ACTIVE:
            return
        run.status = RobustnessStatus.FAILED
        run.error = reason
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        run.wf_chunks.filter(status=ChunkStatus.PENDING).update(status=ChunkStatus.CANCELLED)


def _sweep_chunks(cutoff: datetime, limit: int) -> int:
    with transaction.atomic():
        stale = list(
            SweepChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(
                status=ChunkStatus.PENDING,
                leased_at__lt=cutoff,
                sweep__status__in=ACTIVE_SWEEP_STATUSES,
            )
            .order_by("leased_at")
            .values_list("pk", "sweep_id", "seq", "attempts")[:limit]
        )
        most = settings.ALGOSAAS["STEP_MAX_ATTEMPTS"]
        dead = [row for row in stale if row[3] >= most]
        stale = [row for row in stale if row[3] < most]
        SweepChunk.objects.filter(pk__in=[row[0] for row in stale]).update(leased_at=timezone.now())
        for pk, sweep_id, seq, attempts in stale:
            logger.warning(
                "sweep_chunk_requeued", chunk_id=pk, sweep_id=sweep_id, seq=seq, attempts=attempts
            )
        transaction.on_commit(lambda: [sweep_chunk_enqueue(s, q) for _, s, q, _ in stale])
    for _pk, sweep_id, seq, attempts in dead:
        logger.warning("sweep_chunk_dead", sweep_id=sweep_id, seq=seq, attempts=attempts)
        _fail_sweep(sweep_id, _dead_reason(seq, attempts))
    return len(stale)


def _walk_forward_chunks(cutoff: datetime, limit: int) -> int:
    with transaction.atomic():
        stale = list(
            WalkForwardChunk.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status=ChunkStatus.PENDING, leased_at__lt=cutoff, run__status__in=ACTIVE)
            .order_by("leased_at")
            .values_list("pk", "run_id", "window", "seq", "attempts")[:limit]
        )
        most = settings.ALGOSAAS["STEP_MAX_ATTEMPTS"]
        dead = [row for row in stale if row[4] >= most]
        stale = [row[:4] for row in stale if row[4] < most]
        WalkForwardChunk.objects.filter(pk__in=[row[0] for row in stale]).update(
            leased_at=timezone.now()
        )
        for pk, run_id, window, seq in stale:
            logger.warning(
                "walk_forward_chunk_requeued", chunk_id=pk, run_id=run_id, window=window, seq=seq
            )
        transaction.on_commit(
            lambda: [walkforward_steps.enqueue_chunk(pk, r, w, q) for pk, r, w, q in stale]
        )
    for _pk, run_id, window, seq, attempts in dead:
        logger.warning("walk_forward_chunk_dead", run_id=run_id, window=window, attempts=attempts)
        _fail_run(run_id, f"Window {window}: " + _dead_reason(seq, attempts))
    return len(stale)


def _walk_forward_windows(cutoff: datetime, limit: int) -> int:
    """Queue again the due window test of each running walk-forward queued before ``cutoff``.

    A run from before ``window_queued_at`` existed (None) counts from when the window's last
    in-sample chunk finished, which is when its test was queued.
    """
    ids: list[tuple[int, int]] = []
    runs = RobustnessRun.objects.filter(
        kind=RobustnessKind.WALK_FORWARD, status=RobustnessStatus.RUNNING
    ).exclude(window_queued_at__gte=cutoff)
    for run_id in list(runs.values_list("pk", flat=True)[:limit]):
        with transaction.atomic():
            run = RobustnessRun.objects.select_for_update(skip_locked=True).filter(pk=run_id)
            run = run.first()
            if run is None or run.status != RobustnessStatus.RUNNING:
                continue  # a step holds it, or it finished meanwhile
            index = run.windows_done
            if not walkforward_steps.window_ready(run, index):
                continue  # its in-sample chunks are still pending (recovered above)
            queued = (
                run.window_queued_at
                or (run.wf_chunks.filter(window=index).aggregate(t=Max("finished_at"))["t"])
            )
            if queued is not None and queued >= cutoff:
                continue
            run.window_queued_at = timezone.now()
            run.save(update_fields=["window_queued_at"])
            logger.warning("walk_forward_window_requeued", run_id=run.pk, window=index)
            transaction.on_commit(lambda r=run.pk, i=index: walkforward_steps.enqueue_window(r, i))
            ids.append((run.pk, index))
    return len(ids)


def optimisation_recover(*, limit: int = 500) -> dict[str, int]:
    """Queue again every pending step of an active sweep or walk-forward whose task was lost."""
    cutoff = stale_before()
    return {
        "sweep_chunks": _sweep_chunks(cutoff, limit),
        "walk_forward_chunks": _walk_forward_chunks(cutoff, limit),
        "walk_forward_windows": _walk_forward_windows(cutoff, limit),
    }
