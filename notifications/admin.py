"""Admin for notifications: endpoints and the delivery log, read-only; secrets never shown."""

from django.contrib import admin

from notifications.models import Delivery, WebhookEndpoint


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnly):
    list_display = ("id", "user", "url", "enabled", "created_at")
    list_filter = ("enabled",)
    search_fields = ("user__email", "url")
    fields = ("user", "url", "description", "kinds", "enabled", "created_at", "updated_at")
    readonly_fields = fields


@admin.register(Delivery)
class DeliveryAdmin(_ReadOnly):
    list_display = ("id", "user", "event", "channel", "attempt", "status", "status_code")
    list_filter = ("event", "status", "channel")
    search_fields = ("user__email", "event_id")
    fields = (
        "user",
        "endpoint",
        "channel",
        "event_id",
        "event",
        "attempt",
        "status",
        "status_code",
        "error",
        "payload",
        "created_at",
        "scheduled_for",
        "finished_at",
    )
    readonly_fields = fields
