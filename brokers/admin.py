"""Admin for broker accounts: status and errors visible, secrets never shown or editable."""

from django.contrib import admin

from brokers.models import BrokerAccount, BrokerAlert, BrokerPostback


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


@admin.register(BrokerAlert)
class BrokerAlertAdmin(admin.ModelAdmin):
    """What the reconciliation could not fix, per account (read-only: a run resolves them)."""

    list_display = ("id", "account", "kind", "message", "created_at", "resolved_at")
    list_filter = ("kind", ("resolved_at", admin.EmptyFieldListFilter))
    readonly_fields = ("account", "kind", "key", "message", "detail", "created_at", "resolved_at")

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(BrokerPostback)
class BrokerPostbackAdmin(admin.ModelAdmin):
    """The postback inbox, as the brokers sent it (checksums dropped)."""

    list_display = ("id", "account", "broker_order_id", "broker_status", "outcome", "received_at")
    list_filter = ("outcome",)
    search_fields = ("broker_order_id", "tag")
    readonly_fields = (
        "account",
        "broker_order_id",
        "tag",
        "broker_status",
        "payload",
        "outcome",
        "received_at",
        "applied_at",
    )

    def has_add_permission(self, request) -> bool:
        return False
