"""Webhook endpoints (the secret appears in the create answer only) and the delivery log."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from algosaas.api import serializers as typed
from notifications.models import SUBSCRIBABLE, Delivery, WebhookEndpoint
from notifications.signing import UrlRefused, check_url


class KindsField(serializers.ListField):
    child = serializers.ChoiceField(choices=SUBSCRIBABLE)

    def to_internal_value(self, data):
        kinds = super().to_internal_value(data)
        if self.max_length is not None and len(kinds) > self.max_length:
            # the schema's maxItems counts the items as sent, before duplicates fold
            raise serializers.ValidationError(f"At most {self.max_length} kinds.")
        return [k for k in SUBSCRIBABLE if k in set(kinds)]  # canonical order, no duplicates


class WebhookSerializer(typed.ModelSerializer):
    kinds = KindsField(required=False, max_length=len(SUBSCRIBABLE))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "description", "kinds", "enabled", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_url(self, value: str) -> str:
        try:
            check_url(value, allow_private=settings.NOTIFICATIONS["ALLOW_PRIVATE_ADDRESSES"])
        except UrlRefused as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class WebhookCreatedSerializer(WebhookSerializer):
    """The create answer: the only time the signing secret is shown."""

    secret = serializers.CharField(read_only=True)

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]


class DeliverySerializer(typed.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "channel",
            "endpoint",
            "event_id",
            "event",
            "attempt",
            "status",
            "status_code",
            "error",
            "created_at",
            "scheduled_for",
            "finished_at",
            "payload",
        ]
        read_only_fields = fields
