"""Stopping a paper deployment: cancel its open orders and, if asked, square off its position.

Runs inside the lifecycle service's stop (or fail) transaction.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from execution.engine.orders import TERMINAL_STATUSES, OrderType, Side
from execution.engine.runner import Engine
from execution.engine.state import OrderRecord
from execution.models import LivePhase
from execution.services.live import (
    _advance,
    _engine,
    _lock_live,
    _replay_ended,
    _save_manual,
    _write,
)
from execution.services.live_basket import basket_stop_live, is_basket
from execution.services.live_feed import _feed_now
from execution.services.live_persist import _instrument_ref, _ManualRun, _persist, _save_books
from strategies.models import Deployment


def deployment_stop_live(deployment: Deployment, *, square_off: bool) -> str | None:
    """Cancel open orders; with ``square_off``, place a market order closing the position.

    Returns the live phase the stop leaves (``SQUARING_OFF`` while the square-off works,
    else ``DONE``; ``None`` without live state), which the runner's status event carries.

    Runs inside the stop transaction, after any step in flight commits (the row lock waits).
    The square-off order (``{prefix}-{cursor}-sq``, the engine's own leg format) fills at the
    next bar's open, in the next step. On a replay that has released its last bar there is no
    next bar: the position is closed at once, at the last bar's close, after the bars released
    since the last step are played out; a square-off already working is filled there, not
    replaced (``Engine.close_out``).
    """
    live = _lock_live(deployment)
    if live is None or live.phase == LivePhase.DONE:
        return None if live is None else live.phase
    if is_basket(live):
        basket_stop_live(live, square_off=square_off)
        return live.phase
    engine = _engine(live, trading=False)
    now = timezone.now()
    now_ts = int(now.timestamp())
    records, events = _cancel_working(engine, now_ts)
    live.phase = LivePhase.DONE
    qty = engine.state.ledger.qty(deployment.config["instrument"]["symbol"])
    if square_off and qty and _replay_ended(live, now_ts):
        run = _ManualRun(records, events, [])
        _persist(deployment, _instrument_ref(deployment), run, source="strategy")
        live.engine_state = engine.state.to_dict(book=False)
        _save_books([(live, engine.state.broker.changed_records())])  # the step loads them
        live.phase = LivePhase.SQUARING_OFF
        _write([_advance(live, now)], now)  # the close-out a step would make, ends DONE
        return live.phase
    if square_off and qty:
        res = engine.submit_order(
            client_order_id=engine.leg_id(engine.state.cursor, "sq"),
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
    return live.phase


def deployment_halt_live(deployment: Deployment) -> str | None:
    """Cancel the open orders of a deployment that went to ERROR; it trades no more.

    Returns the live phase it leaves (``DONE``; ``None`` without live state)."""
    live = _lock_live(deployment)
    if live is None or live.phase == LivePhase.DONE:
        return None if live is None else live.phase
    if is_basket(live):
        basket_stop_live(live, square_off=False, best_effort=True)
        return live.phase
    engine = _engine(live, trading=False)
    records, events = _cancel_working(engine, int(timezone.now().timestamp()))
    live.phase = LivePhase.DONE
    _save_manual(live, engine, records, events, best_effort=True)
    return live.phase


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
