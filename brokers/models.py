"""A user's linked broker account: the vendor, the API key, and secrets encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models


class BrokerAccount(models.Model):
    """One broker login of one user.

    Kite: ``api_key`` and the API secret, then a daily access token from the login flow. Dhan:
    ``api_key`` holds the client id and there is no secret, only the access token the user
    pastes (a JWT whose ``exp`` is ``token_expires_at``).

    ``api_secret_encrypted`` and ``access_token_encrypted`` hold Fernet tokens
    (``brokers.crypto``); nothing outside ``brokers.services`` decrypts them, and no serializer,
    form, admin page or log line shows them.
    """

    class Vendor(models.TextChoices):
        KITE = "kite", "Zerodha Kite Connect"
        DHAN = "dhan", "DhanHQ"

    class Status(models.TextChoices):
        LOGIN_NEEDED = "login_needed", "Login needed"
        LINKED = "linked", "Linked"
        RELOGIN_NEEDED = "relogin_needed", "Re-login needed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="broker_accounts"
    )
    vendor = models.CharField(max_length=16, choices=Vendor.choices, default=Vendor.KITE)
    label = models.CharField(max_length=80, blank=True)
    api_key = models.CharField(max_length=64)
    api_secret_encrypted = models.TextField(editable=False)
    access_token_encrypted = models.TextField(blank=True, editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.LOGIN_NEEDED, editable=False
    )
    broker_user_id = models.CharField(max_length=32, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    linked_at = models.DateTimeField(null=True, blank=True, editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Dhan posts order updates unsigned: its postback URL carries this token (``postbacks``);
    # we keep its SHA-256 to find the account, and the token itself encrypted to show it.
    postback_token_hash = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    postback_token_encrypted = models.TextField(blank=True, editable=False)
    reconciled_at = models.DateTimeField(null=True, blank=True, editable=False)
    reconcile_error = models.CharField(max_length=500, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "vendor", "api_key"], name="broker_account_unique_key_per_user"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_vendor_display()} {self.label or self.api_key} ({self.user_id})"

    def current_status(self, now: datetime) -> str:
        """The status as of ``now``: a linked session past its daily expiry needs a re-login."""
        if (
            self.status == self.Status.LINKED
            and self.token_expires_at is not None
            and now >= self.token_expires_at
        ):
            return self.Status.RELOGIN_NEEDED
        return self.status

    def current_status_label(self, now: datetime) -> str:
        return self.Status(self.current_status(now)).label


class BrokerPostback(models.Model):
    """The inbox: every verified order update a broker posted to us, as it came.

    A postback for an order we cannot match yet (it arrived before the placement's answer was
    committed, or the order is not ours) stays ``pending``; the placement, the next postback
    or the reconciliation job applies it later. Bad checksums are not stored (only logged).
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Pending (order not known yet)"
        APPLIED = "applied", "Applied"
        UNCHANGED = "unchanged", "Nothing new"
        STALE = "stale", "Older than what we have"

    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="postbacks")
    broker_order_id = models.CharField(max_length=64)
    tag = models.CharField(max_length=64, blank=True)
    broker_status = models.CharField(max_length=64, blank=True)
    payload = models.JSONField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    received_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            models.Index(fields=["account", "broker_order_id"]),
            models.Index(fields=["account", "outcome"]),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.broker_order_id} {self.broker_status} ({self.outcome})"


class BrokerAlert(models.Model):
    """Something the reconciliation found at the broker that it cannot fix by itself.

    A position, a delivery holding or an order the platform does not know (placed by hand at
    the broker, or by another app on the same account), or one whose quantity differs from
    ours. One open alert per ``key``: reconciling again does not repeat it; it is resolved
    when the broker's books no longer show the difference.
    """

    class Kind(models.TextChoices):
        UNKNOWN_POSITION = "unknown_position", "Position we do not know"
        POSITION_MISMATCH = "position_mismatch", "Position differs from ours"
        UNKNOWN_ORDER = "unknown_order", "Order we do not know"
        UNKNOWN_HOLDING = "unknown_holding", "Holding we do not know"
        HOLDING_MISMATCH = "holding_mismatch", "Holding differs from ours"

    account = models.ForeignKey(BrokerAccount, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=120)
    message = models.CharField(max_length=500)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "key"],
                condition=models.Q(resolved_at__isnull=True),
                name="broker_alert_one_open_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.message}"
