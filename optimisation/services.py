"""Parameter sweeps: request one, run its chunks on the job cluster, cancel it.

A sweep is split into chunks of up to ``SWEEP_CHUNK_SIZE`` backtests (smaller towards the end,
``chunk_sizes``), each a django-q2 task that loads the bars once and runs its parameter sets
over them (``optimisation.runner``); any number of ``qcluster`` processes, on any number of
machines sharing the database, take the tasks. A chunk writes its results, marks itself done
and moves the sweep's progress in one transaction under its own row lock; the sweep's row is
locked only by the last statement (the counters' increments), so chunks of one sweep commit in
parallel. A result is unique per (sweep, parameters): a chunk delivered again after its worker
died finds itself done, or writes nothing twice. Grid and random sweeps queue
every chunk at once; an optuna sweep runs its chunks one after another, each asking the study
for the next batch of trials after the previous batch was told.
"""

from __future__ import annotations

import math
from datetime import date
from decimal import Decimal
from time import monotonic
from typing import Any
from uuid import uuid4

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, F, JSONField, Q, Value, When
from django.utils import timezone
from django_q.tasks import async_task

from execution.exceptions import BacktestInvalid
from execution.marketdata.exchanges import costs_or_default
from execution.models import Backtest
from execution.services.backtest_baskets import basket_entries
from execution.services.backtests import backtest_bars
from execution.services.engine_setup import charges_model, engine_config, session_calendar
from execution.validation import backtest_range_errors
from optimisation import study as optuna_study
from optimisation.exceptions import SweepConflict, SweepInvalid
from optimisation.models import (
    ACTIVE_SWEEP_STATUSES,
    ChunkStatus,
    Sweep,
    SweepChunk,
    SweepMethod,
    SweepObjective,
    SweepResult,
    SweepStatus,
)
from optimisation.runner import BasketInputs, Outcome, run_chunk
from optimisation.space import Space, SpaceInvalid, iter_chunks, params_key, parse_space
from strategies import catalog
from strategies.models import Strategy
from strategies.services import strategy_config_snapshot

logger = structlog.get_logger(__name__)

# optuna asks this many trials per chunk: TPE learns between chunks, not within one
OPTUNA_BATCH = 10
# how often a running chunk looks whether its sweep was cancelled
CANCEL_CHECK_SECONDS = 1.0

# (status, trigger) -> next status: the only moves a sweep makes (``_transition``)
SWEEP_TRANSITIONS: dict[tuple[str, str], str] = {
    (SweepStatus.QUEUED, "start"): SweepStatus.RUNNING,
    (SweepStatus.RUNNING, "complete"): SweepStatus.COMPLETE,
    (SweepStatus.QUEUED, "cancel"): SweepStatus.CANCELLED,
    (SweepStatus.RUNNING, "cancel"): SweepStatus.CANCELLED,
    (SweepStatus.QUEUED, "fail"): SweepStatus.FAILED,
    (SweepStatus.RUNNING, "fail"): SweepStatus.FAILED,
}


def _limit(name: str) -> int:
    return settings.ALGOSAAS[name]


def _transition(sweep: Sweep, trigger: str, **fields: Any) -> bool:
    """Apply ``trigger`` to a locked sweep through the table; False if the edge is missing."""
    to = SWEEP_TRANSITIONS.get((sweep.status, trigger))
    if to is None:
        return False
    logger.info("sweep_transition", sweep_id=sweep.pk, frm=sweep.status, to=to)
    sweep.status = to
    for name, value in fields.items():
        setattr(sweep, name, value)
    sweep.save(update_fields=["status", *fields])
    return True


def _transition_from(sweep_id: int, frm: str, trigger: str, **fields: Any) -> bool:
    """Apply ``trigger`` to the sweep if it is still ``frm``, in one conditional UPDATE.

    The same table as ``_transition`` without reading the row under a lock first: the UPDATE
    locks it for the rest of the caller's transaction only. False if the sweep was not ``frm``.
    """
    to = SWEEP_TRANSITIONS[(frm, trigger)]
    moved = Sweep.objects.filter(pk=sweep_id, status=frm).update(status=to, **fields)
    if moved:
        logger.info("sweep_transition", sweep_id=sweep_id, frm=frm, to=to)
    return bool(moved)


def sweep_space(sweep: Sweep) -> Space:
    """The sweep's space, parsed again from what was stored (it was valid when stored)."""
    stype = catalog.get(sweep.config["strategy_type"])
    return parse_space(
        stype=stype,
        raw=sweep.space,
        fixed=sweep.config["params"],
        limit=_limit("MAX_SWEEP_COMBINATIONS"),
    )


def _check_request(
    *, method: str, objective: str, samples: int | None, trials: int | None, max_dd: float | None
) -> None:
    limit = _limit("MAX_SWEEP_COMBINATIONS")
    errors: dict[str, list[str]] = {}
    if method not in SweepMethod.values:
        errors["method"] = [f"Must be one of: {', '.join(SweepMethod.values)}."]
    if objective not in SweepObjective.values:
        errors["objective"] = [f"Must be one of: {', '.join(SweepObjective.values)}."]
    for name, value, needed in (
        ("samples", samples, method == SweepMethod.RANDOM),
        ("trials", trials, method == SweepMethod.OPTUNA),
    ):
        if needed and value is None:
            errors[name] = [f"Required by the {method} method."]
        elif value is not None and not needed:
            errors[name] = [
                f"Only the {'random' if name == 'samples' else 'optuna'} method takes it."
            ]
        elif value is not None and value > limit:
            errors[name] = [f"At most {limit:,} (MAX_SWEEP_COMBINATIONS)."]
    if objective == SweepObjective.RETURN_MAX_DD and max_dd is None:
        errors["max_drawdown_pct"] = ["Required by the return_max_dd objective."]
    elif objective != SweepObjective.RETURN_MAX_DD and max_dd is not None:
        errors["max_drawdown_pct"] = ["Only the return_max_dd objective takes it."]
    if errors:
        raise SweepInvalid("The sweep cannot run as asked.", fields=errors)


@transaction.atomic
def sweep_request(
    *,
    strategy: Strategy,
    user,
    space: Any,
    method: str = SweepMethod.GRID,
    objective: str = SweepObjective.RETURN,
    samples: int | None = None,
    trials: int | None = None,
    seed: int = 0,
    max_drawdown_pct: float | None = None,
    start: date | None = None,
    end: date | None = None,
    capital: Decimal | None = None,
    charges: str | None = None,
    commission_pct: Decimal | None = None,
    slippage_bps: Decimal = Decimal("0"),
    close_at_end: str = "close",
    request_token: str = "",
) -> Sweep:
    """Validate a sweep of ``strategy``'s parameters, split it into chunks and queue them.

    Raises ``SweepInvalid`` (400) naming the field for a bad space, method, objective or range,
    and naming the limit (``MAX_SWEEP_COMBINATIONS``, ``MAX_RUNNING_SWEEPS_PER_USER``) when one
    would be exceeded. Costs default as a backtest's do (the exchange's charges).
    ``request_token`` (``idempotency_token``) links the sweep to the API request's key.
    """
    _check_request(
        method=method, objective=objective, samples=samples, trials=trials, max_dd=max_drawdown_pct
    )
    range_errors = backtest_range_errors(start=start, end=end)
    if range_errors:
        raise SweepInvalid("end: must not be before start.", fields=range_errors)
    charges, commission_pct = costs_or_default(
        strategy.instrument.exchange, charges, commission_pct
    )
    config = strategy_config_snapshot(strategy)
    limit = _limit("MAX_SWEEP_COMBINATIONS")
    try:
        parsed = parse_space(
            stype=catalog.get(config["strategy_type"]),
            raw=space,
            fixed=config["params"],
            limit=limit,
        )
    except SpaceInvalid as e:
        raise SweepInvalid("The parameter space is invalid.", fields={"space": e.errors}) from e
    if method != SweepMethod.OPTUNA and parsed.size > limit:
        raise SweepInvalid(
            f"The space holds {parsed.size:,} combinations, more than the limit of {limit:,}.",
            fields={"space": [f"More than {limit:,} combinations (MAX_SWEEP_COMBINATIONS)."]},
        )
    # Lock the user's row so two concurrent requests cannot both pass the running-sweeps cap.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    cap = _limit("MAX_RUNNING_SWEEPS_PER_USER")
    running = Sweep.objects.filter(owner=user, status__in=ACTIVE_SWEEP_STATUSES).count()
    if running >= cap:
        raise SweepInvalid(
            f"You already have {running} sweeps queued or running; wait for one or cancel it.",
            fields={"MAX_RUNNING_SWEEPS_PER_USER": [f"At most {cap} sweeps at once."]},
        )

    if method == SweepMethod.OPTUNA:
        param_sets: list[dict[str, Any]] = []
        skipped = 0
    elif method == SweepMethod.RANDOM:
        param_sets, skipped = parsed.sample(samples or 0, seed)
    else:
        param_sets, skipped = parsed.grid()
    if method != SweepMethod.OPTUNA and not param_sets:
        raise SweepInvalid(
            "Every combination of the space breaks the strategy's rules.",
            fields={"space": [f"All {skipped:,} combinations are refused (e.g. fast >= slow)."]},
        )
    size = _limit("SWEEP_CHUNK_SIZE")
    sweep = Sweep.objects.create(
        owner=user,
        strategy=strategy,
        config=config,
        space=space,
        method=method,
        objective=objective,
        max_drawdown_pct=max_drawdown_pct,
        samples=samples,
        trials=trials,
        seed=seed,
        start=start,
        end=end,
        capital=capital if capital is not None else strategy.capital,
        charges=charges,
        commission_pct=commission_pct,
        slippage_bps=slippage_bps,
        close_at_end=close_at_end,
        total=trials if method == SweepMethod.OPTUNA else len(param_sets),
        skipped=skipped,
        request_token=request_token,
    )
    if method == SweepMethod.OPTUNA:
        sweep.study_name = f"sweep-{sweep.pk}-{uuid4().hex[:8]}"
        sweep.chunks_total = math.ceil((trials or 0) / OPTUNA_BATCH)
        sweep.save(update_fields=["study_name", "chunks_total"])
        chunks = [
            SweepChunk(sweep=sweep, seq=i, params=[], leased_at=timezone.now() if i == 0 else None)
            for i in range(sweep.chunks_total)
        ]
    else:
        batches = iter_chunks(
            param_sets,
            size,
            smallest=_limit("SWEEP_CHUNK_MIN"),
            workers=_limit("SWEEP_TAPER_WORKERS"),
        )
        now = timezone.now()
        chunks = [
            SweepChunk(sweep=sweep, seq=i, params=b, leased_at=now) for i, b in enumerate(batches)
        ]
        sweep.chunks_total = len(chunks)
        sweep.save(update_fields=["chunks_total"])
    SweepChunk.objects.bulk_create(chunks)
    first = [c.seq for c in chunks] if method != SweepMethod.OPTUNA else [0]
    transaction.on_commit(lambda: [sweep_chunk_enqueue(sweep.pk, seq) for seq in first])
    return sweep


def sweep_chunk_enqueue(sweep_id: int, seq: int) -> None:
    """Queue the task of the sweep's chunk ``seq`` (a duplicate finds it done and skips)."""
    chunk = SweepChunk.objects.filter(sweep_id=sweep_id, seq=seq).values_list("pk", flat=True)
    for pk in chunk:
        async_task("optimisation.tasks.sweep_chunk", pk, task_name=f"sweep-{sweep_id}-{seq}")


def sweep_cancel(*, sweep: Sweep) -> Sweep:
    """Cancel a queued or running sweep: its pending chunks will not run (409 once finished).

    A chunk already running notices within ``CANCEL_CHECK_SECONDS`` and writes nothing; one
    recording at that moment either committed before (it counts) or finds the sweep cancelled
    and rolls back. The sweep's row and the chunks' rows are locked in two transactions, never
    together: a recording chunk locks its own row, then the sweep's (``_record``).
    """
    with transaction.atomic():
        row = Sweep.objects.select_for_update().get(pk=sweep.pk)
        if not _transition(row, "cancel", finished_at=timezone.now()):
            raise SweepConflict(
                f"The sweep is {row.status.lower()}; only a queued or running one can be "
                "cancelled.",
                status=row.status,
            )
    _close_pending(row.pk)
    return row


def _close_pending(sweep_id: int) -> None:
    """Mark a finished sweep's pending chunks cancelled (queued tasks skip them anyway)."""
    SweepChunk.objects.filter(sweep_id=sweep_id, status=ChunkStatus.PENDING).update(
        status=ChunkStatus.CANCELLED
    )


# ------------------------------------------------------------------------------ the job side


def _basket_inputs(sweep: Sweep) -> BasketInputs:
    """A basket sweep's members (bars and engine configs), as its basket backtest has them."""
    probe = Backtest(  # never saved
        config=sweep.config,
        start=sweep.start,
        end=sweep.end,
        capital=sweep.capital,
        charges=sweep.charges,
        commission_pct=sweep.commission_pct,
        slippage_bps=sweep.slippage_bps,
        close_at_end=sweep.close_at_end,
    )
    try:
        entries, _sources = basket_entries(probe, load=backtest_bars, prefix=f"sw{sweep.pk}")
    except BacktestInvalid as e:
        raise SweepInvalid(e.message, fields=e.fields) from e
    for _config, bars in entries:
        for name in ("ts", "open", "high", "low", "close", "volume"):
            getattr(bars, name).flags.writeable = False  # shared by every later chunk
    return BasketInputs(members=entries, capital=float(sweep.capital))


def _bars_and_config(sweep: Sweep) -> tuple[Any, Any]:
    """The chunk's bars (loaded once) and engine configuration, as a backtest would have them.

    A basket's are ``BasketInputs`` (every member's bars and config) and ``None``.
    """
    if sweep.config.get("instruments"):
        return _basket_inputs(sweep), None
    probe = Backtest(config=sweep.config, start=sweep.start, end=sweep.end)  # never saved
    bars, _source = backtest_bars(probe)
    if len(bars) < 2:
        raise SweepInvalid("No bars in the chosen range.")
    config = engine_config(
        snapshot=sweep.config,
        capital=sweep.capital,
        charges=charges_model(charges=sweep.charges, commission_pct=sweep.commission_pct),
        slippage_bps=sweep.slippage_bps,
        prefix=f"sw{sweep.pk}",
        close_at_end=sweep.close_at_end,
        calendar=session_calendar(
            exchange=sweep.config["instrument"]["exchange"], timeframe=sweep.config["timeframe"]
        ),
    )
    return bars, config


# The bars, engine configuration and indicator memo of the sweep this worker process ran last:
# the next chunk of the same sweep reuses them instead of loading the bars again (0.17 s of CPU
# for 100k bars, ~5 % of a 50-backtest chunk) and recomputing the series earlier chunks computed
# (a grid's chunks share their ``slow`` SMAs). A sweep's config, range and costs never change
# after it is requested, and every chunk of it must replay the same bars. One sweep is kept; a
# memo past ``_MEMO_MAX_BYTES`` is dropped between chunks, so memory stays bounded.
_WORKER_CACHE: dict[str, Any] = {}
_MEMO_MAX_BYTES = 256 * 2**20


def _memo_bytes(memo: dict) -> int:
    total = 0
    for _arrays, value in memo.values():
        for v in value if isinstance(value, tuple) else (value,):
            total += getattr(v, "nbytes", 0)
    return total


def _sweep_inputs(sweep: Sweep) -> tuple[Any, Any, dict]:
    """The sweep's bars, engine config and indicator memo: cached per worker, per sweep."""
    key = (sweep.pk, sweep.created_at)  # a rolled-back test database may reuse a pk
    if _WORKER_CACHE.get("key") != key:
        _WORKER_CACHE.clear()
        bars, config = _bars_and_config(sweep)
        if not isinstance(bars, BasketInputs):  # a basket's members' are read-only already
            for name in ("ts", "open", "high", "low", "close", "volume"):
                getattr(bars, name).flags.writeable = False  # shared by every later chunk
        _WORKER_CACHE.update(key=key, bars=bars, config=config, memo={})
    elif _memo_bytes(_WORKER_CACHE["memo"]) > _MEMO_MAX_BYTES:
        _WORKER_CACHE["memo"] = {}
    return _WORKER_CACHE["bars"], _WORKER_CACHE["config"], _WORKER_CACHE["memo"]


def _start(chunk_id: int) -> SweepChunk | None:
    """Count an attempt and start the sweep; None if the chunk is done, cancelled or gone.

    The chunk's row is locked, the sweep's only by the first chunk (QUEUED to RUNNING), in a
    conditional UPDATE as the transaction's last statement.
    """
    with transaction.atomic():
        chunk = SweepChunk.objects.select_for_update().filter(pk=chunk_id).first()
        if chunk is None or chunk.status != ChunkStatus.PENDING:
            return None
        sweep = Sweep.objects.get(pk=chunk.sweep_id)
        if sweep.status not in ACTIVE_SWEEP_STATUSES:
            return None
        chunk.attempts += 1
        chunk.leased_at = timezone.now()  # taken: optimisation.recovery waits out Q_TIMEOUT
        chunk.save(update_fields=["attempts", "leased_at"])
        if sweep.status == SweepStatus.QUEUED:
            now = timezone.now()
            if _transition_from(sweep.pk, SweepStatus.QUEUED, "start", started_at=now):
                sweep.status, sweep.started_at = SweepStatus.RUNNING, now
            else:  # cancelled (or started by another chunk) meanwhile: read it again
                sweep = Sweep.objects.get(pk=sweep.pk)
                if sweep.status not in ACTIVE_SWEEP_STATUSES:
                    transaction.set_rollback(True)
                    return None
        chunk.sweep = sweep
        return chunk


def _cancelled(sweep_id: int) -> bool:
    return Sweep.objects.filter(pk=sweep_id, status=SweepStatus.CANCELLED).exists()


def _optuna_params(chunk: SweepChunk, space: Space) -> list[tuple[int, dict[str, Any] | None]]:
    """The chunk's trials: asked now (and stored) on its first attempt, read back on a retry.

    Each is (trial number, complete parameters or None where the rules refuse the values).
    """
    sweep = chunk.sweep
    if not chunk.trial_numbers:
        remaining = (sweep.trials or 0) - chunk.seq * OPTUNA_BATCH
        study = optuna_study.study_load(sweep.study_name, seed=sweep.seed, seq=chunk.seq)
        asked = optuna_study.ask(study, space, min(OPTUNA_BATCH, remaining))
        chunk.trial_numbers = [n for n, _ in asked]
        chunk.params = [values for _, values in asked]
        chunk.save(update_fields=["trial_numbers", "params"])
    return [
        (n, space.combine(values))
        for n, values in zip(chunk.trial_numbers, chunk.params, strict=True)
    ]


def sweep_chunk_run(*, chunk_id: int) -> str:
    """Run one chunk's backtests and record them once; the task a qcluster worker runs.

    Returns what happened: ``done``, ``skipped`` (done already, cancelled, or the sweep is over),
    ``cancelled`` (noticed midway) or ``failed``.
    """
    chunk = _start(chunk_id)
    if chunk is None:
        return "skipped"
    sweep = chunk.sweep
    began = monotonic()
    try:
        space = sweep_space(sweep)
        if sweep.method == SweepMethod.OPTUNA:
            trials = _optuna_params(chunk, space)
            param_sets = [p for _, p in trials if p is not None]
        else:
            trials = []
            param_sets = chunk.params
        bars, config, memo = _sweep_inputs(sweep)
        last_check = [monotonic()]

        def should_stop() -> bool:
            if monotonic() - last_check[0] < CANCEL_CHECK_SECONDS:
                return False
            last_check[0] = monotonic()
            return _cancelled(sweep.pk)

        outcomes = run_chunk(
            bars=bars,
            config=config,
            stype=space.stype,
            param_sets=param_sets,
            objective=sweep.objective,
            max_drawdown_pct=sweep.max_drawdown_pct,
            should_stop=should_stop,
            memo=memo,
        )
        if outcomes is None:
            return "cancelled"
        if trials:
            _tell(sweep, trials, outcomes)
    except Exception as e:  # the sweep must record every failure, not lose it
        logger.exception("sweep_chunk_failed", sweep_id=sweep.pk, chunk=chunk.seq)
        message = e.message if isinstance(e, SweepInvalid) else f"{type(e).__name__}: {e}"
        with transaction.atomic():
            row = Sweep.objects.select_for_update().get(pk=sweep.pk)
            failed = _transition(row, "fail", error=message[:2000], finished_at=timezone.now())
        if failed:
            _close_pending(sweep.pk)
        return "failed"
    refused = sum(p is None for _, p in trials)
    return _record(chunk, outcomes, refused=refused, seconds=monotonic() - began)


def _tell(sweep: Sweep, trials: list[tuple[int, Any]], outcomes: list[Outcome]) -> None:
    study = optuna_study.study_load(sweep.study_name, seed=sweep.seed, seq=0)
    by_key = {params_key(o.params): o.value for o in outcomes}
    for number, params in trials:
        value = None if params is None else by_key[params_key(params)]
        optuna_study.tell(study, number, value)


def _record(chunk: SweepChunk, outcomes: list[Outcome], *, refused: int, seconds: float) -> str:
    """Write the chunk's results and move the sweep's progress in one transaction, once.

    Under the chunk's row lock: the results (one INSERT), the chunk's DONE mark, then the
    sweep's counters and best so far as increments in one UPDATE that applies only while the
    sweep runs, so the sweep's row is locked just from that statement to the commit and other
    chunks of the sweep insert their results meanwhile. A cancelled (or failed) sweep matches
    no row: everything is rolled back and the chunk is left to ``sweep_cancel``.
    """
    with transaction.atomic():
        row = SweepChunk.objects.select_for_update().only("status").get(pk=chunk.pk)
        if row.status != ChunkStatus.PENDING:
            return "skipped"  # another attempt recorded it, or the sweep was cancelled
        SweepResult.objects.bulk_create(
            [
                SweepResult(
                    sweep_id=chunk.sweep_id,
                    key=params_key(o.params),
                    params=o.params,
                    value=o.value,
                    stats=o.stats,
                )
                for o in outcomes
            ],
            ignore_conflicts=True,  # optuna may ask a set twice; a set is one result
        )
        SweepChunk.objects.filter(pk=chunk.pk).update(
            status=ChunkStatus.DONE, seconds=seconds, finished_at=timezone.now()
        )
        fields: dict[str, Any] = {
            "done": F("done") + len(outcomes) + refused,
            "skipped": F("skipped") + refused,
            "chunks_done": F("chunks_done") + 1,
        }
        best = max(outcomes, key=lambda o: -math.inf if o.value is None else o.value, default=None)
        if best is not None and best.value is not None:
            better = Q(best_value__isnull=True) | Q(best_value__lt=best.value)
            fields["best_value"] = Case(When(better, then=Value(best.value)), default="best_value")
            fields["best_params"] = Case(
                When(better, then=Value(best.params, output_field=JSONField())),
                default="best_params",
            )
        moved = Sweep.objects.filter(pk=chunk.sweep_id, status=SweepStatus.RUNNING).update(**fields)
        if not moved:
            transaction.set_rollback(True)
            return "skipped"
        # the sweep's row is ours until the commit: its counters are final here
        done, total, method = Sweep.objects.filter(pk=chunk.sweep_id).values_list(
            "chunks_done", "chunks_total", "method"
        )[0]
        if done >= total:
            _transition_from(
                chunk.sweep_id, SweepStatus.RUNNING, "complete", finished_at=timezone.now()
            )
        elif method == SweepMethod.OPTUNA:
            sweep_id, next_seq = chunk.sweep_id, chunk.seq + 1
            SweepChunk.objects.filter(sweep_id=sweep_id, seq=next_seq).update(
                leased_at=timezone.now()
            )
            transaction.on_commit(lambda: sweep_chunk_enqueue(sweep_id, next_seq))
    logger.info("sweep_chunk_done", sweep_id=chunk.sweep_id, chunk=chunk.seq, runs=len(outcomes))
    return "done"


def sweep_progress(sweep: Sweep) -> dict[str, Any]:
    """Done / total, the share done, the best so far and the seconds left at the pace so far."""
    eta = None
    if sweep.status == SweepStatus.RUNNING and sweep.started_at and 0 < sweep.done < sweep.total:
        elapsed = (timezone.now() - sweep.started_at).total_seconds()
        eta = round(elapsed / sweep.done * (sweep.total - sweep.done), 1)
    return {
        "done": sweep.done,
        "total": sweep.total,
        "skipped": sweep.skipped,
        "percent": round(100.0 * sweep.done / sweep.total, 1) if sweep.total else 100.0,
        "eta_seconds": eta,
        "best_value": sweep.best_value,
        "best_params": sweep.best_params,
    }
