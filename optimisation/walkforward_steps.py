"""A walk-forward run as many bounded django-q2 tasks, each writing its result once.

A single task over every window outgrew the cluster's ``Q_TIMEOUT`` (django-q2 stops it and
acknowledges it as failed, and the run stayed RUNNING for ever). Now:

- **In-sample chunks** (``walk_forward_chunk_run``): a window's parameter sets are split into
  chunks (``WalkForwardChunk``, made with the run) of about ``SWEEP_CHUNK_SIZE`` backtests (a
  basket's count each member's). Every in-sample run starts with the run's capital, so all the
  windows' chunks are queued at once and any worker of any cluster takes them; each stores its
  sets' objective values and marks itself done, under the run's row lock, once.
- **Out-of-sample tests** (``walk_forward_window_run``): window *i* is tested once its chunks
  are done and window *i - 1* is stored, because it starts with the equity that one ended
  with. It picks the winner from every set's stored value (as one pass would), runs one
  backtest, and stores the window (``WalkForwardWindow``, unique per run and index) and the
  progress in one transaction; whichever task completes the last condition for the next
  window queues it on commit. The last window's task stitches the report and completes the run.

A task delivered again after its worker died finds its chunk or window stored and does
nothing, or runs it again (it wrote nothing). The bars are loaded once per worker per run
(``_market``). ``walk_forward_run`` walks every step still pending in this process (tests, an
operator); ``walk_forward_resume`` queues them (a run whose tasks were lost).
"""

from __future__ import annotations

import math
from decimal import Decimal
from time import monotonic
from typing import Any

import structlog
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.exceptions import TimeoutException
from django_q.tasks import async_task

from optimisation import robustness, walkforward
from optimisation.markets import BasketMarket, Market
from optimisation.models import (
    ChunkStatus,
    RobustnessKind,
    RobustnessRun,
    RobustnessStatus,
    WalkForwardChunk,
    WalkForwardWindow,
)
from optimisation.runner import Outcome, run_chunk

logger = structlog.get_logger(__name__)

# The market (bars, engine configs) of the run this worker process ran last: its next chunk
# reuses it instead of loading the bars again. One run is kept, so memory stays bounded.
_WORKER_CACHE: dict[str, Any] = {}


def _market(run: RobustnessRun) -> Market:
    key = (run.pk, run.created_at)  # a rolled-back test database may reuse a pk
    if _WORKER_CACHE.get("key") != key:
        _WORKER_CACHE.clear()
        _WORKER_CACHE.update(key=key, market=robustness._market(run))
    return _WORKER_CACHE["market"]


def _encode(value: float | None) -> float | str | None:
    """An objective value as JSON can hold it (no NaN or infinity in JSON)."""
    if value is None or math.isfinite(value):
        return value
    return repr(value)


def _decode(value: float | str | None) -> float | None:
    return float(value) if isinstance(value, str) else value


# ------------------------------------------------------------------------------ planning


def walk_forward_chunks_create(*, run: RobustnessRun, param_count: int, members: int) -> int:
    """Create the run's in-sample chunks (every window's); return how many.

    A chunk holds about ``SWEEP_CHUNK_SIZE`` backtests: a basket's sets count once per member.
    """
    size = max(1, robustness._limit("SWEEP_CHUNK_SIZE") // max(1, members))
    now = timezone.now()  # queued on commit by the caller
    chunks = [
        WalkForwardChunk(
            run=run,
            window=window,
            seq=seq,
            start=start,
            stop=min(start + size, param_count),
            leased_at=now,
        )
        for window in range(run.request["windows"])
        for seq, start in enumerate(range(0, param_count, size))
    ]
    WalkForwardChunk.objects.bulk_create(chunks)
    run.chunks_total = len(chunks)
    run.save(update_fields=["chunks_total"])
    return len(chunks)


def enqueue_chunks(run_id: int) -> None:
    """Queue every pending in-sample chunk of the run (one task each)."""
    pending = WalkForwardChunk.objects.filter(run_id=run_id, status=ChunkStatus.PENDING)
    pending.update(leased_at=timezone.now())
    for pk, window, seq in pending.values_list("pk", "window", "seq"):
        enqueue_chunk(pk, run_id, window, seq)


def enqueue_chunk(chunk_id: int, run_id: int, window: int, seq: int) -> None:
    """Queue one in-sample chunk's task (a duplicate finds it done and skips)."""
    async_task(
        "optimisation.tasks.walk_forward_chunk",
        chunk_id,
        task_name=f"walk-forward-{run_id}-{window}-{seq}",
    )


def enqueue_window(run_id: int, index: int) -> None:
    """Queue the test of window ``index`` (a duplicate finds it stored, or not due, and skips)."""
    async_task(
        "optimisation.tasks.walk_forward_window",
        run_id,
        index,
        task_name=f"walk-forward-{run_id}-test-{index}",
    )


def window_ready(run: RobustnessRun, index: int) -> bool:
    """Window ``index`` is the next to test and its in-sample chunks are all done."""
    return (
        index < run.request["windows"]
        and run.windows_done == index
        and not WalkForwardChunk.objects.filter(run=run, window=index)
        .exclude(status=ChunkStatus.DONE)
        .exists()
    )


# ------------------------------------------------------------------------------ failing


def _fail(run_id: int, e: BaseException, **where: Any) -> str:
    """Record why the run failed (only a run still active takes it) and stop its chunks."""
    logger.exception("walk_forward_failed", run_id=run_id, **where)
    if isinstance(e, TimeoutException):
        message = (
            "A step took longer than the job cluster's timeout (Q_TIMEOUT); lower "
            "SWEEP_CHUNK_SIZE or raise Q_TIMEOUT."
        )
    else:
        message = getattr(e, "message", None) or f"{type(e).__name__}: {e}"
    with transaction.atomic():
        run = RobustnessRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status not in robustness.ACTIVE:
            return "skipped"
        run.status = RobustnessStatus.FAILED
        run.error = message[:2000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        run.wf_chunks.filter(status=ChunkStatus.PENDING).update(status=ChunkStatus.CANCELLED)
    return "failed"


# ------------------------------------------------------------------------------ in-sample


def _chunk_start(chunk_id: int) -> WalkForwardChunk | None:
    """Count an attempt and start the run; None if the chunk is done or the run is over."""
    run_id = WalkForwardChunk.objects.filter(pk=chunk_id).values_list("run_id", flat=True).first()
    if run_id is None:
        return None
    with transaction.atomic():  # the run's row first, then the chunk's, as every step locks
        run = RobustnessRun.objects.select_for_update().filter(pk=run_id).first()
        chunk = WalkForwardChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if run is None or chunk is None:
            return None  # deleted meanwhile
        if chunk.status != ChunkStatus.PENDING or run.status not in robustness.ACTIVE:
            return None
        if run.status == RobustnessStatus.QUEUED:
            run.status = RobustnessStatus.RUNNING
            run.started_at = timezone.now()
            run.save(update_fields=["status", "started_at"])
        chunk.attempts += 1
        chunk.leased_at = timezone.now()  # taken: optimisation.recovery waits out Q_TIMEOUT
        chunk.save(update_fields=["attempts", "leased_at"])
        chunk.run = run
        return chunk


def walk_forward_chunk_run(*, chunk_id: int, enqueue: bool = True) -> str:
    """Run one chunk of a window's in-sample sets and record their values once.

    Returns ``done``, ``skipped`` (recorded already, or the run is over), ``cancelled``
    (noticed midway) or ``failed``. ``enqueue``: queue the window's test when it is ready.
    """
    chunk = _chunk_start(chunk_id)
    if chunk is None:
        return "skipped"
    run = chunk.run
    req = run.request
    began = monotonic()
    try:
        space = robustness._space(req["config"], req["space"])
        param_sets = robustness._param_sets(space, req["method"], req["samples"], req["seed"])
        market = _market(run)
        window = _plan(run, market)[chunk.window]
        stretch = market.in_sample(window.is_start, window.is_stop, float(Decimal(req["capital"])))
        outcomes: list[Outcome] | None = []
        if stretch is not None:
            outcomes = run_chunk(
                bars=stretch[0],
                config=stretch[1],
                stype=space.stype,
                param_sets=param_sets[chunk.start : chunk.stop],
                objective=req["objective"],
                max_drawdown_pct=req["max_drawdown_pct"],
                should_stop=robustness._stop_check(run.pk),
            )
    except (Exception, TimeoutException) as e:  # the run must record every failure
        result = _fail(run.pk, e, window=chunk.window, chunk=chunk.seq)
        if isinstance(e, TimeoutException):
            raise
        return result
    if outcomes is None:
        logger.info("walk_forward_stopped", run_id=run.pk)
        return "cancelled"
    values = (
        [None] * (chunk.stop - chunk.start)
        if stretch is None
        else [_encode(o.value) for o in outcomes]
    )
    return _chunk_record(chunk, values, seconds=monotonic() - began, enqueue=enqueue)


def _plan(run: RobustnessRun, market: Market) -> list[walkforward.Window]:
    req = run.request
    return walkforward.plan_windows(
        len(market.ts),
        windows=req["windows"],
        in_sample_ratio=req["in_sample_ratio"],
        mode=req["mode"],
    )


def _chunk_record(
    chunk: WalkForwardChunk, values: list[Any], *, seconds: float, enqueue: bool
) -> str:
    with transaction.atomic():
        run = RobustnessRun.objects.select_for_update().get(pk=chunk.run_id)
        row = WalkForwardChunk.objects.select_for_update().get(pk=chunk.pk)
        if row.status != ChunkStatus.PENDING or run.status != RobustnessStatus.RUNNING:
            return "skipped"  # another attempt recorded it, or the run was cancelled
        row.values = values
        row.status = ChunkStatus.DONE
        row.seconds = seconds
        row.finished_at = timezone.now()
        row.save(update_fields=["values", "status", "seconds", "finished_at"])
        run.chunks_done += 1
        fields = ["chunks_done"]
        ready = enqueue and window_ready(run, chunk.window)
        if ready:
            run.window_queued_at = timezone.now()
            fields.append("window_queued_at")
        run.save(update_fields=fields)
        if ready:
            run_id, index = run.pk, chunk.window
            transaction.on_commit(lambda: enqueue_window(run_id, index))
    logger.info(
        "walk_forward_chunk_done", run_id=chunk.run_id, window=chunk.window, chunk=chunk.seq
    )
    return "done"


# ------------------------------------------------------------------------------ out-of-sample


def walk_forward_window_run(*, run_id: int, index: int, enqueue: bool = True) -> str:
    """Test window ``index`` out-of-sample and store it once; the last one writes the report.

    Returns ``done``, ``skipped`` (stored already, not its turn yet, or the run is over) or
    ``failed``. ``enqueue``: queue the next window's test when it is ready.
    """
    run = RobustnessRun.objects.filter(pk=run_id).first()
    if run is None or run.status != RobustnessStatus.RUNNING or not window_ready(run, index):
        return "skipped"
    req = run.request
    capital = float(Decimal(req["capital"]))
    try:
        space = robustness._space(req["config"], req["space"])
        param_sets = robustness._param_sets(space, req["method"], req["samples"], req["seed"])
        market = _market(run)
        window = _plan(run, market)[index]
        values: list[Any] = []
        for chunk in run.wf_chunks.filter(window=index).order_by("seq"):
            values.extend(chunk.values or [])
        outcomes = [
            Outcome(params=p, value=_decode(v), stats={})
            for p, v in zip(param_sets, values, strict=False)
        ]
        previous = run.wf_windows.filter(index=index - 1).first()
        row, oos, equity = walkforward.window_step(
            market=market,
            window=window,
            best=walkforward.winner(outcomes),
            equity=capital if previous is None else previous.end_equity,
            stype=space.stype,
            objective=req["objective"],
            max_drawdown_pct=req["max_drawdown_pct"],
        )
    except (Exception, TimeoutException) as e:
        result = _fail(run_id, e, window=index)
        if isinstance(e, TimeoutException):
            raise
        return result
    curve = {"ts": [], "equity": []} if oos is None else {"ts": oos.ts, "equity": oos.equity}
    return _window_record(
        run_id,
        index,
        row=row,
        curve=curve,
        equity=equity,
        market=market,
        param_count=len(param_sets),
        enqueue=enqueue,
    )


def _window_record(
    run_id: int,
    index: int,
    *,
    row: dict[str, Any],
    curve: dict[str, list],
    equity: float,
    market: Market,
    param_count: int,
    enqueue: bool,
) -> str:
    try:
        with transaction.atomic():
            run = RobustnessRun.objects.select_for_update().get(pk=run_id)
            if run.status != RobustnessStatus.RUNNING or run.windows_done != index:
                return "skipped"  # another attempt stored it, or the run was cancelled
            WalkForwardWindow.objects.create(
                run=run, index=index, row=row, curve=curve, end_equity=equity
            )
            run.windows_done = index + 1
            fields = ["windows_done"]
            if run.windows_done == run.request["windows"]:
                run.report = _report(run, market, param_count)
                run.status = RobustnessStatus.COMPLETE
                run.finished_at = timezone.now()
                run.seconds = (run.finished_at - (run.started_at or run.created_at)).total_seconds()
                fields += ["report", "status", "finished_at", "seconds"]
            ready = enqueue and window_ready(run, index + 1)
            if ready:
                run.window_queued_at = timezone.now()
                fields.append("window_queued_at")
            run.save(update_fields=fields)
            if ready:
                transaction.on_commit(lambda: enqueue_window(run_id, index + 1))
    except IntegrityError:  # a twin stored the window first
        return "skipped"
    logger.info("walk_forward_window_done", run_id=run_id, window=index)
    if run.status == RobustnessStatus.COMPLETE:
        logger.info("walk_forward_done", run_id=run_id, seconds=round(run.seconds or 0, 3))
    return "done"


def _report(run: RobustnessRun, market: Market, param_count: int) -> dict[str, Any]:
    """Stitch the stored windows (the last one just created) into the run's report."""
    windows = list(run.wf_windows.order_by("index"))
    report = walkforward.stitch(
        rows=[w.row for w in windows],
        curves=[(w.curve["ts"], w.curve["equity"]) for w in windows if w.curve["ts"]],
        capital=float(Decimal(run.request["capital"])),
        equity=windows[-1].end_equity,
        objective=run.request["objective"],
    )
    report["parameter_sets"] = param_count
    report["bars"] = len(market.ts)
    if isinstance(market, BasketMarket):
        report["members"] = market.summary()
    return report


# ------------------------------------------------------------------------------ progress


def walk_forward_progress(run: RobustnessRun) -> dict[str, Any] | None:
    """Windows tested / total and in-sample chunks done / total, and the share done (each
    window's test counts as one chunk); None for a Monte Carlo."""
    if run.kind != RobustnessKind.WALK_FORWARD:
        return None
    windows = (run.request or {}).get("windows") or 0
    steps = run.chunks_total + windows
    done = run.chunks_done + run.windows_done
    return {
        "windows_done": run.windows_done,
        "windows_total": windows,
        "chunks_done": run.chunks_done,
        "chunks_total": run.chunks_total,
        "percent": round(100.0 * done / steps, 1) if steps else 0.0,
    }


# ------------------------------------------------------------------------------ driving


def _ensure_chunks(run: RobustnessRun) -> None:
    """Give a run queued before walk-forwards were chunked (it has none) its chunks."""
    with transaction.atomic():
        locked = RobustnessRun.objects.select_for_update().get(pk=run.pk)
        if locked.wf_chunks.exists():
            return
        req = locked.request
        space = robustness._space(req["config"], req["space"])
        sets = robustness._param_sets(space, req["method"], req["samples"], req["seed"])
        members = len(req["config"].get("instruments") or ()) or 1
        walk_forward_chunks_create(run=locked, param_count=len(sets), members=members)


def walk_forward_run(*, run_id: int) -> str:
    """Run every step of the walk-forward still pending, in order, in this process.

    Returns ``done`` if it completed the run, ``cancelled`` or ``failed`` if a step did, and
    ``skipped`` if there was nothing to do (finished, cancelled, or done by the cluster).
    """
    run = RobustnessRun.objects.filter(pk=run_id).first()
    if run is None or run.status not in robustness.ACTIVE:
        return "skipped"
    _ensure_chunks(run)
    outcome = "skipped"
    pending = run.wf_chunks.filter(status=ChunkStatus.PENDING).order_by("window", "seq")
    for chunk_id in list(pending.values_list("pk", flat=True)):
        result = walk_forward_chunk_run(chunk_id=chunk_id, enqueue=False)
        if result in ("cancelled", "failed"):
            return result
        outcome = "done" if result == "done" else outcome
    for index in range(run.request["windows"]):
        result = walk_forward_window_run(run_id=run_id, index=index, enqueue=False)
        if result == "failed":
            return result
        outcome = "done" if result == "done" else outcome
    return outcome


def walk_forward_resume(*, run_id: int) -> int:
    """Queue every pending step of an active run (its tasks were lost); return how many."""
    run = RobustnessRun.objects.filter(pk=run_id).first()
    if run is None or run.status not in robustness.ACTIVE:
        return 0
    _ensure_chunks(run)
    pending = run.wf_chunks.filter(status=ChunkStatus.PENDING).count()
    enqueue_chunks(run_id)
    if window_ready(run, run.windows_done) and run.status == RobustnessStatus.RUNNING:
        RobustnessRun.objects.filter(pk=run_id).update(window_queued_at=timezone.now())
        enqueue_window(run_id, run.windows_done)
        pending += 1
    return pending
