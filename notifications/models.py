"""Per-user notification channels (email kinds, signed webhooks) and the delivery log.

A webhook's secret is stored (it must be, to sign) but never logged, never serialised after
creation and never copied into a ``Delivery`` row.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class EventKind(models.TextChoices):
    FILL = "fill", "Fill"
    ORDER_REJECTED = "order.rejected", "Order rejected"
    DEPLOYMENT_STOPPED = "deployment.stopped", "Deployment stopped"
    DEPLOYMENT_FAILED = "deployment.failed", "Deployment failed"
    RISK_LIMIT = "risk.limit", "Risk limit hit"
    DAILY_SUMMARY = "daily.summary", "Daily P&L summary"
    BROKER_ALERT = "broker.alert", "Broker books differ from ours"
    TEST = "test", "Test"


# What a user can subscribe to (``test`` is sent on request only).
SUBSCRIBABLE = [k for k in EventKind.values if k != EventKind.TEST]


def _all_kinds() -> list[str]:
    return list(SUBSCRIBABLE)


class NotificationSettings(models.Model):
    """The event kinds a user wants by email (to the account's address)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_settings"
    )
    email_kinds = models.JSONField(default=list, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"notification settings of user {self.user_id}"


class WebhookEndpoint(models.Model):
    """A URL that receives the user's events as signed JSON POSTs."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    description = models.CharField(max_length=100, blank=True)
    secret = models.CharField(max_length=80)  # shown once, at creation
    kinds = models.JSONField(default=_all_kinds)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "enabled"])]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"  # this attempt failed; a later one may follow
    REFUSED = "refused", "Refused"  # the URL is not allowed; never retried


class Delivery(models.Model):
    """One attempt to deliver one event to one channel (a webhook, or the user's email)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="deliveries"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    channel = models.CharField(max_length=8, default="webhook")  # webhook | email
    event_id = models.CharField(max_length=40)
    event = models.CharField(max_length=24, choices=EventKind.choices)
    payload = models.JSONField(default=dict)
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.event} #{self.attempt} ({self.status})"
