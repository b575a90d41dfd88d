"""Reads of notification channels and deliveries, always scoped to their owner."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from notifications.models import Delivery, NotificationSettings, WebhookEndpoint


def webhooks_for_user(*, user: Any) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user)


def webhook_get_for_user(*, user: Any, webhook_id: Any) -> WebhookEndpoint:
    """Return ``user``'s endpoint; 404 alike for a missing one and someone else's."""
    try:
        return webhooks_for_user(user=user).get(pk=int(webhook_id))
    except (WebhookEndpoint.DoesNotExist, TypeError, ValueError) as exc:
        raise Http404("No such webhook.") from exc


def deliveries_for_user(*, user: Any) -> QuerySet[Delivery]:
    return Delivery.objects.filter(user=user).select_related("endpoint")


def email_kinds_for_user(*, user: Any) -> list[str]:
    prefs = NotificationSettings.objects.filter(user=user).first()
    return list(prefs.email_kinds) if prefs else []
