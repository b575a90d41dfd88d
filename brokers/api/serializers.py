"""Broker accounts in the API: the secret is write-only, the access token never appears."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers

from algosaas.api import serializers as typed
from brokers.models import BrokerAccount


class BrokerAccountSerializer(typed.ModelSerializer):
    """An account as its owner sees it: status, last error, where to log in."""

    status = serializers.SerializerMethodField()
    status_label = serializers.SerializerMethodField()
    login_url = serializers.SerializerMethodField()

    class Meta:
        model = BrokerAccount
        fields = [
            "id",
            "vendor",
            "label",
            "api_key",
            "status",
            "status_label",
            "last_error",
            "broker_user_id",
            "linked_at",
            "token_expires_at",
            "login_url",
            "created_at",
        ]
        read_only_fields = fields

    def get_status(self, obj: BrokerAccount) -> str:
        return obj.current_status(timezone.now())

    def get_status_label(self, obj: BrokerAccount) -> str:
        return obj.current_status_label(timezone.now())

    def get_login_url(self, obj: BrokerAccount) -> str:
        """Where a logged-in browser POSTs to go to the broker's login (a browser-only flow)."""
        return reverse("brokers:login", kwargs={"pk": obj.pk})


class BrokerAccountCreateSerializer(typed.Serializer):
    """What linking an account takes; ``api_secret`` is accepted and never sent back."""

    vendor = serializers.ChoiceField(
        choices=BrokerAccount.Vendor.choices, default=BrokerAccount.Vendor.KITE
    )
    label = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    api_key = serializers.RegexField(r"^[A-Za-z0-9]{4,64}$", max_length=64)
    api_secret = serializers.RegexField(
        r"^[A-Za-z0-9]{8,128}$", max_length=128, write_only=True, style={"input_type": "password"}
    )
