"""Paper trading live: start a deployment, step it bar by bar, stop it, place manual orders.

A step (``deployment_step``) runs in ONE transaction holding the deployment's ``DeploymentState``
row lock (``skip_locked``): it loads the engine state, runs the same engine a backtest runs over
the bars that closed since the cursor, and writes the cursor, orders, order events, fills,
positions and equity points together, or nothing. A duplicate or redelivered step finds the row
locked (and skips) or the cursor already past its bars (and does nothing). Client order ids are
deterministic per deployment, bar and leg, under a unique constraint.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from algosaas.errors import Conflict, DomainError
from execution.brokers.base import InvalidOrderState, OrderNotFound, OrderRejected
from execution.engine.bars import BarSeries
from execution.engine.charges import IndiaEquityCharges
from execution.engine.config import EngineConfig
from execution.engine.orders import TERMINAL_STATUSES, OrderType, Side, order_next_status
from execution.engine.runner import Engine, RiskDenied, new_state
from execution.engine.state import OrderRecord, RunResult
from execution.marketdata.sources import ReplaySource, SyntheticSource, synthetic_key
from execution.marketdata.ticks import PRICE_QUANTUM
from execution.models import (
    DeploymentState,
    EquitySnapshot,
    Feed,
    Instrument,
    LivePhase,
    Order,
    OrderEvent,
    Position,
    Trade,
)
from execution.selectors import bar_series
from execution.services.bulk import bulk_update_rows
from execution.services.engine_setup import engine_config
from strategies import catalog
from strategies.exceptions import InvalidTransition
from strategies.models import TIMEFRAME_SECONDS, Deployment, DeploymentStatus
from strategies.services import strategy_fail

logger = structlog.get_logger(__name__)

PAISE = Decimal("0.01")
PRICE = PRICE_QUANTUM  # the price columns' 8 places: a price on any stored tick is kept exact
# Indicators see at most this many bars; exact for windowed indicators (SMA, Bollinger,
# Donchian), and long past convergence for the recursive ones (EMA, RSI).
MAX_HISTORY_BARS = 20_000
# A claimed deployment whose step has not run by then is claimed again (a lost task).
CLAIM_LEASE = timedelta(seconds=30)
MAX_STEP_FAILURES = 3
# Why a replay's close-out cancels an order still working after its last bar.
REPLAY_ENDED = "the replay has ended: no bar is left to fill it"


class DeploymentNotLive(Conflict):
    """Raised when a deployment no longer trades (stopped, failed or squaring off): HTTP 409."""

    code = "deployment_not_running"


class OrderNotOpen(Conflict):
    """Raised when cancelling or modifying an order that is already final: HTTP 409."""

    code = "order_not_open"


class OrderDenied(DomainError):
    """Raised when the risk gate refuses a modification (HTTP 422 with the rule)."""

    status_code = 422
    code = "risk_denied"


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


def _dt(ts: int | float) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=UTC)


def _money(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(PAISE)


def _price(x: float | None) -> Decimal | None:
    return None if x is None else Decimal(repr(float(x))).quantize(PRICE)


# ----------------------------------------------------------------------------- start


def deployment_start_live(
    deployment: Deployment,
    *,
    feed: str = Feed.SYNTHETIC,
    seconds_per_bar: float | None = None,
    now: datetime | None = None,
) -> DeploymentState:
    """Create the live state of a new deployment (inside the deploy transaction).

    On the synthetic feed the first bar traded is the one after the last bar closed at deploy
    time; earlier bars only warm the indicators up. A replay starts at the first stored bar.
    """
    snap = deployment.config
    stype = catalog.get(snap["strategy_type"])
    interval = TIMEFRAME_SECONDS[snap["timeframe"]]
    config = engine_config(
        snapshot=snap,
        capital=deployment.capital,
        charges=IndiaEquityCharges(),
        prefix=f"d{deployment.pk}",
        seed=deployment.pk,
    )
    state = new_state(config)
    now_ts = int((now or timezone.now()).timestamp())
    warmup = max(int(stype.warmup(snap["params"])), 1) * 3 + 10
    if feed == Feed.REPLAY:
        spb = float(seconds_per_bar or settings.ALGOSAAS["REPLAY_SECONDS_PER_BAR"])
        history = bar_series(
            instrument=Instrument(pk=snap["instrument"]["id"]), timeframe=snap["timeframe"]
        )
        if len(history) == 0:
            raise DomainError(
                "This instrument has no stored bars to replay at this timeframe.",
                fields={"feed": ["No stored bars to replay."]},
            )
        history_start = int(history.ts[0])
        next_due = now_ts + spb
        origin: int | None = now_ts
    else:
        source = _synthetic(snap, interval)
        state.cursor = source.last_closed_open(now_ts)
        history_start = state.cursor - warmup * interval
        next_due = source.next_close_after(state.cursor)
        origin, spb = None, None
    Position.objects.create(deployment=deployment, instrument=_instrument_ref(deployment))
    return DeploymentState.objects.create(
        deployment=deployment,
        feed=feed,
        interval_s=interval,
        replay_seconds_per_bar=spb,
        replay_origin_ts=origin,
        history_start_ts=history_start,
        engine_config=config.to_dict(),
        engine_state=state.to_dict(),
        cursor_ts=state.cursor,
        next_due_at=_dt(next_due),
    )


def _synthetic(snap: dict[str, Any], interval: int) -> SyntheticSource:
    inst = snap["instrument"]
    return SyntheticSource(
        instrument_key=synthetic_key(inst["exchange"], inst["symbol"]),
        interval_s=interval,
        tick_size=float(inst["tick_size"]),
    )


def _source(live: DeploymentState) -> SyntheticSource | ReplaySource:
    snap = live.deployment.config
    if live.feed == Feed.REPLAY:
        history = bar_series(
            instrument=Instrument(pk=snap["instrument"]["id"]), timeframe=snap["timeframe"]
        )
        return ReplaySource(history, live.replay_origin_ts, live.replay_seconds_per_bar)
    return _synthetic(snap, live.interval_s)


def _feed_now(live: DeploymentState, now_ts: int) -> int:
    """The feed's time at wall time ``now_ts``, for an order placed or changed between steps.

    The engine lets such an order meet only bars that open after this time, so it can never
    fill at a price from before it existed, even though the next step may still process
    bars that had opened (or even closed) before it. Synthetic bars are stamped with wall
    time. Replayed bars keep their historical timestamps and are released on the wall clock:
    the bar in progress at ``now_ts`` is the one after those released, and the order waits
    for the bar after that one.
    """
    if live.feed != Feed.REPLAY:
        return now_ts
    source = _source(live)
    ts = source.history.ts
    if len(ts) == 0:
        return now_ts
    return int(ts[min(source.released(now_ts), len(ts) - 1)])


def _engine(live: DeploymentState, *, trading: bool = True) -> Engine:
    snap = live.deployment.config
    strategy = catalog.get(snap["strategy_type"]) if trading else _NoSignals
    engine = Engine(
        EngineConfig.from_dict(live.engine_config),
        strategy,
        snap["params"] if trading else {},
        state=live.engine_state,
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
            for live in lives:
                try:
                    advances.append(_advance(live, now))
                except Exception as e:  # this deployment only; the others go on
                    failed[live.pk] = e
            _write(advances, now)
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
    result: RunResult | None = None
    halted: str | None = None
    restated: int | None = None  # a bar whose equity point the result writes again


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


def _advance(live: DeploymentState, now: datetime) -> _Advance:
    """Run the engine over the bars closed since the cursor; change ``live`` in memory only."""
    deployment = live.deployment
    now_ts = int(now.timestamp())
    trading = live.phase == LivePhase.RUNNING and deployment.status == DeploymentStatus.RUNNING
    source = _source(live)
    since = live.history_start_ts
    if isinstance(source, SyntheticSource):
        since = max(since, source.last_closed_open(now_ts) - MAX_HISTORY_BARS * live.interval_s)
    bars = source.closed_bars(since_ts=since, now_ts=now_ts)
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
    result = engine.close_out(bars, reason=REPLAY_ENDED) if closing else engine.run(bars)
    state = result.state
    live.engine_state = state.to_dict()
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
    return _Advance(live, outcome, result, result.halted_reason if trading else None, restated)


def _replay_ended(live: DeploymentState, now_ts: int, source: Any = None) -> bool:
    """Whether ``live`` replays stored bars and has released the last of them by ``now_ts``."""
    if live.feed != Feed.REPLAY:
        return False
    source = source or _source(live)
    return source.released(now_ts) >= len(source.history)


def _write(advances: list[_Advance], now: datetime) -> None:
    """Write computed steps: orders one deployment at a time (rare), the rest in bulk."""
    stepped = [a for a in advances if a.result is not None]
    for adv in stepped:
        deployment = adv.live.deployment
        _persist(deployment, _instrument_ref(deployment), adv.result, source="strategy")
        if adv.restated is not None:  # rare: a close-out on an already processed last bar
            EquitySnapshot.objects.filter(deployment=deployment, ts=_dt(adv.restated)).delete()
    _persist_ledgers(stepped)
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
    return _dt(max(source.next_close_after(cursor), now_ts + 1))


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
    if failures >= MAX_STEP_FAILURES:
        _fail_strategy(deployment_id, f"step failed {failures} times: {live.last_error}")


def _fail_strategy(deployment_id: int, reason: str) -> None:
    deployment = Deployment.objects.filter(pk=deployment_id).first()
    if deployment is None or deployment.status != DeploymentStatus.RUNNING:
        return
    with contextlib.suppress(InvalidTransition):  # stopped meanwhile: nothing left to fail
        strategy_fail(strategy_id=deployment.strategy_id, reason=reason)
    logger.warning("deployment_failed", deployment_id=deployment_id, reason=reason)


# ----------------------------------------------------------------------------- persistence


def _check_chain(start: str | None, events: list[Any], final: str) -> None:
    """Replay the status changes through the order transition table before writing them."""
    status = start
    for ev in events:
        if not ev.trigger:  # creation: PENDING, or DENIED by our risk gate
            if status is not None:
                raise ValueError(f"order {ev.client_order_id} created twice")
            status = ev.status
            continue
        status = order_next_status(status, ev.trigger)
    if status != final:
        raise ValueError(f"order status {status} from events differs from {final}")


def _persist(
    deployment: Deployment, instrument: Instrument, result: Any, *, source: str
) -> dict[str, Order]:
    """Write one run's orders, events and fills (caller's transaction); its orders by client id."""
    events_by_cid: dict[str, list[Any]] = {}
    for ev in result.events:
        events_by_cid.setdefault(ev.client_order_id, []).append(ev)
    cids = [r.client_order_id for r in result.orders]
    rows = {  # through the related manager, so each row knows its deployment without a query
        o.client_order_id: o for o in deployment.orders.filter(client_order_id__in=cids)
    }
    for rec in result.orders:
        row = rows.get(rec.client_order_id)
        evs = events_by_cid.get(rec.client_order_id, [])
        _check_chain(row.status if row else None, evs, rec.status)
        fields = _order_fields(rec)
        if row is None:
            rows[rec.client_order_id] = Order.objects.create(
                deployment=deployment,
                instrument=instrument,
                client_order_id=rec.client_order_id,
                source=source,
                created_at=_dt(rec.created_ts),
                **fields,
            )
        else:
            for k, v in fields.items():
                setattr(row, k, v)
            row.save(update_fields=list(fields))
    OrderEvent.objects.bulk_create(
        [
            OrderEvent(
                order=rows[ev.client_order_id],
                status=str(ev.status),
                broker_status=ev.raw_status,
                trigger=ev.trigger,
                message=ev.message[:500],
                payload=ev.payload or {},
                ts=_dt(ev.ts),
            )
            for ev in result.events
        ]
    )
    fills = getattr(result, "fills", [])
    if fills:
        Trade.objects.bulk_create(
            [
                Trade(
                    deployment=deployment,
                    order=rows[f.client_order_id],
                    fill_id=f.fill_id,
                    side=str(f.side),
                    quantity=f.quantity,
                    price=_price(f.price),
                    charges=_money(f.charges.total),
                    charges_breakdown=f.charges.to_dict(),
                    executed_at=_dt(f.ts),
                )
                for f in fills
            ]
        )
    return rows


def _order_fields(rec: OrderRecord) -> dict[str, Any]:
    return {
        "broker_order_id": rec.broker_order_id or "",
        "side": rec.side,
        "order_type": rec.order_type,
        "product": rec.product,
        "validity": rec.validity,
        "quantity": rec.quantity,
        "price": _price(rec.price),
        "trigger_price": _price(rec.trigger_price),
        "filled_quantity": rec.filled_quantity,
        "pending_quantity": rec.pending_quantity,
        "average_price": _price(rec.average_price) if rec.filled_quantity else None,
        "status": rec.status,
        "status_message": (rec.message or "")[:500],
        "broker_status": rec.raw_status or "",
        "denial_rule": rec.denial_rule or "",
        "updated_at": _dt(rec.updated_ts),
    }


def _instrument_ref(deployment: Deployment) -> Instrument:
    """The deployment's instrument as a foreign-key reference (no query: the id is in config)."""
    inst = deployment.config["instrument"]
    return Instrument(pk=inst["id"], exchange=inst["exchange"], symbol=inst["symbol"])


def _persist_ledgers(stepped: list[_Advance]) -> None:
    """Update each deployment's position and append its equity points, in bulk."""
    if not stepped:
        return
    positions = {
        p.deployment_id: p
        for p in Position.objects.filter(deployment_id__in=[a.live.pk for a in stepped])
    }
    updates: list[Position] = []
    creates: list[Position] = []
    points: list[EquitySnapshot] = []
    for adv in stepped:
        deployment = adv.live.deployment
        instrument = _instrument_ref(deployment)
        result = adv.result
        pos = result.state.ledger.position(instrument.symbol)
        curve = result.equity
        values = {
            "quantity": pos.qty,
            "average_price": _price(pos.avg_price) if pos.qty else Decimal("0"),
            "realised_pnl": _money(pos.realised_pnl),
            "last_price": _price(pos.last_price) if pos.last_price else None,
            "updated_at": _dt(curve.ts[-1]) if len(curve) else None,
        }
        row = positions.get(deployment.pk)
        if row is None:
            creates.append(Position(deployment=deployment, instrument=instrument, **values))
        else:
            for field, value in values.items():
                setattr(row, field, value)
            updates.append(row)
        points.extend(
            EquitySnapshot(
                deployment=deployment,
                ts=_dt(curve.ts[i]),
                cash=_money(curve.cash[i]),
                position_value=_money(curve.equity[i] - curve.cash[i]),
                equity=_money(curve.equity[i]),
            )
            for i in range(len(curve))
        )
    bulk_update_rows(Position, updates, _POSITION_FIELDS)
    if creates:
        Position.objects.bulk_create(creates)
    # A (deployment, ts) pair already written would violate the unique constraint and roll
    # the whole step back: no bar is ever processed twice.
    EquitySnapshot.objects.bulk_create(points, batch_size=2000)


_POSITION_FIELDS = ["quantity", "average_price", "realised_pnl", "last_price", "updated_at"]


# ----------------------------------------------------------------------------- stop / fail


def _lock_live(deployment: Deployment) -> DeploymentState | None:
    """Lock the run's live state; it is given the caller's ``deployment`` (no second read)."""
    live = DeploymentState.objects.select_for_update().filter(pk=deployment.pk).first()
    if live is not None:
        live.deployment = deployment
    return live


def deployment_stop_live(deployment: Deployment, *, square_off: bool) -> None:
    """Cancel open orders; with ``square_off``, place a market order closing the position.

    Runs inside the stop transaction, after any step in flight commits (the row lock waits).
    The square-off order fills at the next bar's open, in the next step. On a replay that has
    released its last bar there is no next bar: the position is closed at once, at the last
    bar's close, after the bars released since the last step are played out.
    """
    live = _lock_live(deployment)
    if live is None or live.phase == LivePhase.DONE:
        return
    engine = _engine(live, trading=False)
    now = timezone.now()
    now_ts = int(now.timestamp())
    records, events = _cancel_working(engine, now_ts)
    live.phase = LivePhase.DONE
    qty = engine.state.ledger.qty(deployment.config["instrument"]["symbol"])
    if square_off and qty and _replay_ended(live, now_ts):
        run = _ManualRun(records, events, [])
        _persist(deployment, _instrument_ref(deployment), run, source="strategy")
        live.engine_state = engine.state.to_dict()
        live.phase = LivePhase.SQUARING_OFF
        _write([_advance(live, now)], now)  # the close-out a step would make, ends DONE
        return
    if square_off and qty:
        res = engine.submit_order(
            client_order_id=f"d{deployment.pk}-sq-{engine.state.cursor}",
            side=Side.SELL if qty > 0 else Side.BUY,
            order_type=OrderType.MARKET,
            quantity=abs(qty),
            now_ts=now_ts,
            feed_ts=_feed_now(live, now_ts),
        )
        records.append(res.order)
        events.extend(res.events)
        if res.order.status not in TERMINAL_STATUSES:
            live.phase = LivePhase.SQUARING_OFF
    _save_manual(live, engine, records, events)


def deployment_halt_live(deployment: Deployment) -> None:
    """Cancel the open orders of a deployment that went to ERROR; it trades no more."""
    live = _lock_live(deployment)
    if live is None or live.phase == LivePhase.DONE:
        return
    engine = _engine(live, trading=False)
    records, events = _cancel_working(engine, int(timezone.now().timestamp()))
    live.phase = LivePhase.DONE
    _save_manual(live, engine, records, events)


def _cancel_working(engine: Engine, now_ts: int) -> tuple[list[OrderRecord], list[Any]]:
    records: list[OrderRecord] = []
    events: list[Any] = []
    for order in engine.state.broker.orders():
        if order.status in TERMINAL_STATUSES:
            continue
        res = engine.cancel_order(order.client_order_id, now_ts=now_ts)
        records.append(res.order)
        events.extend(res.events)
    return records, events


@dataclass
class _ManualRun:
    orders: list[OrderRecord]
    events: list[Any]
    fills: list[Any]


def _save_manual(
    live: DeploymentState,
    engine: Engine,
    records: list[OrderRecord],
    events: list[Any],
    *,
    source: str = "strategy",
) -> dict[str, Order]:
    deployment = live.deployment
    rows = _persist(
        deployment, _instrument_ref(deployment), _ManualRun(records, events, []), source=source
    )
    live.engine_state = engine.state.to_dict()
    live.save(update_fields=["engine_state", "phase"])
    return rows


# ----------------------------------------------------------------------------- manual orders


def _live_for_orders(deployment: Deployment) -> DeploymentState:
    live = _lock_live(deployment)
    if (
        live is None
        or live.phase != LivePhase.RUNNING
        or deployment.status != DeploymentStatus.RUNNING
    ):
        raise DeploymentNotLive(
            "This deployment is not running; orders can only be placed on a running one.",
            current_state=deployment.status,
        )
    return live


@transaction.atomic
def order_place(
    *,
    deployment: Deployment,
    side: str,
    order_type: str,
    quantity: int,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
    validity: str = "DAY",
    product: str | None = None,
    client_order_id: str | None = None,
) -> Order:
    """Place a manual order through the risk gate and the paper broker; it fills on later bars.

    "Later" means bars that open after the order is placed (``_feed_now``): a MARKET order
    fills at the next bar's open, never at the open of the bar in progress or of bars that
    closed since the last step.

    A refused order is still recorded (REJECTED by the broker or DENIED by the risk gate, with
    the reason), as a broker's order book would show it.
    """
    live = _live_for_orders(deployment)
    engine = _engine(live)
    cid = client_order_id or f"m{deployment.pk}-{uuid.uuid4().hex[:20]}"
    now_ts = int(timezone.now().timestamp())
    res = engine.submit_order(
        client_order_id=cid,
        side=side,
        order_type=order_type,
        quantity=quantity,
        price=None if price is None else float(price),
        trigger_price=None if trigger_price is None else float(trigger_price),
        product=product,
        validity=validity,
        now_ts=now_ts,
        feed_ts=_feed_now(live, now_ts),
    )
    rows = _save_manual(live, engine, [res.order], res.events, source="manual")
    return rows[res.order.client_order_id]


@transaction.atomic
def order_cancel(*, order: Order) -> Order:
    """Cancel an open order (409 if it is already final)."""
    live = _live_for_orders(order.deployment)
    engine = _engine(live)
    try:
        res = engine.cancel_order(order.client_order_id, now_ts=int(timezone.now().timestamp()))
    except (InvalidOrderState, OrderNotFound) as e:
        raise OrderNotOpen(
            f"The order is {order.status} and can no longer be cancelled.",
            current_state=order.status,
        ) from e
    _save_manual(live, engine, [res.order], res.events)
    order.refresh_from_db()
    return order


@transaction.atomic
def order_modify(
    *,
    order: Order,
    quantity: int | None = None,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
) -> Order:
    """Change an open order's quantity, price or trigger (409 if final, 422 if risk refuses)."""
    live = _live_for_orders(order.deployment)
    engine = _engine(live)
    now_ts = int(timezone.now().timestamp())
    try:
        res = engine.modify_order(
            order.client_order_id,
            now_ts=now_ts,
            feed_ts=_feed_now(live, now_ts),
            quantity=quantity,
            price=None if price is None else float(price),
            trigger_price=None if trigger_price is None else float(trigger_price),
        )
    except (InvalidOrderState, OrderNotFound) as e:
        raise OrderNotOpen(
            f"The order is {order.status} and can no longer be modified.",
            current_state=order.status,
        ) from e
    except RiskDenied as e:
        raise OrderDenied(e.denial.message, rule=e.denial.rule) from e
    except (OrderRejected, ValueError) as e:  # off tick, not above the filled part, funds
        sent = {"quantity": quantity, "price": price, "trigger_price": trigger_price}
        named = [f for f, v in sent.items() if v is not None] or ["quantity"]
        raise DomainError(str(e), fields={f: [str(e)] for f in named}) from e
    _save_manual(live, engine, [res.order], res.events)
    order.refresh_from_db()
    return order


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
        )

    def on_stop(self, deployment: Deployment, *, square_off: bool) -> None:
        deployment_stop_live(deployment, square_off=square_off)

    def on_fail(self, deployment: Deployment, *, reason: str) -> None:
        deployment_halt_live(deployment)
