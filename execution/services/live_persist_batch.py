"""Writing the orders of many paper steps at once: a handful of queries per batch.

``live_persist._persist`` writes one run's orders, events and fills with about seven queries
(read its orders, create each new one, its events, its fills; the owner's notification
channels after commit). On one instrument many deployments trade on the same bar, so a batch
of steps would pay that per deployment. ``persist_paper_batch`` writes the same rows for all
paper single-instrument runs of a step batch together: one read of their existing orders, one
insert of the new ones, one update of the changed ones, one insert of all events and one of
all fills; then each deployment's events are published and its notifications queued, exactly
as the single path does. Live-mode runs (whose orders the broker owns) keep the single path.
"""

from __future__ import annotations

from typing import Any

from execution.engine.legs import order_role
from execution.models import Order, OrderEvent, Trade
from execution.push import events as push
from execution.services.bulk import bulk_update_rows
from execution.services.live_persist import (
    _check_chain,
    _dt,
    _instrument_ref,
    _order_fields,
    order_event_row,
    trade_row,
)
from notifications.services import notify_orders_many

_ORDER_UPDATE_FIELDS = [
    "broker_order_id",
    "side",
    "order_type",
    "product",
    "validity",
    "quantity",
    "price",
    "trigger_price",
    "filled_quantity",
    "pending_quantity",
    "average_price",
    "status",
    "status_message",
    "broker_status",
    "denial_rule",
    "updated_at",
]


def persist_paper_batch(runs: list[tuple[Any, Any]]) -> None:
    """Write the orders, events and fills of ``(deployment, result)`` pairs (paper mode)."""
    runs = [
        (d, r) for d, r in runs if r.orders or r.events or getattr(r, "fills", None)
    ]  # most steps change no order
    if not runs:
        return
    by_pk = {d.pk: d for d, _ in runs}
    existing: dict[tuple[int, str], Order] = {}
    for row in Order.objects.filter(
        deployment_id__in=list(by_pk),
        client_order_id__in=[rec.client_order_id for _, r in runs for rec in r.orders],
    ):
        row.deployment = by_pk[row.deployment_id]  # no query when a message reads it
        existing[(row.deployment_id, row.client_order_id)] = row
    creates: list[Order] = []
    updates: list[Order] = []
    rows_of: list[dict[str, Order]] = []
    for deployment, result in runs:
        events_by_cid: dict[str, list[Any]] = {}
        for ev in result.events:
            events_by_cid.setdefault(ev.client_order_id, []).append(ev)
        rows: dict[str, Order] = {}
        instrument = None
        for rec in result.orders:
            row = existing.get((deployment.pk, rec.client_order_id))
            _check_chain(
                row.status if row else None, events_by_cid.get(rec.client_order_id, []), rec.status
            )
            fields = _order_fields(rec)
            if row is None:
                instrument = instrument or _instrument_ref(deployment)
                row = Order(
                    deployment=deployment,
                    instrument=instrument,
                    client_order_id=rec.client_order_id,
                    source="strategy",
                    role=order_role(rec.client_order_id, manual=False),
                    created_at=_dt(rec.created_ts),
                    **fields,
                )
                creates.append(row)
            else:
                for k, v in fields.items():
                    setattr(row, k, v)
                updates.append(row)
            rows[rec.client_order_id] = row
        rows_of.append(rows)
    Order.objects.bulk_create(creates)  # PostgreSQL returns their ids
    bulk_update_rows(Order, updates, _ORDER_UPDATE_FIELDS)
    events: list[OrderEvent] = []
    spans: list[tuple[int, int]] = []
    trades: list[Trade] = []
    for (deployment, result), rows in zip(runs, rows_of, strict=True):
        start = len(events)
        events.extend(order_event_row(ev, rows[ev.client_order_id]) for ev in result.events)
        spans.append((start, len(events)))
        trades.extend(
            trade_row(deployment, f, rows[f.client_order_id]) for f in getattr(result, "fills", [])
        )
    OrderEvent.objects.bulk_create(events)
    if trades:
        Trade.objects.bulk_create(trades)
    push.publish_many(
        (deployment.pk, push.order_event_payloads(deployment.pk, events[a:b]))
        for (deployment, _), (a, b) in zip(runs, spans, strict=True)
    )
    notify_orders_many(
        [(d, rows, r) for (d, r), rows in zip(runs, rows_of, strict=True)]
    )  # after commit, after the events above
