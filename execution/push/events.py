"""The publisher: services call these inside their transaction; events leave after commit.

Messages are built at once (from the rows just written, no extra query) and handed to the
sender by ``transaction.on_commit``: a rolled-back step publishes nothing, and a client that
receives an event can read its rows. ``robust=True`` and the sender's own error handling mean
a failed publish is logged and never breaks or slows the step.
"""

from __future__ import annotations

from collections.abc import Iterable
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


def publish_many(batch: Iterable[tuple[int, list[dict[str, Any]]]]) -> None:
    """Many deployments' payloads (a step batch) handed to the sender by ONE commit hook, in one
    call: one lock and one wake-up of the sender thread instead of one per event. Each
    deployment's payloads keep their order; hooks run in the order they were registered, so a
    step's order events (registered first) still go out before its equity points."""
    items = [
        (messages.group_name(pk), {"type": "live.event", "event": payload})
        for pk, payloads in batch
        for payload in payloads
    ]
    if items:
        transaction.on_commit(lambda: sender.sender.submit_many(items), robust=True)


def order_event_payloads(deployment_id: int, events: list[Any]) -> list[dict[str, Any]]:
    """The messages of just-created ``OrderEvent`` rows (each with its ``order``)."""
    return [messages.order_event(deployment_id, ev, ev.order) for ev in events if ev.pk is not None]


def ledger_payloads(deployment_id: int, position: Any | None, points: list[Any]) -> list[dict]:
    """The messages of a changed position (after fills) and of appended equity points."""
    payloads = []
    if position is not None:
        payloads.append(messages.position_event(deployment_id, position, None))
    payloads.extend(messages.equity_event(deployment_id, p) for p in points if p.pk is not None)
    return payloads


def publish_order_events(deployment_id: int, events: list[Any]) -> None:
    """Order and fill events of just-created ``OrderEvent`` rows (each with its ``order``)."""
    _after_commit(deployment_id, order_event_payloads(deployment_id, events))


def publish_ledger(deployment_id: int, position: Any | None, points: list[Any]) -> None:
    """A changed position (after fills) and the equity points a step appended."""
    _after_commit(deployment_id, ledger_payloads(deployment_id, position, points))


def publish_status(deployment: Any, phase: str | None = None) -> None:
    """The run's status changed (stopped, failed, squaring off, square-off done), with the
    live phase it is in (``SQUARING_OFF`` or ``DONE``; ``None`` for a run without live state)."""
    _after_commit(deployment.pk, [messages.status_event(deployment, phase)])
