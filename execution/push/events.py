"""The publisher: services call these inside their transaction; events leave after commit.

Messages are built at once (from the rows just written, no extra query) and handed to the
sender by ``transaction.on_commit``: a rolled-back step publishes nothing, and a client that
receives an event can read its rows. ``robust=True`` and the sender's own error handling mean
a failed publish is logged and never breaks or slows the step.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from execution.push import messages, sender


def _after_commit(deployment_id: int, payloads: list[dict[str, Any]]) -> None:
    if not payloads:
        return
    group = messages.group_name(deployment_id)

    def send() -> None:
        for payload in payloads:
            sender.sender.submit(group, {"type": "live.event", "event": payload})

    transaction.on_commit(send, robust=True)


def publish_order_events(deployment_id: int, events: list[Any]) -> None:
    """Order and fill events of just-created ``OrderEvent`` rows (each with its ``order``)."""
    _after_commit(
        deployment_id,
        [messages.order_event(deployment_id, ev, ev.order) for ev in events if ev.pk is not None],
    )


def publish_ledger(deployment_id: int, position: Any | None, points: list[Any]) -> None:
    """A changed position (after fills) and the equity points a step appended."""
    payloads = []
    if position is not None:
        payloads.append(messages.position_event(deployment_id, position, None))
    payloads.extend(messages.equity_event(deployment_id, p) for p in points if p.pk is not None)
    _after_commit(deployment_id, payloads)


def publish_status(deployment: Any, phase: str | None = None) -> None:
    """The run's status changed (stopped, failed, squaring off)."""
    _after_commit(deployment.pk, [messages.status_event(deployment, phase)])
