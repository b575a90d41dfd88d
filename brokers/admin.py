"""Admin for broker accounts: status and errors visible, secrets never shown or editable."""

from django.contrib import admin

from brokers.models import BrokerAccount


@admin.register(BrokerAccount)
class BrokerAccountAdmin(admin.ModelAdmin):
    list_display = ("id", "user", "vendor", "label", "api_key", "status", "token_expires_at")
    list_filter = ("vendor", "status")
    search_fields = ("user__email", "api_key", "label", "broker_user_id")
    fields = (
        "user",
        "vendor",
        "label",
        "api_key",
        "status",
        "broker_user_id",
        "last_error",
        "linked_at",
        "token_expires_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields  # linking needs the owner's login at the broker, not the admin

    def has_add_permission(self, request) -> bool:
        return False
