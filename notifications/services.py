"""Emitting events to a user's channels, and managing those channels.

Execution services call the ``notify_*`` hooks inside their transactions; each hook only
registers a ``transaction.on_commit`` callback, so a rolled-back step or order sends nothing and
the step pays no query for a user without channels. Delivery runs as django-q2 tasks
(``notifications.tasks``), one ``Delivery`` row per attempt.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from algosaas.errors import LimitExceeded
from notifications.models import (
    SUBSCRIBABLE,
    Delivery,
    EventKind,
    NotificationSettings,
    WebhookEndpoint,
)
from strategies.models import Deployment

PAISE = Decimal("0.01")
PRICE = Decimal("0.00000001")  # the price columns' 8 places

WEBHOOK_TASK = "notifications.tasks.webhook_attempt"
EMAIL_TASK = "notifications.tasks.email_send"


def conf(key: str) -> Any:
    """One of ``settings.NOTIFICATIONS`` (retry count, backoff, timeout, private addresses)."""
    return settings.NOTIFICATIONS[key]


# ----------------------------------------------------------------------------- emitting


def emit(user_id: int, kind: str, data: dict[str, Any]) -> None:
    """Send ``kind`` to the user's channels once the current transaction commits."""
    transaction.on_commit(lambda: dispatch(user_id, kind, data))


@dataclass
class Channels:
    """A user's enabled endpoints and email kinds, read once for a batch of events."""

    endpoints: list[WebhookEndpoint]
    email_kinds: list[str]

    @classmethod
    def of(cls, user_id: int) -> Channels:
        prefs = NotificationSettings.objects.filter(user_id=user_id).first()
        return cls(
            endpoints=list(WebhookEndpoint.objects.filter(user_id=user_id, enabled=True)),
            email_kinds=list(prefs.email_kinds) if prefs else [],
        )


def dispatch(
    user_id: int, kind: str, data: dict[str, Any], *, channels: Channels | None = None
) -> list[Delivery]:
    """Create a first delivery per subscribed channel and queue it (outside any transaction)."""
    channels = channels or Channels.of(user_id)
    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": kind,
        "created": timezone.now().isoformat(),
        "data": data,
    }
    rows = [
        _delivery(user_id, event, endpoint=endpoint)
        for endpoint in channels.endpoints
        if kind == EventKind.TEST or kind in endpoint.kinds
    ]
    if kind in channels.email_kinds:
        rows.append(_delivery(user_id, event, endpoint=None))
    for row in rows:
        async_task(WEBHOOK_TASK if row.endpoint_id else EMAIL_TASK, row.pk)
    return rows


def _delivery(user_id: int, event: dict[str, Any], *, endpoint: WebhookEndpoint | None) -> Delivery:
    return Delivery.objects.create(
        user_id=user_id,
        endpoint=endpoint,
        channel="webhook" if endpoint else "email",
        event_id=event["id"],
        event=event["type"],
        payload=event,
    )


def emit_for_deployment(deployment_id: int, events: list[tuple[str, dict[str, Any]]]) -> None:
    """Send a deployment's events to its owner after commit, with no query before the commit.

    The owner and strategy name are read in the commit callback (one query for all events),
    so the step's transaction pays nothing for notifications.
    """
    emit_for_deployments([(deployment_id, events)])


def emit_for_deployments(batch: list[tuple[int, list[tuple[str, dict[str, Any]]]]]) -> None:
    """``emit_for_deployment`` for many deployments (a step batch): one commit callback that
    reads every owner and strategy name in one query and each owner's channels once."""
    batch = [(pk, events) for pk, events in batch if events]
    if not batch:
        return

    def send() -> None:
        owners = {
            pk: (owner_id, name)
            for pk, owner_id, name in Deployment.objects.filter(
                pk__in=[pk for pk, _ in batch]
            ).values_list("pk", "strategy__owner_id", "strategy__name")
        }
        channels_of: dict[int, Channels] = {}
        for deployment_id, events in batch:
            if deployment_id not in owners:
                continue
            owner_id, name = owners[deployment_id]
            if owner_id not in channels_of:
                channels_of[owner_id] = Channels.of(owner_id)  # two queries per owner
            channels = channels_of[owner_id]
            if not channels.endpoints and not channels.email_kinds:
                continue
            for kind, data in events:
                body = {"deployment_id": deployment_id, "strategy": name, **data}
                dispatch(owner_id, kind, body, channels=channels)

    transaction.on_commit(send)


def notify_orders(deployment: Any, rows: dict[str, Any], result: Any) -> None:
    """Fills, broker rejections and risk-gate denials of one persisted run (the step's hook)."""
    emit_for_deployment(deployment.pk, order_notifications(deployment, rows, result))


def notify_orders_many(runs: list[tuple[Any, dict[str, Any], Any]]) -> None:
    """``notify_orders`` for the runs of a step batch: one commit callback for all of them."""
    emit_for_deployments([(d.pk, order_notifications(d, rows, r)) for d, rows, r in runs])


def order_notifications(
    deployment: Any, rows: dict[str, Any], result: Any
) -> list[tuple[str, dict[str, Any]]]:
    """The notification events of one persisted run: its fills, rejections and denials."""
    fills = getattr(result, "fills", None) or []
    refused = [ev for ev in result.events if str(ev.status) in ("REJECTED", "DENIED")]
    if not fills and not refused:
        return []
    symbol = (deployment.config.get("instrument") or {}).get("symbol")
    events: list[tuple[str, dict[str, Any]]] = []
    for f in fills:
        events.append(
            (
                EventKind.FILL,
                {
                    "order_id": rows[f.client_order_id].pk,
                    "client_order_id": f.client_order_id,
                    "fill_id": f.fill_id,
                    "symbol": symbol,
                    "side": str(f.side),
                    "quantity": f.quantity,
                    "price": str(Decimal(repr(float(f.price))).quantize(PRICE)),
                    "charges": str(Decimal(repr(float(f.charges.total))).quantize(PAISE)),
                    "executed_at": datetime.fromtimestamp(int(f.ts), tz=UTC).isoformat(),
                },
            )
        )
    for ev in refused:
        order = rows[ev.client_order_id]
        data = {
            "order_id": order.pk,
            "client_order_id": ev.client_order_id,
            "symbol": symbol,
            "side": order.side,
            "quantity": order.quantity,
            "reason": ev.message[:500],
        }
        if str(ev.status) == "DENIED":
            events.append((EventKind.RISK_LIMIT, {**data, "rule": order.denial_rule}))
        else:
            events.append((EventKind.ORDER_REJECTED, data))
    return events


def notify_deployment(deployment: Any, *, failed: bool, reason: str = "") -> None:
    """A deployment stopped (by its owner) or failed (ERROR); the runner's hook."""
    kind = EventKind.DEPLOYMENT_FAILED if failed else EventKind.DEPLOYMENT_STOPPED
    data = {
        "status": deployment.status,
        "reason": (reason or deployment.stop_reason or "")[:500],
        "square_off": bool(getattr(deployment, "square_off", False)),
    }
    emit_for_deployment(deployment.pk, [(kind, data)])


# ----------------------------------------------------------------------------- channels


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def webhook_create(
    *, user: Any, url: str, kinds: list[str] | None = None, description: str = "", enabled=True
) -> WebhookEndpoint:
    """Create an endpoint with a fresh secret (the caller shows it once); at most a few each."""
    cap = conf("MAX_WEBHOOKS_PER_USER")
    if WebhookEndpoint.objects.filter(user=user).count() >= cap:
        raise LimitExceeded(f"You can have at most {cap} webhooks; delete one first.")
    return WebhookEndpoint.objects.create(
        user=user,
        url=url,
        kinds=list(SUBSCRIBABLE) if kinds is None else kinds,
        description=description,
        enabled=enabled,
        secret=new_secret(),
    )


def webhook_update(*, endpoint: WebhookEndpoint, **fields: Any) -> WebhookEndpoint:
    for key, value in fields.items():
        setattr(endpoint, key, value)
    endpoint.save(update_fields=[*fields, "updated_at"])
    return endpoint


def webhook_send_test(*, endpoint: WebhookEndpoint) -> Delivery:
    """Send a ``test`` event to this endpoint only, now (its first attempt is synchronous)."""
    from notifications.tasks import webhook_attempt

    event = {
        "id": f"evt_{uuid.uuid4().hex}",
        "type": EventKind.TEST,
        "created": timezone.now().isoformat(),
        "data": {"message": "A test event from algosaas.", "endpoint_id": endpoint.pk},
    }
    row = _delivery(endpoint.user_id, event, endpoint=endpoint)
    webhook_attempt(row.pk, retry=False)
    row.refresh_from_db()
    return row


def email_kinds_set(*, user: Any, kinds: list[str]) -> NotificationSettings:
    prefs, _ = NotificationSettings.objects.get_or_create(user=user)
    prefs.email_kinds = [k for k in SUBSCRIBABLE if k in set(kinds)]
    prefs.save(update_fields=["email_kinds", "updated_at"])
    return prefs
