"""Writing a live run's output: orders, their events, fills, positions and equity points.

Used by the step (``live``), manual orders (``live_orders``) and stop (``live_stop``), always
inside their transaction. Money leaves the engine's floats here, as ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.db.models import Sum

from execution.engine.legs import order_role
from execution.engine.orders import TERMINAL_STATUSES, OrderTrigger, order_next_status
from execution.engine.state import OrderRecord
from execution.marketdata.ticks import PRICE_QUANTUM
from execution.models import (
    BrokerOrderLink,
    DeploymentState,
    EquitySnapshot,
    Instrument,
    Order,
    OrderEvent,
    PaperOrderRecord,
    Position,
    Trade,
    TradingMode,
)
from execution.push import events as push
from execution.services.bulk import bulk_update_rows
from notifications.services import notify_orders
from strategies.models import Deployment

PAISE = Decimal("0.01")
PRICE = PRICE_QUANTUM  # the price columns' 8 places: a price on any stored tick is kept exact


def _dt(ts: int | float) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=UTC)


def _money(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(PAISE)


def _price(x: float | None) -> Decimal | None:
    return None if x is None else Decimal(repr(float(x))).quantize(PRICE)


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
    if not result.orders and not result.events and not getattr(result, "fills", None):
        return {}  # most steps: no order changed (building the empty queries cost ~4 ms)
    events_by_cid: dict[str, list[Any]] = {}
    for ev in result.events:
        events_by_cid.setdefault(ev.client_order_id, []).append(ev)
    cids = [r.client_order_id for r in result.orders]
    rows = {  # through the related manager, so each row knows its deployment without a query
        o.client_order_id: o for o in deployment.orders.filter(client_order_id__in=cids)
    }
    owned = _broker_owned(deployment, result.orders, rows)
    for rec in result.orders:
        row = rows.get(rec.client_order_id)
        if rec.client_order_id in owned:
            rows[rec.client_order_id] = _write_owned(deployment, instrument, rec, row, source)
            continue
        evs = events_by_cid.get(rec.client_order_id, [])
        _check_chain(row.status if row else None, evs, rec.status)
        fields = _order_fields(rec)
        if row is None:
            rows[rec.client_order_id] = Order.objects.create(
                deployment=deployment,
                instrument=instrument,
                client_order_id=rec.client_order_id,
                source=source,
                role=order_role(rec.client_order_id, manual=source == "manual"),
                created_at=_dt(rec.created_ts),
                **fields,
            )
        else:
            for k, v in fields.items():
                setattr(row, k, v)
            row.save(update_fields=list(fields))
    if owned:  # the broker's orders: their creation and modifications, no model fills
        result = _ManualRun(
            result.orders,
            [
                e
                if e.client_order_id not in owned or not e.trigger
                # a modification our engine asked for, in the status the broker has it in
                else replace(e, status=rows[e.client_order_id].status)
                for e in result.events
                if e.client_order_id not in owned or e.trigger in ("", _MODIFY)
            ],
            [f for f in getattr(result, "fills", []) if f.client_order_id not in owned],
        )
    created = OrderEvent.objects.bulk_create(
        [order_event_row(ev, rows[ev.client_order_id]) for ev in result.events]
    )
    fills = getattr(result, "fills", [])
    if fills:
        Trade.objects.bulk_create(
            [trade_row(deployment, f, rows[f.client_order_id]) for f in fills]
        )
    notify_orders(deployment, rows, result)  # fills, rejections, risk denials: after commit
    push.publish_order_events(deployment.pk, created)  # live page and API sockets: after commit
    return rows


def order_event_row(ev: Any, order: Order) -> OrderEvent:
    """The unsaved audit row of one engine order event (the step's and the batch's writer)."""
    return OrderEvent(
        order=order,
        status=str(ev.status),
        broker_status=ev.raw_status,
        trigger=ev.trigger,
        message=ev.message[:500],
        payload=ev.payload or {},
        ts=_dt(ev.ts),
    )


def trade_row(deployment: Deployment, fill: Any, order: Order) -> Trade:
    """The unsaved trade row of one engine fill."""
    return Trade(
        deployment=deployment,
        order=order,
        fill_id=fill.fill_id,
        side=str(fill.side),
        quantity=fill.quantity,
        price=_price(fill.price),
        charges=_money(fill.charges.total),
        charges_breakdown=fill.charges.to_dict(),
        executed_at=_dt(fill.ts),
    )


def _broker_owned(
    deployment: Deployment, records: list[OrderRecord], rows: dict[str, Order]
) -> set[str]:
    """Live mode: the client ids whose status, fills and position come from the broker.

    Those already sent (a ``BrokerOrderLink``) and those this run sends (``live_route``
    places every new order the gate and the model let through, in this transaction). Their
    model events and fills are not written: the broker's reports are (``brokers.order_sync``).
    """
    live = getattr(deployment, "live", None)
    if live is None or live.mode != TradingMode.LIVE or not records:
        return set()
    from execution.services.live_route import leaves

    new = {r.client_order_id for r in records if r.client_order_id not in rows and leaves(r)}
    sent = set(
        BrokerOrderLink.objects.filter(
            live=live, client_order_id__in=[r.client_order_id for r in records]
        ).values_list("client_order_id", flat=True)
    )
    return new | sent


def _write_owned(
    deployment: Deployment, instrument: Instrument, rec: OrderRecord, row: Order | None, source: str
) -> Order:
    """A broker-owned order: created PENDING; later only the engine's intent (a modified
    quantity, price or trigger) is written, never its status or fills."""
    fields = _order_fields(rec)
    if row is None:  # leaves now: born PENDING, the broker's reports move it on
        return Order.objects.create(
            deployment=deployment,
            instrument=instrument,
            client_order_id=rec.client_order_id,
            source=source,
            role=order_role(rec.client_order_id, manual=source == "manual"),
            created_at=_dt(rec.created_ts),
            **{**fields, **_unsent(rec)},
        )
    changed = [k for k in ("price", "trigger_price") if fields[k] != getattr(row, k)]
    if fields["quantity"] != row.quantity and fields["quantity"] >= row.filled_quantity:
        row.quantity = fields["quantity"]
        if row.status not in _FINAL:
            row.pending_quantity = row.quantity - row.filled_quantity
        changed += ["quantity", "pending_quantity"]
    for k in ("price", "trigger_price"):
        setattr(row, k, fields[k])
    if changed:  # at the engine's (market) time of the change, as its MODIFY event
        row.updated_at = max(row.updated_at, fields["updated_at"])
        row.save(update_fields=[*changed, "updated_at"])
    return row


def _unsent(rec: OrderRecord) -> dict[str, Any]:
    """A broker-owned order's state before the broker has said anything."""
    return {
        "status": "PENDING",
        "filled_quantity": 0,
        "pending_quantity": rec.quantity,
        "average_price": None,
        "broker_status": "",
        "status_message": "",
    }


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


def _persist_ledgers(stepped: list[Any]) -> None:
    """Update each deployment's position and append its equity points, in bulk."""
    if not stepped:
        return
    # Positions are written by their natural key without reading them first: a paper
    # deployment's row exists from its start, and one missing (older runs) is created below.
    updates: list[Position] = []
    points: list[EquitySnapshot] = []
    pushed: list[tuple[int, Position | None, int, int]] = []  # id, changed position, points
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
        if adv.live.mode == TradingMode.LIVE:  # quantity, cost, P&L: the broker's fills' own
            _live_position_mark(deployment, instrument, values)
            row = None  # its position events come with the broker's fills (brokers.order_sync)
            curve = _broker_curve(deployment, curve, getattr(adv, "closes", {}))
        else:
            row = Position(deployment_id=deployment.pk, instrument_id=instrument.pk, **values)
            updates.append(row)
        changed = row if getattr(result, "fills", None) else None
        pushed.append((deployment.pk, changed, len(points), len(curve)))
        points.extend(
            EquitySnapshot(
                deployment_id=deployment.pk,
                ts=_dt(curve.ts[i]),
                cash=_money(curve.cash[i]),
                position_value=_money(curve.equity[i] - curve.cash[i]),
                equity=_money(curve.equity[i]),
            )
            for i in range(len(curve))
        )
    written = bulk_update_rows(
        Position, updates, _POSITION_FIELDS, keys=["deployment_id", "instrument_id"]
    )
    creates = [p for p in updates if (p.deployment_id, p.instrument_id) not in written]
    if creates:
        Position.objects.bulk_create(creates)
    # A (deployment, ts) pair already written would violate the unique constraint and roll
    # the whole step back: no bar is ever processed twice.
    EquitySnapshot.objects.bulk_create(points, batch_size=2000)
    push.publish_many(
        (deployment_id, push.ledger_payloads(deployment_id, position, points[s : s + count]))
        for deployment_id, position, s, count in pushed
    )


_POSITION_FIELDS = ["quantity", "average_price", "realised_pnl", "last_price", "updated_at"]


def _live_position_mark(deployment: Deployment, instrument: Instrument, values: dict) -> None:
    """Live mode: only the last price moves here; a postback may be moving the rest now."""
    mark = {"last_price": values["last_price"], "updated_at": values["updated_at"]}
    if not Position.objects.filter(deployment=deployment).update(**mark):
        Position.objects.bulk_create(
            [Position(deployment=deployment, instrument=instrument, **mark)],
            ignore_conflicts=True,
        )


def _broker_curve(deployment: Deployment, curve: Any, closes: dict[int, float]) -> Any:
    """Live mode: the equity of the broker's position at each bar's close, not the model's.

    The engine's own curve follows its simulated fills; the money is where the broker filled
    (the position ``brokers.order_sync`` keeps), less the broker's trades' charges.
    """
    if not closes:
        return curve
    pos = Position.objects.filter(deployment=deployment).first()
    qty = Decimal(pos.quantity) if pos else Decimal("0")
    cost = qty * pos.average_price if pos and pos.quantity else Decimal("0")
    realised = pos.realised_pnl if pos else Decimal("0")
    charges = Trade.objects.filter(deployment=deployment).aggregate(t=Sum("charges"))["t"] or 0
    cash = float(deployment.capital + realised - charges - cost)
    values = [float(qty) * closes.get(int(t), 0.0) for t in curve.ts]
    equity = np.array([cash + v for v in values], dtype=np.float64)
    return replace(curve, cash=np.full(len(curve), cash), equity=equity)


@dataclass
class _ManualRun:
    orders: list[OrderRecord]
    events: list[Any]
    fills: list[Any]


_FINAL = frozenset(str(s) for s in TERMINAL_STATUSES)
_MODIFY = str(OrderTrigger.MODIFY)


def _book(live: DeploymentState, *, cids: list[str] | None = None) -> list[dict[str, Any]]:
    """The paper broker's order records to load: every working one, or those of ``cids``."""
    broker = live.engine_state["broker"]
    if "orders" in broker:  # saved before the book had its rows: the state holds every order
        return []
    if cids is not None:
        if not cids:
            return []
        rows = PaperOrderRecord.objects.filter(live=live, client_order_id__in=cids)
    elif broker["book"]["working"]:
        rows = PaperOrderRecord.objects.filter(live=live, working=True)
    else:
        return []
    return list(rows.order_by("broker_order_id").values_list("record", flat=True))


def _save_books(books: list[tuple[DeploymentState, list[dict[str, Any]]]]) -> None:
    """Write the order records that changed (``PaperBroker.changed_records``), in one query."""
    rows = [
        PaperOrderRecord(
            live=live,
            broker_order_id=r["oid"],
            client_order_id=r["cid"],
            working=r["status"] not in _FINAL,
            record=r,
        )
        for live, records in books
        for r in records
    ]
    if rows:
        PaperOrderRecord.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["live", "broker_order_id"],
            update_fields=["client_order_id", "working", "record"],
        )
