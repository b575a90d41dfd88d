"""Applying a broker's order update to our ``Order``: the one path postbacks, placement
answers and the reconciliation job share.

For a live deployment the broker is authoritative for every order it was sent: its status,
filled quantity, average price, its fills (``Trade`` rows) and so the deployment's
``Position``. The change goes through the order transition table
(``execution.engine.orders``), one ``OrderEvent`` per trigger, in one transaction with the
order row locked, so two updates of the same order never interleave.

Updates arrive in any order and any number of times, so each is compared with what we hold:

- more filled than we know: the difference is one ``Trade`` (priced so the order's average
  matches the broker's), then the status follows;
- the same filled quantity and status: nothing changes (``unchanged``);
- less filled, or a status the table cannot reach from ours (an ``OPEN`` after the
  ``COMPLETE``): an older report, ignored (``stale``).

A fill's id is ``<vendor>:<broker order id>:<cumulative filled quantity>``: the same fill
reported by a postback and found again by the reconciliation is one row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from brokers.reports import BrokerReport
from execution.engine.orders import (
    TERMINAL_STATUSES,
    InvalidOrderTransition,
    OrderStatus,
    OrderTrigger,
    order_next_status,
)
from execution.marketdata.ticks import PRICE_QUANTUM
from execution.models import BrokerOrderLink, Order, OrderEvent, Position, Trade
from execution.push import events as push
from execution.services.engine_setup import default_charges_model
from notifications.models import EventKind
from notifications.services import emit_for_deployment

log = structlog.get_logger(__name__)

S, T = OrderStatus, OrderTrigger
_FINAL = frozenset(str(s) for s in TERMINAL_STATUSES)
_END_TRIGGER = {S.CANCELLED: T.CANCEL, S.REJECTED: T.REJECT, S.EXPIRED: T.EXPIRE}

APPLIED, UNCHANGED, STALE, NO_ORDER = "applied", "unchanged", "stale", "no_order"


@dataclass(frozen=True, slots=True)
class Applied:
    """What applying one report did: the outcome and the fill it booked, if any."""

    outcome: str
    fill_quantity: int = 0


def _price(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(PRICE_QUANTUM)


def triggers_for(current: str, filled: int, report: BrokerReport, quantity: int) -> list[str]:
    """The triggers that move an order from ``current`` (``filled`` done) to the report.

    Empty when nothing changes; ``InvalidOrderTransition`` when the report is older than us.
    """
    target = S(report.status)
    new_fill = report.filled_quantity > filled
    if report.filled_quantity < filled or report.filled_quantity > quantity:
        # older than ours; or more than we know the order is for (a quantity changed at the
        # broker by hand): left for a person, never guessed
        raise InvalidOrderTransition(current, T.FILL_PARTIAL)
    if new_fill and report.average_price <= 0:  # a fill without its price: the order book's
        raise InvalidOrderTransition(current, T.FILL)  # (reconciliation) books it, not a guess
    if current in _FINAL:
        if current == target and not new_fill:
            return []
        raise InvalidOrderTransition(current, _END_TRIGGER.get(target, T.FILL))
    out: list[str] = []
    if new_fill:
        done = target == S.COMPLETE or report.filled_quantity >= quantity
        out.append(T.FILL if done else T.FILL_PARTIAL)
        if target in _END_TRIGGER:
            out.append(_END_TRIGGER[target])
        return out
    if target == current or (target == S.OPEN and current == S.PARTIALLY_FILLED):
        return []
    if target in _END_TRIGGER:
        return [_END_TRIGGER[target]]
    if target == S.OPEN and current == S.PENDING:
        return [T.ACCEPT]
    if target == S.TRIGGER_PENDING and current == S.PENDING:
        return [T.ACCEPT_STOP]
    if target == S.OPEN and current == S.TRIGGER_PENDING:
        return [T.TRIGGER]
    if target == S.COMPLETE:  # COMPLETE with no fill reported: nothing to book, keep ours
        raise InvalidOrderTransition(current, T.FILL)
    raise InvalidOrderTransition(current, T.ACCEPT)  # PENDING after OPEN and the like


def link_for(account_id: int, report: BrokerReport) -> BrokerOrderLink | None:
    """The live order of ``account_id`` the report is about: by the broker's id, else tag."""
    links = BrokerOrderLink.objects.select_related("live").filter(
        live__broker_account_id=account_id
    )
    link = links.filter(broker_order_id=report.broker_order_id).first()
    if link is None and report.tag:
        link = links.filter(tag=report.tag).order_by("-sent_at").first()
    return link


def apply_report(
    *, link: BrokerOrderLink, report: BrokerReport, vendor: str, source: str
) -> Applied:
    """Bring the order ``link`` names to what ``report`` says (module docstring)."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update()
            .filter(deployment_id=link.live_id, client_order_id=link.client_order_id)
            .first()
        )
        if order is None:
            return Applied(NO_ORDER)
        try:
            triggers = triggers_for(order.status, order.filled_quantity, report, order.quantity)
        except InvalidOrderTransition as exc:
            log.info(
                "broker_report_stale",
                order_id=order.pk,
                broker_order_id=report.broker_order_id,
                ours=order.status,
                theirs=report.status,
                reason=str(exc),
                source=source,
            )
            return Applied(STALE)
        if not triggers:
            return Applied(UNCHANGED)
        return _apply(order, link, report, triggers, vendor=vendor, source=source)


def _apply(
    order: Order,
    link: BrokerOrderLink,
    report: BrokerReport,
    triggers: list[str],
    *,
    vendor: str,
    source: str,
) -> Applied:
    # An order's audit trail runs on the market (bar) clock of the engine that made it: the
    # broker's change is stamped with the order's latest market time, so it sorts after
    # everything before it; when we learnt it (wall clock) goes in the payload.
    now = timezone.now()
    ts = order.updated_at or now
    status = order.status
    events = []
    for trigger in triggers:
        status = order_next_status(status, trigger)
        events.append(
            OrderEvent(
                order=order,
                status=str(status),
                broker_status=report.raw_status,
                trigger=str(trigger),
                message=(report.message or f"from the broker's {source}")[:500],
                payload={
                    **_jsonable(report.payload),
                    "source": source,
                    "received_at": now.isoformat(),
                },
                ts=ts,
            )
        )
    delta = report.filled_quantity - order.filled_quantity
    if delta > 0:
        _book_fill(order, report, delta, vendor=vendor, now=now)
    order.status = str(status)
    order.filled_quantity = report.filled_quantity
    order.pending_quantity = 0 if status in _FINAL else order.quantity - report.filled_quantity
    if report.filled_quantity:
        order.average_price = _price(report.average_price)
    order.broker_status = report.raw_status
    order.broker_order_id = report.broker_order_id
    if report.message:
        order.status_message = report.message
    order.save(
        update_fields=[
            "status",
            "filled_quantity",
            "pending_quantity",
            "average_price",
            "broker_status",
            "broker_order_id",
            "status_message",
        ]
    )
    OrderEvent.objects.bulk_create(events)
    push.publish_order_events(order.deployment_id, events)  # the live page, after commit
    link.status = str(status)
    link.broker_status = report.raw_status
    link.message = report.message
    link.updated_at = now
    link.save(update_fields=["status", "broker_status", "message", "updated_at"])
    log.info(
        "broker_report_applied",
        order_id=order.pk,
        broker_order_id=report.broker_order_id,
        status=str(status),
        filled=report.filled_quantity,
        source=source,
    )
    return Applied(APPLIED, fill_quantity=max(delta, 0))


def _book_fill(order: Order, report: BrokerReport, qty: int, *, vendor: str, now: datetime) -> None:
    """One ``Trade`` for the newly filled quantity, and the deployment's position after it."""
    before = order.average_price or Decimal("0")
    total = _price(report.average_price) * report.filled_quantity
    price = ((total - before * order.filled_quantity) / qty).quantize(PRICE_QUANTUM)
    fill_id = f"{vendor}:{report.broker_order_id}:{report.filled_quantity}"
    # Brokers report fills without their charges (those come in the day's contract note), so
    # the fill carries the exchange's schedule, as the paper model would have charged it: a
    # live run's P&L is net of costs from the first fill, not flattered by zero charges.
    charges = default_charges_model(order.instrument.exchange).compute(
        order.side, order.product, qty, float(price), float(before * order.filled_quantity)
    )
    charged = Decimal(str(charges.total)).quantize(Decimal("0.01"))
    _, created = Trade.objects.get_or_create(
        deployment_id=order.deployment_id,
        fill_id=fill_id,
        defaults={
            "order": order,
            "side": order.side,
            "quantity": qty,
            "price": price,
            "charges": charged,
            "charges_breakdown": {**charges.to_dict(), "source": vendor, "estimated": True},
            "executed_at": now,
        },
    )
    if not created:
        return
    signed = qty if order.side == "BUY" else -qty
    position = position_add_fill(order.deployment_id, order.instrument_id, signed, price, now)
    push.publish_ledger(order.deployment_id, position, [])
    emit_for_deployment(
        order.deployment_id,
        [
            (
                EventKind.FILL,
                {
                    "order_id": order.pk,
                    "client_order_id": order.client_order_id,
                    "fill_id": fill_id,
                    "symbol": order.instrument.symbol,
                    "side": order.side,
                    "quantity": qty,
                    "price": str(price),
                    "charges": str(charged),
                    "executed_at": now.isoformat(),
                },
            )
        ],
    )


def position_add_fill(
    deployment_id: int, instrument_id: int, signed: int, price: Decimal, now: datetime
) -> Position:
    """Move the deployment's position by one broker fill (average cost, realised on closing)."""
    pos, _ = Position.objects.select_for_update().get_or_create(
        deployment_id=deployment_id, instrument_id=instrument_id
    )
    q0, avg = pos.quantity, pos.average_price
    q1 = q0 + signed
    if q0 == 0 or (q0 > 0) == (signed > 0):
        pos.average_price = ((avg * abs(q0) + price * abs(signed)) / abs(q1)).quantize(
            PRICE_QUANTUM
        )
    else:
        closed = min(abs(signed), abs(q0))
        direction = 1 if q0 > 0 else -1
        pos.realised_pnl = (pos.realised_pnl + (price - avg) * closed * direction).quantize(
            Decimal("0.01")
        )
        if q1 == 0:
            pos.average_price = Decimal("0")
        elif (q1 > 0) != (q0 > 0):  # flipped through flat: the rest opened at this price
            pos.average_price = price
    pos.quantity = q1
    pos.updated_at = now
    pos.save()
    return pos


def _jsonable(payload: dict[str, Any]) -> dict[str, Any]:
    return {str(k): v for k, v in payload.items() if isinstance(v, str | int | float | bool | None)}
