"""Paper trading live: start a deployment and step it bar by bar.

A step (``deployment_step``) runs in ONE transaction holding the deployment's ``DeploymentState``
row lock (``skip_locked``): it loads the engine state, runs the same engine a backtest runs over
the bars that closed since the cursor, and writes the cursor, orders, order events, fills,
positions and equity points together, or nothing. A duplicate or redelivered step finds the row
locked (and skips) or the cursor already past its bars (and does nothing). Client order ids are
deterministic per deployment, bar and leg, under a unique constraint.

Manual orders are in ``live_orders``, stop and square-off in ``live_stop``, the feeds and their
clocks in ``live_feed``, the writing of a run's rows in ``live_persist``; the public names of
the first two are importable from here too (lazily: those modules build on this one).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from algosaas.errors import DomainError
from execution.brokers.base import BrokerError
from execution.engine.bars import BarSeries
from execution.engine.config import EngineConfig
from execution.engine.runner import Engine, new_state
from execution.engine.state import EngineState, OrderRecord, RunResult
from execution.marketdata.sources import (
    BrokerSource,
    ReplaySource,
    SyntheticSource,
)
from execution.models import (
    DeploymentState,
    EquitySnapshot,
    Feed,
    LivePhase,
    Order,
    Position,
    TradingMode,
)
from execution.push import events as push
from execution.services import live_basket
from execution.services.bulk import bulk_update_rows
from execution.services.engine_setup import (
    default_charges_model,
    engine_config,
)
from execution.services.live_feed import (
    _feed_calendar,
    _live_source,
    _replay_history,
    _source,
)
from execution.services.live_persist import (
    _book,
    _dt,
    _instrument_ref,
    _ManualRun,
    _persist,
    _persist_ledgers,
    _save_books,
)
from execution.services.live_persist_batch import persist_paper_batch
from execution.services.live_route import (
    BrokerUnavailable,
    live_routing,
    live_session_lost,
    route_orders,
    sync_bracket_legs,
)
from execution.services.live_shared import SharedSignals, StepShare
from notifications.services import notify_deployment
from strategies import catalog
from strategies.exceptions import InvalidTransition
from strategies.models import TIMEFRAME_SECONDS, Deployment, DeploymentStatus
from strategies.services import strategy_fail

logger = structlog.get_logger(__name__)

# Indicators see at most this many bars: enough for windowed indicators (SMA, Bollinger,
# Donchian) to see every bar they need, and long past convergence for the recursive ones (EMA,
# RSI). pandas' running sum makes an SMA's last ulp depend on where the window starts, which
# can only matter on a bar where two averages tie exactly.
MAX_HISTORY_BARS = 20_000
# A claimed deployment whose step has not run by then is claimed again (a lost task).
CLAIM_LEASE = timedelta(seconds=30)
MAX_STEP_FAILURES = 3
# Why a replay's close-out cancels an order still working after its last bar.
REPLAY_ENDED = "the replay has ended: no bar is left to fill it"


class _NoSignals:
    """A strategy that never decides: used while squaring off after a stop."""

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        return np.full(len(bars), np.nan)


@dataclass(frozen=True)
class StepOutcome:
    deployment_id: int
    status: str  # "skipped" (locked/finished), "idle" (no new bar), "stepped", "failed"
    bars: int = 0
    orders: int = 0
    fills: int = 0


# ----------------------------------------------------------------------------- start


def deployment_start_live(
    deployment: Deployment,
    *,
    feed: str = Feed.SYNTHETIC,
    seconds_per_bar: float | None = None,
    now: datetime | None = None,
    live: dict[str, Any] | None = None,
) -> DeploymentState:
    """Create the live state of a new deployment (inside the deploy transaction).

    ``live`` (``{"mode": "live", "broker_account": id, "algo_id": ...}``, from the deploy's
    confirmed request) sends its orders to that linked account, checked here: the owner's,
    and logged in now (``live_route.live_account_check``).

    On the synthetic feed the first bar traded is the one after the last bar closed at deploy
    time; earlier bars only warm the indicators up. A replay starts at the first stored bar.
    """
    if deployment.config.get("instruments"):  # a basket: one engine per member
        return live_basket.basket_start_live(deployment, feed, seconds_per_bar, now, live)
    position, state = deployment_live_rows(
        deployment, feed=feed, seconds_per_bar=seconds_per_bar, now=now, live=live
    )
    position.save()
    state.save(force_insert=True)
    return state


def deployment_live_rows(
    deployment: Deployment,
    *,
    feed: str = Feed.SYNTHETIC,
    seconds_per_bar: float | None = None,
    now: datetime | None = None,
    live: dict[str, Any] | None = None,
) -> tuple[Position, DeploymentState]:
    """The unsaved position and live state ``deployment_start_live`` writes for one
    single-instrument deployment: built apart so a caller starting many at once (the live
    benchmark's bulk fixture) writes them with ``bulk_create`` and the same contents."""
    snap = deployment.config
    routing = live_routing(deployment, live)  # checked before anything is created
    stype = catalog.get(snap["strategy_type"])
    interval = TIMEFRAME_SECONDS[snap["timeframe"]]
    calendar = _feed_calendar(feed, snap)
    config = engine_config(
        snapshot=snap,
        capital=deployment.capital,
        charges=default_charges_model(snap["instrument"]["exchange"]),
        prefix=f"d{deployment.pk}",
        seed=deployment.pk,
        calendar=calendar,
        market_protection_pct=settings.ALGOSAAS["MARKET_PROTECTION_PCT"],
    )
    state = new_state(config)
    now_ts = int((now or timezone.now()).timestamp())
    warmup = max(int(stype.warmup(snap["params"])), 1) * 3 + 10
    if feed == Feed.REPLAY:
        spb = float(seconds_per_bar or settings.ALGOSAAS["REPLAY_SECONDS_PER_BAR"])
        history = _replay_history(snap, calendar)
        if len(history) == 0:
            raise DomainError(
                "This instrument has no stored bars to replay at this timeframe.",
                fields={"feed": ["No stored bars to replay."]},
            )
        history_start = int(history.ts[0])
        next_due = now_ts + spb
        origin: int | None = now_ts
    else:
        source = _live_source(feed, snap, interval, calendar)
        state.cursor = source.last_closed_open(now_ts)
        history_start = state.cursor - source.warmup_span(warmup)
        next_due = source.next_close_after(state.cursor)
        origin, spb = None, None
    position = Position(deployment=deployment, instrument=_instrument_ref(deployment))
    return position, DeploymentState(
        deployment=deployment,
        feed=feed,
        interval_s=interval,
        replay_seconds_per_bar=spb,
        replay_origin_ts=origin,
        history_start_ts=history_start,
        engine_config=config.to_dict(),
        engine_state=state.to_dict(book=False),
        cursor_ts=state.cursor,
        next_due_at=_dt(next_due),
        **routing,
    )


def _engine(
    live: DeploymentState, *, trading: bool = True, cids: list[str] | None = None
) -> Engine:
    """The deployment's engine from its saved state and the paper broker's order records.

    A step (and a stop) loads every working order. With ``cids`` only the orders with those
    client ids are loaded (a manual call's own order, if it exists): the others are counted
    from the state's summary, so the call costs the same however many orders are open.
    """
    live_basket.refuse_manual(live)
    snap = live.deployment.config
    strategy = catalog.get(snap["strategy_type"]) if trading else _NoSignals
    state = EngineState.from_dict(
        live.engine_state, _book(live, cids=cids), partial=cids is not None
    )
    engine = Engine(
        EngineConfig.from_dict(live.engine_config),
        strategy,
        snap["params"] if trading else {},
        state=state,
    )
    if not trading:
        # A decision the strategy took at the last close before the stop must not become an
        # order at the next open (it would re-open a position the square-off just closed).
        engine.state.pending = False
    return engine


# ----------------------------------------------------------------------------- step


def deployment_step(*, deployment_id: int, now: datetime | None = None) -> StepOutcome:
    """Process every bar of one deployment that closed since its cursor, exactly once."""
    return deployments_step(deployment_ids=[deployment_id], now=now)[0]


def deployments_step(
    *, deployment_ids: list[int], now: datetime | None = None
) -> list[StepOutcome]:
    """Step many deployments in one transaction: run each engine, then write all in bulk.

    Rows another worker holds are skipped (``skip_locked``): that worker is stepping them. A
    deployment whose engine raises is recorded as failed and the others go on; if the bulk
    write itself fails, each deployment is retried on its own so one bad row cannot hold the
    others back. Bulk writes keep a step to a handful of queries per chunk, not per deployment.
    """
    now = now or timezone.now()
    outcomes: dict[int, StepOutcome] = {}
    failed: dict[int, Exception] = {}
    advances: list[_Advance] = []
    try:
        with transaction.atomic():
            lives = (
                DeploymentState.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("deployment")
                .filter(pk__in=deployment_ids)
                .exclude(phase=LivePhase.DONE)
            )
            lives = list(lives)
            squaring = {live.pk for live in lives if live.phase == LivePhase.SQUARING_OFF}
            shared = StepShare.prepare(lives, now, _window)
            for live in lives:
                try:
                    advances.append(_advance(live, now, shared))
                except Exception as e:  # this deployment only; the others go on
                    failed[live.pk] = e
            _write(advances, now)
            for adv in advances:  # a stop's square-off filled: the run is over, say so
                if adv.live.pk in squaring and adv.live.phase == LivePhase.DONE:
                    push.publish_status(adv.live.deployment, LivePhase.DONE)
            if any(a.outcome.orders for a in advances):
                _pause_point("step-before-commit")
    except Exception as e:
        if len(deployment_ids) > 1:
            logger.exception("step_batch_failed_retrying_singly", size=len(deployment_ids))
            return [deployment_step(deployment_id=pk, now=now) for pk in deployment_ids]
        logger.exception("deployment_step_failed", deployment_id=deployment_ids[0])
        _record_failure(deployment_ids[0], e, now)
        return [StepOutcome(deployment_ids[0], "failed")]
    for pk, error in failed.items():
        logger.error("deployment_step_failed", deployment_id=pk, exc_info=error)
        _record_failure(pk, error, now)
        outcomes[pk] = StepOutcome(pk, "failed")
    for adv in advances:
        outcomes[adv.live.pk] = adv.outcome
        if adv.halted:
            _fail_strategy(adv.live.pk, adv.halted)
    return [outcomes.get(pk, StepOutcome(pk, "skipped")) for pk in deployment_ids]


@dataclass
class _Advance:
    """One deployment's step, computed and not yet written."""

    live: DeploymentState
    outcome: StepOutcome
    result: RunResult | live_basket.BasketStep | None = None
    halted: str | None = None
    restated: int | None = None  # a bar whose equity point the result writes again
    book: list[dict[str, Any]] = field(default_factory=list)  # order records to write
    basket: bool = False  # ``result`` is a ``live_basket.BasketStep``
    closes: dict[int, float] = field(default_factory=dict)  # bar open ts -> close (live mode)


# What a step changes on ``DeploymentState``; an idle step moves only ``next_due_at``.
_STEPPED_FIELDS = [
    "engine_state",
    "cursor_ts",
    "steps",
    "bars_processed",
    "failures",
    "last_error",
    "last_step_at",
    "phase",
    "next_due_at",
]


def _pause_point(name: str) -> None:
    """Fault tests only: hold a step here while ``ALGOSAAS["TEST_PAUSE_FILE"]`` exists.

    The first process to get here creates ``<file>.reached`` holding its pid and waits (60 s at
    most) for the test to kill it or delete the file; any other passes. Unset outside tests.
    """
    path = settings.ALGOSAAS.get("TEST_PAUSE_FILE")
    if not path or not os.path.exists(path):
        return
    try:
        fd = os.open(f"{path}.reached", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "w") as f:
        f.write(f"{os.getpid()} {name}\n")
    deadline = time.monotonic() + 60
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def _window(live: DeploymentState, now_ts: int) -> tuple[Any, int]:
    """The deployment's bar source and the open time of the first bar its indicators see."""
    source = _source(live)
    since = live.history_start_ts
    if isinstance(source, SyntheticSource | BrokerSource):
        since = max(since, source.last_closed_open(now_ts) - MAX_HISTORY_BARS * live.interval_s)
    return source, since


def _advance(live: DeploymentState, now: datetime, shared: StepShare | None = None) -> _Advance:
    """Run the engine over the bars closed since the cursor; change ``live`` in memory only."""
    if live_basket.is_basket(live):
        return live_basket.basket_advance(live, now)
    deployment = live.deployment
    now_ts = int(now.timestamp())
    trading = live.phase == LivePhase.RUNNING and deployment.status == DeploymentStatus.RUNNING
    shared = shared or StepShare()
    window = shared.windows.get(live.pk)
    source, since = window if window is not None else _window(live, now_ts)
    bars, bars_key = shared.bars.closed_bars(source, since_ts=since, now_ts=now_ts)
    cursor = live.cursor_ts
    fresh = (
        len(bars)
        if cursor is None
        else len(bars) - int(np.searchsorted(bars.ts, cursor, side="right"))
    )
    # Squaring off on a replay that has released its last bar: no bar will ever open again to
    # fill the square-off, so the position is closed at the last bar's close instead.
    closing = live.phase == LivePhase.SQUARING_OFF and _replay_ended(live, now_ts, source)
    if fresh <= 0 and not closing:
        live.next_due_at = _next_due(live, source, now_ts)
        return _Advance(live, StepOutcome(deployment.pk, "idle"))

    engine = _engine(live, trading=trading)
    if trading and bars_key is not None:  # equal parameters over the same bars: one signals()
        engine.strategy = SharedSignals(engine.strategy, shared.signals, bars_key)
    result = engine.close_out(bars, reason=REPLAY_ENDED) if closing else engine.run(bars)
    state = result.state
    live.engine_state = state.to_dict(book=False)
    live.cursor_ts = state.cursor
    live.steps += 1
    live.bars_processed += result.bars_processed
    live.failures = 0
    live.last_error = ""
    live.last_step_at = now
    if live.phase == LivePhase.SQUARING_OFF and not state.broker.has_working():
        live.phase = LivePhase.DONE
    live.next_due_at = _next_due(live, source, now_ts)
    outcome = StepOutcome(
        deployment.pk, "stepped", result.bars_processed, len(result.orders), len(result.fills)
    )
    # with no bar left to process, the close is booked on the last one: its point is restated
    restated = cursor if closing and fresh <= 0 else None
    halted = result.halted_reason if trading else None
    adv = _Advance(live, outcome, result, halted, restated, state.broker.changed_records())
    if live.mode == TradingMode.LIVE:  # its equity is marked on the broker's position
        adv.closes = dict(zip(bars.ts.tolist(), bars.close.tolist(), strict=True))
    return adv


def _replay_ended(live: DeploymentState, now_ts: int, source: Any = None) -> bool:
    """Whether ``live`` replays stored bars and has released the last of them by ``now_ts``."""
    if live.feed != Feed.REPLAY:
        return False
    source = source or _source(live)
    return source.released(now_ts) >= len(source.history)


def _write(advances: list[_Advance], now: datetime) -> None:
    """Write computed steps: orders one deployment at a time (rare), the rest in bulk."""
    stepped = [a for a in advances if a.result is not None]
    single = [a for a in stepped if not a.basket]
    paper = [a for a in single if a.live.mode != TradingMode.LIVE and a.restated is None]
    persist_paper_batch([(a.live.deployment, a.result) for a in paper])
    batched = {id(a) for a in paper}
    for adv in single:
        if id(adv) in batched:
            continue
        deployment = adv.live.deployment
        _persist(deployment, _instrument_ref(deployment), adv.result, source="strategy")
        exchange = deployment.config["instrument"]["exchange"]  # BSE:INFY is not NSE's
        route_orders(adv.live, adv.result.orders, adv.result.events, exchange=exchange)
        sync_bracket_legs(adv.live)  # live mode: one-cancels-other from the broker's fills
        if adv.restated is not None:  # rare: a close-out on an already processed last bar
            EquitySnapshot.objects.filter(deployment=deployment, ts=_dt(adv.restated)).delete()
    _persist_ledgers(single)
    live_basket.basket_write([a for a in stepped if a.basket])
    _save_books([(a.live, a.book) for a in stepped])
    bulk_update_rows(
        DeploymentState, [a.live for a in advances if a.result is None], ["next_due_at"]
    )
    bulk_update_rows(DeploymentState, [a.live for a in stepped], _STEPPED_FIELDS)


def _next_due(live: DeploymentState, source: Any, now_ts: int) -> datetime:
    if isinstance(source, ReplaySource):
        k = source.released(now_ts)
        if k >= len(source.history):
            return _dt(now_ts + 3600)  # the replay is over; nothing more will close
        return datetime.fromtimestamp(source.release_time(k), tz=UTC)
    cursor = live.cursor_ts if live.cursor_ts is not None else source.last_closed_open(now_ts)
    poll = getattr(source, "poll_s", 1)  # the broker's bars arrive when the ticker writes them
    return _dt(max(source.next_close_after(cursor), now_ts + poll))


def _record_failure(deployment_id: int, error: Exception, now: datetime) -> None:
    """Count a failed step; after ``MAX_STEP_FAILURES`` in a row the strategy goes to ERROR."""
    with transaction.atomic():
        live = DeploymentState.objects.select_for_update().filter(pk=deployment_id).first()
        if live is None:
            return
        live.failures += 1
        live.last_error = f"{type(error).__name__}: {error}"[:2000]
        live.next_due_at = now + timedelta(seconds=5 * live.failures)
        live.save(update_fields=["failures", "last_error", "next_due_at"])
        failures = live.failures
        live_session_lost(live, error)
    if failures >= MAX_STEP_FAILURES:
        _fail_strategy(deployment_id, f"step failed {failures} times: {live.last_error}")


def _fail_strategy(deployment_id: int, reason: str) -> None:
    deployment = Deployment.objects.filter(pk=deployment_id).first()
    if deployment is None or deployment.status != DeploymentStatus.RUNNING:
        return
    with contextlib.suppress(InvalidTransition):  # stopped meanwhile: nothing left to fail
        strategy_fail(strategy_id=deployment.strategy_id, reason=reason)
    logger.warning("deployment_failed", deployment_id=deployment_id, reason=reason)


# ----------------------------------------------------------------------------- for manual calls


def _lock_live(deployment: Deployment) -> DeploymentState | None:
    """Lock the run's live state; it is given the caller's ``deployment`` (no second read)."""
    live = DeploymentState.objects.select_for_update().filter(pk=deployment.pk).first()
    if live is not None:
        live.deployment = deployment
    return live


def _save_manual(
    live: DeploymentState,
    engine: Engine,
    records: list[OrderRecord],
    events: list[Any],
    *,
    source: str = "strategy",
    best_effort: bool = False,
) -> dict[str, Order]:
    """Write a manual call's orders and events and the engine's new state (caller's lock).

    A live deployment sends them to its broker (``live_route``); a broker that refuses or does
    not answer is a 502 to the person asking, and nothing is written. ``best_effort`` (a halt):
    the broker's failures are logged, the halt goes on.
    """
    deployment = live.deployment
    rows = _persist(
        deployment, _instrument_ref(deployment), _ManualRun(records, events, []), source=source
    )
    try:
        exchange = deployment.config["instrument"]["exchange"]
        route_orders(live, records, events, best_effort=best_effort, exchange=exchange)
    except BrokerError as exc:
        refused = BrokerUnavailable(f"The broker refused or did not answer: {exc}")
        refused.live = live
        raise refused from exc
    live.engine_state = engine.state.to_dict(book=False)
    live.save(update_fields=["engine_state", "phase"])
    _save_books([(live, engine.state.broker.changed_records())])
    return rows


# ----------------------------------------------------------------------------- dispatch


def deployments_claim_due(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Claim deployments whose next bar has closed; push their due time out by a lease."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(
            DeploymentState.objects.select_for_update(skip_locked=True)
            .filter(phase__in=[LivePhase.RUNNING, LivePhase.SQUARING_OFF], next_due_at__lte=now)
            .order_by("next_due_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            DeploymentState.objects.filter(pk__in=ids).update(next_due_at=now + CLAIM_LEASE)
    return ids


class PaperRunner:
    """The deployment runner for paper trading (``settings.ALGOSAAS["DEPLOYMENT_RUNNER"]``)."""

    def on_deploy(self, deployment: Deployment) -> None:
        feed = deployment.config.get("feed") or {}
        deployment_start_live(
            deployment,
            feed=feed.get("kind", Feed.SYNTHETIC),
            seconds_per_bar=feed.get("seconds_per_bar"),
            live=deployment.config.get("live"),
        )

    def on_stop(self, deployment: Deployment, *, square_off: bool) -> None:
        phase = _lazy("deployment_stop_live")(deployment, square_off=square_off)
        notify_deployment(deployment, failed=False)  # sent after the stop commits
        push.publish_status(deployment, phase)  # sockets, after the commit

    def on_fail(self, deployment: Deployment, *, reason: str) -> None:
        phase = _lazy("deployment_halt_live")(deployment)
        notify_deployment(deployment, failed=True, reason=reason)  # sent after the commit
        push.publish_status(deployment, phase)


# Names of the modules built on this one, importable from here as before the split. They are
# looked up on first use (PEP 562): those modules import this one, so importing them at the top
# would be circular.
_REEXPORTS = {
    "DeploymentNotLive": "execution.services.live_orders",
    "OrderDenied": "execution.services.live_orders",
    "OrderNotOpen": "execution.services.live_orders",
    "order_cancel": "execution.services.live_orders",
    "order_modify": "execution.services.live_orders",
    "order_place": "execution.services.live_orders",
    "deployment_halt_live": "execution.services.live_stop",
    "deployment_stop_live": "execution.services.live_stop",
}


def _lazy(name: str) -> Any:
    return getattr(importlib.import_module(_REEXPORTS[name]), name)


def __getattr__(name: str) -> Any:
    if name in _REEXPORTS:
        return _lazy(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLAIM_LEASE",
    "MAX_HISTORY_BARS",
    "MAX_STEP_FAILURES",
    "REPLAY_ENDED",
    "PaperRunner",
    "StepOutcome",
    "deployment_live_rows",
    "deployment_start_live",
    "deployment_step",
    "deployments_claim_due",
    "deployments_step",
    *_REEXPORTS,
]
