"""The JSON of push events, built from database rows (live and replayed events alike).

Order and fill events carry the ``OrderEvent`` id as ``seq``; equity events carry the
``EquitySnapshot`` id as ``seq``. Both tables are append-only, so a client that remembers the
last of each can ask for exactly what came after. Money is a decimal string, times are epoch
seconds (the bar's time, as everywhere on the live page).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

FILL_TRIGGERS = frozenset({"FILL", "FILL_PARTIAL"})
EVENT_KINDS = ("order", "fill", "position", "equity", "status")


def group_name(deployment_id: int) -> str:
    """The channel-layer group of one deployment's subscribers."""
    return f"live.deployment.{int(deployment_id)}"


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _epoch(ts: Any) -> int | None:
    return None if ts is None else int(ts.timestamp())


def order_event(deployment_id: int, event: Any, order: Any) -> dict[str, Any]:
    """One ``OrderEvent`` (with its order): kind ``fill`` for fills, else ``order``."""
    return {
        "type": "event",
        "kind": "fill" if event.trigger in FILL_TRIGGERS else "order",
        "deployment": int(deployment_id),
        "seq": event.pk,
        "ts": _epoch(event.ts),
        "status": event.status,
        "trigger": event.trigger,
        "message": event.message,
        "order": {
            "id": order.pk,
            "client_order_id": order.client_order_id,
            "side": order.side,
            "order_type": order.order_type,
            "quantity": order.quantity,
            "filled_quantity": order.filled_quantity,
            "price": _dec(order.price),
            "average_price": _dec(order.average_price),
            "status": order.status,
            "source": order.source,
        },
    }


def equity_event(deployment_id: int, snap: Any) -> dict[str, Any]:
    """One equity point (``EquitySnapshot``); ``seq`` is its row id."""
    return {
        "type": "event",
        "kind": "equity",
        "deployment": int(deployment_id),
        "seq": snap.pk,
        "ts": _epoch(snap.ts),
        "equity": _dec(snap.equity),
        "cash": _dec(snap.cash),
    }


def position_event(deployment_id: int, position: Any, seq: int | None) -> dict[str, Any]:
    """The position now (a state, not a change); ``seq`` is the last order event behind it."""
    return {
        "type": "event",
        "kind": "position",
        "deployment": int(deployment_id),
        "seq": seq,
        "quantity": position.quantity,
        "average_price": _dec(position.average_price),
        "last_price": _dec(position.last_price),
        "realised_pnl": _dec(position.realised_pnl),
        "ts": _epoch(position.updated_at),
    }


def status_event(deployment: Any, phase: str | None) -> dict[str, Any]:
    """The run's status (RUNNING, STOPPED, ERROR…) and its live phase."""
    return {
        "type": "event",
        "kind": "status",
        "deployment": deployment.pk,
        "seq": None,
        "status": deployment.status,
        "phase": phase,
        "reason": (deployment.stop_reason or "")[:500],
    }
