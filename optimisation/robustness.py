"""Robustness reports: is a strategy's best result luck? Walk-forward and Monte Carlo services.

A walk-forward is validated here and run as many bounded django-q2 tasks
(``optimisation.walkforward_steps``): in-sample chunks in parallel, then each window's
out-of-sample test in order. Each loads the bars as a backtest would (a basket's members', as
a basket backtest would: ``_market``, ``markets``) and runs ``optimisation.walkforward``'s
steps (in-sample sweeps with the sweep's own chunk loop, out-of-sample tests of each winner).
A Monte Carlo resamples a finished backtest's trades with ``optimisation.montecarlo`` inline,
in the request: 10,000 paths of a few hundred trades take milliseconds (docs/optimisation.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from time import monotonic
from typing import Any

import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from execution.exceptions import BacktestInvalid
from execution.marketdata.exchanges import costs_or_default
from execution.models import Backtest, BacktestStatus
from execution.services.backtest_baskets import basket_entries, basket_member_config
from execution.services.backtests import backtest_bars
from execution.services.engine_setup import charges_model, engine_config, session_calendar
from execution.validation import backtest_range_errors
from optimisation import montecarlo, walkforward, walkforward_steps
from optimisation.exceptions import RobustnessConflict, RobustnessInvalid, SweepInvalid
from optimisation.markets import BasketMarket, InstrumentMarket, Market
from optimisation.models import (
    ChunkStatus,
    RobustnessKind,
    RobustnessRun,
    RobustnessStatus,
    SweepMethod,
    SweepObjective,
)
from optimisation.services import CANCEL_CHECK_SECONDS, _check_request
from optimisation.space import Space, SpaceInvalid, parse_space
from strategies import catalog
from strategies.models import Strategy
from strategies.services import strategy_config_snapshot

logger = structlog.get_logger(__name__)

WALK_FORWARD_METHODS = (SweepMethod.GRID, SweepMethod.RANDOM)
ACTIVE = (RobustnessStatus.QUEUED, RobustnessStatus.RUNNING)


def _limit(name: str) -> int:
    return settings.ALGOSAAS[name]


def _invalid(field: str, message: str) -> RobustnessInvalid:
    return RobustnessInvalid(message, fields={field: [message]})


def _space(config: dict[str, Any], raw: Any) -> Space:
    try:
        return parse_space(
            stype=catalog.get(config["strategy_type"]),
            raw=raw,
            fixed=config["params"],
            limit=_limit("MAX_SWEEP_COMBINATIONS"),
        )
    except SpaceInvalid as e:
        raise RobustnessInvalid(
            "The parameter space is invalid.", fields={"space": e.errors}
        ) from e


def _param_sets(space: Space, method: str, samples: int | None, seed: int) -> list[dict]:
    if method == SweepMethod.RANDOM:
        return space.sample(samples or 0, seed)[0]
    return space.grid()[0]


# ------------------------------------------------------------------------------ walk-forward


@transaction.atomic
def walk_forward_request(
    *,
    strategy: Strategy,
    user,
    space: Any,
    windows: int = 5,
    mode: str = "rolling",
    in_sample_ratio: float = 3.0,
    method: str = SweepMethod.GRID,
    objective: str = SweepObjective.RETURN,
    samples: int | None = None,
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
) -> RobustnessRun:
    """Validate a walk-forward of ``strategy``, split it into steps and queue them (on commit).

    Its in-sample chunks are queued at once; each window's out-of-sample test follows when its
    turn comes (``walkforward_steps``). ``request_token`` (``idempotency_token``) links the run
    to the API request's key.

    Raises ``RobustnessInvalid`` (400) naming the field, or the limit's setting
    (``MAX_WALK_FORWARD_WINDOWS``, ``MAX_WALK_FORWARD_BACKTESTS``,
    ``MAX_RUNNING_WALK_FORWARDS_PER_USER``, ``MAX_SWEEP_COMBINATIONS``).
    """
    if method not in WALK_FORWARD_METHODS:
        raise _invalid("method", f"Must be one of: {', '.join(WALK_FORWARD_METHODS)}.")
    if mode not in walkforward.MODES:
        raise _invalid("mode", f"Must be one of: {', '.join(walkforward.MODES)}.")
    max_windows = _limit("MAX_WALK_FORWARD_WINDOWS")
    if not 1 <= windows <= max_windows:
        raise _invalid("windows", f"From 1 to {max_windows} (MAX_WALK_FORWARD_WINDOWS).")
    if not 0 < in_sample_ratio <= 100:
        raise _invalid("in_sample_ratio", "Must be above 0 and at most 100.")
    try:
        _check_request(
            method=method,
            objective=objective,
            samples=samples,
            trials=None,
            max_dd=max_drawdown_pct,
        )
    except SweepInvalid as e:
        raise RobustnessInvalid(e.message, fields=e.fields) from e
    range_errors = backtest_range_errors(start=start, end=end)
    if range_errors:
        raise RobustnessInvalid("end: must not be before start.", fields=range_errors)
    charges, commission_pct = costs_or_default(
        strategy.instrument.exchange, charges, commission_pct
    )
    config = strategy_config_snapshot(strategy)
    parsed = _space(config, space)
    if parsed.size > _limit("MAX_SWEEP_COMBINATIONS"):
        raise _invalid("space", "More combinations than MAX_SWEEP_COMBINATIONS.")
    param_sets = _param_sets(parsed, method, samples, seed)
    if not param_sets:
        raise _invalid("space", "Every combination is refused by the strategy's rules.")
    budget = _limit("MAX_WALK_FORWARD_BACKTESTS")
    # a basket's in-sample run is one backtest per member: the task's time grows with them
    members = len(config.get("instruments") or ()) or 1
    if len(param_sets) * windows * members > budget:
        per = f" x {members} members" if members > 1 else ""
        raise RobustnessInvalid(
            f"{len(param_sets):,} parameter sets x {windows} windows{per} is more than {budget:,}.",
            fields={"MAX_WALK_FORWARD_BACKTESTS": [f"At most {budget:,} in-sample backtests."]},
        )
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    cap = _limit("MAX_RUNNING_WALK_FORWARDS_PER_USER")
    running = RobustnessRun.objects.filter(
        owner=user, kind=RobustnessKind.WALK_FORWARD, status__in=ACTIVE
    ).count()
    if running >= cap:
        raise RobustnessInvalid(
            f"You already have {running} walk-forwards queued or running.",
            fields={"MAX_RUNNING_WALK_FORWARDS_PER_USER": [f"At most {cap} at once."]},
        )
    run = RobustnessRun.objects.create(
        owner=user,
        kind=RobustnessKind.WALK_FORWARD,
        strategy=strategy,
        request={
            "config": config,
            "space": space,
            "windows": windows,
            "mode": mode,
            "in_sample_ratio": in_sample_ratio,
            "method": method,
            "objective": objective,
            "samples": samples,
            "seed": seed,
            "max_drawdown_pct": max_drawdown_pct,
            "start": start.isoformat() if start else None,
            "end": end.isoformat() if end else None,
            "capital": str(capital if capital is not None else strategy.capital),
            "charges": charges,
            "commission_pct": None if commission_pct is None else str(commission_pct),
            "slippage_bps": str(slippage_bps),
            "close_at_end": close_at_end,
        },
        request_token=request_token,
    )
    walkforward_steps.walk_forward_chunks_create(
        run=run, param_count=len(param_sets), members=members
    )
    transaction.on_commit(lambda: walkforward_steps.enqueue_chunks(run.pk))
    return run


def _market(run: RobustnessRun) -> Market:
    """The walk-forward's bars (loaded once, as a backtest would) and its engine configuration
    per capital: one instrument's, or a basket's members on their common timeline."""
    req = run.request
    config = req["config"]
    start = date.fromisoformat(req["start"]) if req["start"] else None
    end = date.fromisoformat(req["end"]) if req["end"] else None
    commission = None if req["commission_pct"] is None else Decimal(req["commission_pct"])
    charges = charges_model(charges=req["charges"], commission_pct=commission)
    slippage = Decimal(req["slippage_bps"])
    if config.get("instruments"):
        probe = Backtest(  # never saved: a basket backtest's loading and checks, bar for bar
            config=config,
            start=start,
            end=end,
            capital=Decimal(req["capital"]),
            charges=req["charges"],
            commission_pct=commission,
            slippage_bps=slippage,
            close_at_end=req["close_at_end"],
        )
        try:
            entries, _sources = basket_entries(probe, load=backtest_bars, prefix=f"wf{run.pk}")
        except BacktestInvalid as e:
            raise RobustnessInvalid(e.message, fields=e.fields) from e

        def member_config(capital: float, n: int) -> Any:
            return basket_member_config(
                snapshot=config,
                n=n,
                capital=Decimal(str(capital)),
                charges=charges,
                slippage_bps=slippage,
                close_at_end=req["close_at_end"],
                prefix=f"wf{run.pk}",
            )

        return BasketMarket(
            members=[bars for _config, bars in entries],
            labels=[f"{m['exchange']}:{m['symbol']}" for m in config["instruments"]],
            make_config=member_config,
        )
    bars, _source = backtest_bars(Backtest(config=config, start=start, end=end))  # never saved
    calendar = session_calendar(
        exchange=config["instrument"]["exchange"], timeframe=config["timeframe"]
    )

    def make_config(capital: float) -> Any:
        return engine_config(
            snapshot=config,
            capital=Decimal(str(capital)),
            charges=charges,
            slippage_bps=slippage,
            prefix=f"wf{run.pk}",
            close_at_end=req["close_at_end"],
            calendar=calendar,
        )

    return InstrumentMarket(bars=bars, make_config=make_config)


@transaction.atomic
def walk_forward_cancel(*, run: RobustnessRun) -> RobustnessRun:
    """Cancel a queued or running walk-forward (409 once it has finished, or for a Monte Carlo).

    Its pending chunks will not run; a running one notices within ``CANCEL_CHECK_SECONDS`` and
    stops, and no step writes to a run that is not running, so it ends without a report.
    """
    row = RobustnessRun.objects.select_for_update().get(pk=run.pk)
    if row.kind != RobustnessKind.WALK_FORWARD or row.status not in ACTIVE:
        what = "walk-forward" if row.kind == RobustnessKind.WALK_FORWARD else "Monte Carlo"
        raise RobustnessConflict(
            f"The {what} is {row.status.lower()}; only a queued or running walk-forward can be"
            " cancelled.",
            status=row.status,
        )
    row.status = RobustnessStatus.CANCELLED
    row.finished_at = timezone.now()
    row.save(update_fields=["status", "finished_at"])
    row.wf_chunks.filter(status=ChunkStatus.PENDING).update(status=ChunkStatus.CANCELLED)
    logger.info("walk_forward_cancelled", run_id=row.pk)
    return row


def _stop_check(run_id: int) -> Callable[[], bool]:
    """A ``should_stop`` for the walk-forward: looks whether the run was cancelled, at most
    once per ``CANCEL_CHECK_SECONDS``."""
    last = [monotonic()]

    def should_stop() -> bool:
        if monotonic() - last[0] < CANCEL_CHECK_SECONDS:
            return False
        last[0] = monotonic()
        return RobustnessRun.objects.filter(pk=run_id, status=RobustnessStatus.CANCELLED).exists()

    return should_stop


def walk_forward_run(*, run_id: int) -> str:
    """Run every step of the walk-forward still pending in this process (tests, an operator);
    the cluster runs them as separate tasks (``walkforward_steps``)."""
    return walkforward_steps.walk_forward_run(run_id=run_id)


# ------------------------------------------------------------------------------ Monte Carlo


def monte_carlo_request(
    *,
    backtest: Backtest,
    user,
    paths: int = 1000,
    seed: int = 0,
    method: str = "shuffle",
    ruin_equity_pct: float = 50.0,
    request_token: str = "",
) -> RobustnessRun:
    """Resample a finished backtest's trades (or bootstrap its bar returns) and store the
    report (inline: it takes ms). ``request_token`` links it to the API request's key.

    Raises ``RobustnessInvalid`` (400) naming the field or ``MAX_MONTE_CARLO_PATHS``, and
    ``RobustnessConflict`` (409) for a backtest that has not completed.
    """
    cap = _limit("MAX_MONTE_CARLO_PATHS")
    if not 1 <= paths <= cap:
        raise RobustnessInvalid(
            f"From 1 to {cap:,} paths.",
            fields={"paths": [f"From 1 to {cap:,} (MAX_MONTE_CARLO_PATHS)."]},
        )
    if method not in montecarlo.METHODS:
        raise _invalid("method", f"Must be one of: {', '.join(montecarlo.METHODS)}.")
    if not 0 <= ruin_equity_pct <= 100:
        raise _invalid("ruin_equity_pct", "Must be from 0 to 100.")
    if backtest.status != BacktestStatus.COMPLETE:
        raise RobustnessConflict(
            f"The backtest is {backtest.status.lower()}; only a complete one has its trades.",
            status=backtest.status,
        )
    if method == montecarlo.RETURNS_METHOD:
        series = list(backtest.equity.order_by("ts").values_list("equity", flat=True))
        unit = "bar returns"
    else:
        series = list(backtest.trades.order_by("seq").values_list("pnl", flat=True))
        unit = "trades"
    steps = _limit("MAX_MONTE_CARLO_STEPS")
    if paths * len(series) > steps:
        raise RobustnessInvalid(
            f"{paths:,} paths x {len(series):,} {unit} is more than {steps:,}; ask fewer paths.",
            fields={"MAX_MONTE_CARLO_STEPS": [f"At most {steps:,} paths x {unit}."]},
        )
    began = monotonic()
    if method == montecarlo.RETURNS_METHOD:
        report = montecarlo.monte_carlo_returns(
            equity=series,
            capital=backtest.capital,
            paths=paths,
            seed=seed,
            ruin_equity_pct=ruin_equity_pct,
        )
    else:
        report = montecarlo.monte_carlo(
            pnl=series,
            capital=backtest.capital,
            paths=paths,
            seed=seed,
            method=method,
            ruin_equity_pct=ruin_equity_pct,
        )
    seconds = monotonic() - began
    now = timezone.now()
    return RobustnessRun.objects.create(
        owner=user,
        kind=RobustnessKind.MONTE_CARLO,
        strategy_id=backtest.strategy_id,
        backtest=backtest,
        request={
            "paths": paths,
            "seed": seed,
            "method": method,
            "ruin_equity_pct": ruin_equity_pct,
        },
        report=report,
        status=RobustnessStatus.COMPLETE,
        seconds=seconds,
        started_at=now,
        finished_at=now,
        request_token=request_token,
    )
