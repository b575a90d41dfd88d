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
