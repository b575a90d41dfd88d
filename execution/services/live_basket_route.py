"""Live mode of a basket: every member's orders go to the deployment's linked broker account.

A basket deployed with ``"mode": "live"`` keeps its one ``DeploymentState`` (one row lock, one
transaction per step) and its engines per member, exactly as on paper: each member's risk gate
and paper model decide, and what they let through leaves through ``live_route.route_orders``
as a single deployment's orders do (the account's adapter, the strategy's SEBI algo id in the
tag / correlationId, the account's rate limits, a ``BrokerOrderLink`` per order, the broker's
reports moving our orders, fills and positions through ``brokers.order_sync``). What is a
basket's own is kept here:

- at deploy, every member must carry the account's vendor ids (Kite: from its instrument dump;
  Dhan: securityId and segment), else a 400 naming the members (``vendor_ids_check``);
- each member's orders are sent with its exchange (``BSE:INFY`` off NSE), so the adapter finds
  its tradingsymbol and exchange (Kite) or securityId (Dhan);
- positions are the broker's (only each member's last price is marked here), and the basket's
  equity is the broker's: capital plus every member's realised P&L, less charges and cost,
  plus each member's quantity at its close (``basket_broker_curve``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from django.db.models import Sum

from execution.brokers.base import BrokerError
from execution.engine.state import EquityCurve
from execution.models import DeploymentState, Instrument, Position, Trade, TradingMode
from execution.services.live_route import (
    BrokerUnavailable,
    live_routing,
    route_orders,
    sync_bracket_legs,
)
from strategies.models import Deployment


def basket_routing(deployment: Deployment, live: dict[str, Any] | None) -> dict[str, Any]:
    """The ``DeploymentState`` routing fields of a basket's deploy (``{}`` on paper)."""
    if not live or live.get("mode") != TradingMode.LIVE:
        return {}
    ids = [m["id"] for m in deployment.config["instruments"]]
    by_id = Instrument.objects.in_bulk(ids)
    return live_routing(deployment, live, members=[by_id[i] for i in ids if i in by_id])


def is_live(live: DeploymentState) -> bool:
    return live.mode == TradingMode.LIVE


def route_member(
    live: DeploymentState,
    inst: dict[str, Any],
    orders: list[Any],
    events: list[Any],
    *,
    best_effort: bool = False,
) -> None:
    """Send the broker what one member's run changed (a step's: a refusal fails the step)."""
    route_orders(live, orders, events, best_effort=best_effort, exchange=inst["exchange"])


def route_member_manual(
    live: DeploymentState,
    inst: dict[str, Any],
    orders: list[Any],
    events: list[Any],
    *,
    best_effort: bool = False,
) -> None:
    """A person's call (a manual order, a stop): a refusal is a 502 and nothing is written."""
    try:
        route_member(live, inst, orders, events, best_effort=best_effort)
    except BrokerError as exc:
        refused = BrokerUnavailable(f"The broker refused or did not answer: {exc}")
        refused.live = live
        raise refused from exc


def after_step(live: DeploymentState) -> None:
    """One-cancels-other of every member's bracket legs, from the broker's fills."""
    sync_bracket_legs(live)


def mark_member(row: Position, last_price: Any, updated_at: Any) -> None:
    """Live mode: only the member's last price moves here (its quantity is the broker's)."""
    Position.objects.filter(pk=row.pk).update(last_price=last_price, updated_at=updated_at)


def basket_broker_curve(
    deployment: Deployment,
    curve: EquityCurve,
    members: list[dict[str, Any]],
    closes: list[dict[int, float]],
) -> EquityCurve:
    """The basket's equity on the broker's positions at each point of ``curve``.

    Cash is the capital plus every member's realised P&L, less the broker's trades' charges and
    what the open positions cost; each member's quantity is marked at its latest close at or
    before the point (its stored last price before its first bar in this step).
    """
    if not len(curve):
        return curve
    rows = {p.instrument_id: p for p in Position.objects.filter(deployment=deployment)}
    charges = Trade.objects.filter(deployment=deployment).aggregate(t=Sum("charges"))["t"] or 0
    cash = float(deployment.capital) - float(charges)
    value = np.zeros(len(curve))
    for inst, by_ts in zip(members, closes, strict=True):
        pos = rows.get(inst["id"])
        if pos is None:
            continue
        cash += float(pos.realised_pnl) - pos.quantity * float(pos.average_price)
        if not pos.quantity:
            continue
        times = np.array(sorted(by_ts), dtype=np.int64)
        prices = np.array([by_ts[t] for t in times.tolist()], dtype=np.float64)
        before = float(pos.last_price or pos.average_price)
        at = np.searchsorted(times, curve.ts, side="right") - 1
        marks = np.where(at >= 0, prices[np.maximum(at, 0)] if len(prices) else before, before)
        value += pos.quantity * marks
    return EquityCurve(
        ts=curve.ts, cash=np.full(len(curve), cash), position=curve.position, equity=cash + value
    )
