"""What a subscribing client gets from the database: ownership, the heads, the missed rows.

A client that sends the last ``seq`` (and ``equity_seq``) it saw gets every order event and
equity point after them, oldest first, then the position as it is now. More than
``REPLAY_LIMIT`` rows missed is cheaper to reload than to replay: the answer is ``resync``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Max
from django.http import Http404

from execution import selectors
from execution.models import EquitySnapshot, OrderEvent, Position
from execution.push import messages


@dataclass
class Plan:
    """The answer to one subscribe."""

    seq: int
    equity_seq: int
    status: str
    resync: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)


def owned_deployment(user: Any, deployment_id: int) -> Any | None:
    """The user's deployment, or None — the same for someone else's and a missing one."""
    try:
        return selectors.deployment_get_for_user(user=user, deployment_id=deployment_id, pnl=False)
    except Http404:
        return None


def plan(deployment: Any, *, after: int | None, after_equity: int | None, limit: int) -> Plan:
    """The heads now, and the rows after the client's cursors (or ``resync``)."""
    order_events = OrderEvent.objects.filter(order__deployment_id=deployment.pk)
    points = EquitySnapshot.objects.filter(deployment_id=deployment.pk)
    seq = order_events.aggregate(m=Max("pk"))["m"] or 0
    equity_seq = points.aggregate(m=Max("pk"))["m"] or 0
    result = Plan(seq=seq, equity_seq=equity_seq, status=deployment.status)
    missed_events: list[Any] = []
    missed_points: list[Any] = []
    if after is not None and after < seq:
        missed_events = list(
            order_events.filter(pk__gt=after).select_related("order").order_by("pk")[: limit + 1]
        )
    if after_equity is not None and after_equity < equity_seq:
        missed_points = list(points.filter(pk__gt=after_equity).order_by("pk")[: limit + 1])
    if len(missed_events) + len(missed_points) > limit:
        result.resync = True
        return result
    result.events = [messages.order_event(deployment.pk, e, e.order) for e in missed_events]
    result.events += [messages.equity_event(deployment.pk, p) for p in missed_points]
    if any(e.trigger in messages.FILL_TRIGGERS for e in missed_events):
        position = Position.objects.filter(deployment_id=deployment.pk).first()
        if position is not None:
            result.events.append(messages.position_event(deployment.pk, position, None))
    return result
