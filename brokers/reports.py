"""One order update from a broker, whatever carried it: a postback, a placement's answer, or
the order book read by the reconciliation. ``order_sync`` applies it to our ``Order``.

Kite's postback body is the order book row plus ``user_id``, ``app_id``, ``checksum`` and
``unfilled_quantity`` (kite.trade/docs/connect/v3/postbacks); Dhan's is its order row with
``dhanClientId`` and ``filled_qty`` in place of ``filledQty`` (dhanhq.co/docs/v2/postback).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from execution.brokers.base import BrokerOrder
from execution.brokers.dhan_mapping import map_status as dhan_status
from execution.brokers.kite_mapping import map_status as kite_status

_ORDER_TYPE_OF_DHAN = {"STOP_LOSS": "SL", "STOP_LOSS_MARKET": "SL-M"}


class BadReport(ValueError):
    """Raised for a body that is not an order update (a field missing or malformed)."""


@dataclass(frozen=True, slots=True)
class BrokerReport:
    """The broker's view of one order at one moment, in our canonical status."""

    broker_order_id: str
    tag: str
    status: str
    raw_status: str
    filled_quantity: int
    average_price: float
    message: str = ""
    payload: dict[str, Any] = field(default_factory=dict)


def _int(body: dict[str, Any], *names: str) -> int:
    for name in names:
        value = body.get(name)
        if value not in (None, ""):
            try:
                return int(float(value))
            except (TypeError, ValueError) as exc:
                raise BadReport(f"{name} is not a number") from exc
    return 0


def _float(value: Any, name: str) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError) as exc:
        raise BadReport(f"{name} is not a number") from exc


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value in (None, "") or not isinstance(value, str | int):
        raise BadReport(f"{name} is missing")
    return str(value)[:64]


def report_from_kite(body: dict[str, Any]) -> BrokerReport:
    """Kite's postback (or order book row)."""
    raw = _required(body, "status")
    filled = _int(body, "filled_quantity")
    validity = str(body.get("validity") or "DAY")
    return BrokerReport(
        broker_order_id=_required(body, "order_id"),
        tag=str(body.get("tag") or "")[:64],
        status=str(kite_status(raw, filled_quantity=filled, validity=validity)),
        raw_status=raw,
        filled_quantity=filled,
        average_price=_float(body.get("average_price"), "average_price"),
        message=str(body.get("status_message") or "")[:500],
        payload={k: v for k, v in body.items() if k != "checksum"},
    )


def report_from_dhan(body: dict[str, Any]) -> BrokerReport:
    """Dhan's postback (or order book row)."""
    raw = _required(body, "orderStatus")
    filled = _int(body, "filledQty", "filled_qty")
    dhan_type = str(body.get("orderType") or "MARKET")
    status = dhan_status(
        raw, order_type=dhan_type, validity=str(body.get("validity") or "DAY"), filled=filled
    )
    return BrokerReport(
        broker_order_id=_required(body, "orderId"),
        tag=str(body.get("correlationId") or "")[:64],
        status=str(status),
        raw_status=raw,
        filled_quantity=filled,
        average_price=_float(body.get("averageTradedPrice"), "averageTradedPrice"),
        message=str(body.get("omsErrorDescription") or "")[:500],
        payload=dict(body),
    )


def report_from_order(order: BrokerOrder, *, tag: str = "") -> BrokerReport:
    """An adapter's snapshot (a placement's answer, the order book)."""
    return BrokerReport(
        broker_order_id=order.broker_order_id,
        tag=tag,
        status=str(order.status),
        raw_status=order.raw_status[:64],
        filled_quantity=order.filled_quantity,
        average_price=order.average_price,
        message=(order.status_message or "")[:500],
        payload={"source": "order book", "status": order.raw_status},
    )
