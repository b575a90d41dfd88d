"""Broker accounts in the API: the secret is write-only, the access token never appears."""

from __future__ import annotations

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from algosaas.api import serializers as typed
from brokers import postbacks
from brokers.forms import JWT_SHAPE
from brokers.models import BrokerAccount, BrokerAlert


class BrokerAlertSerializer(typed.ModelSerializer):
    """A difference the reconciliation found and could not fix."""

    class Meta:
        model = BrokerAlert
        fields = ["id", "kind", "message", "detail", "created_at"]
        read_only_fields = fields


class BrokerAccountSerializer(typed.ModelSerializer):
    """An account as its owner sees it: status, last error, where to log in."""

    status = serializers.SerializerMethodField()
    status_label = serializers.SerializerMethodField()
    login_url = serializers.SerializerMethodField()
    alerts = serializers.SerializerMethodField()
    postback_url = serializers.SerializerMethodField()

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
            "postback_url",
            "reconciled_at",
            "reconcile_error",
            "alerts",
            "created_at",
        ]
        read_only_fields = fields

    def get_status(self, obj: BrokerAccount) -> str:
        return obj.current_status(timezone.now())

    def get_status_label(self, obj: BrokerAccount) -> str:
        return obj.current_status_label(timezone.now())

    @extend_schema_field(BrokerAlertSerializer(many=True))
    def get_alerts(self, obj: BrokerAccount) -> list[dict]:
        """The open alerts: positions or orders at the broker that we do not know."""
        alerts = getattr(obj, "open_alerts", None)
        if alerts is None:
            alerts = obj.alerts.filter(resolved_at__isnull=True).order_by("created_at")
        return BrokerAlertSerializer(alerts, many=True).data

    def get_postback_url(self, obj: BrokerAccount) -> str:
        """Where the broker must post order updates: Kite's app-wide URL, or this Dhan
        account's own (its token in the path: register it when generating the access token)."""
        if obj.vendor == BrokerAccount.Vendor.DHAN:
            path = postbacks.dhan_postback_path(account=obj)
        else:
            path = postbacks.KITE_POSTBACK_PATH
        request = self.context.get("request")
        return request.build_absolute_uri(path) if request is not None else path

    def get_login_url(self, obj: BrokerAccount) -> str:
        """Kite: where a logged-in browser POSTs to go to Kite's login (a browser-only flow).

        Dhan: where to POST a fresh ``access_token`` (the API's ``token`` action).
        """
        if obj.vendor == BrokerAccount.Vendor.DHAN:
            return reverse("broker-account-token", kwargs={"pk": obj.pk})
        return reverse("brokers:login", kwargs={"pk": obj.pk})


class BrokerAccountCreateSerializer(typed.Serializer):
    """What linking a Kite account takes; ``api_secret`` is accepted and never sent back."""

    vendor = serializers.ChoiceField(
        choices=[BrokerAccount.Vendor.KITE], default=BrokerAccount.Vendor.KITE
    )
    label = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    api_key = serializers.RegexField(r"^[A-Za-z0-9]{4,64}$", max_length=64)
    api_secret = serializers.RegexField(
        r"^[A-Za-z0-9]{8,128}$", max_length=128, write_only=True, style={"input_type": "password"}
    )


class DhanAccountCreateSerializer(typed.Serializer):
    """Linking a Dhan account: client id and access token; the token is never sent back."""

    vendor = serializers.ChoiceField(choices=[BrokerAccount.Vendor.DHAN])
    label = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    client_id = serializers.RegexField(r"^[0-9]{4,20}$", max_length=20)
    access_token = serializers.RegexField(
        JWT_SHAPE, max_length=4096, write_only=True, style={"input_type": "password"}
    )


class DhanTokenSerializer(typed.Serializer):
    """A fresh Dhan access token for an existing account (Dhan's "re-login")."""

    access_token = serializers.RegexField(
        JWT_SHAPE, max_length=4096, write_only=True, style={"input_type": "password"}
    )


class ReconcileResultSerializer(typed.Serializer):
    """What a forced reconciliation did (keys of open alerts: ``position:SYM``, ``order:ID``)."""

    fixed = serializers.IntegerField(help_text="Orders brought up to the broker's state.")
    replayed = serializers.IntegerField(help_text="Waiting postbacks applied.")
    new_alerts = serializers.ListField(child=serializers.CharField())
    open_alerts = serializers.ListField(child=serializers.CharField())
    resolved = serializers.IntegerField()
    skipped = serializers.CharField(help_text="Why nothing was compared, or empty.")
