"""Operators' view of strategies: filters, search, read-only audit trail, a stop action."""

from django.contrib import admin, messages

from algosaas.errors import DomainError
from strategies import services
from strategies.models import Deployment, Strategy, StrategyEvent, StrategyInstrument


class StrategyEventInline(admin.TabularInline):
    model = StrategyEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "from_status", "to_status", "trigger", "actor", "reason", "deployment"]
    readonly_fields = fields
    ordering = ["-created_at"]

    def has_add_permission(self, request, obj=None):
        return False


class StrategyInstrumentInline(admin.TabularInline):
    """The basket's members, read-only like the rest of the configuration."""

    model = StrategyInstrument
    extra = 0
    can_delete = False
    fields = ["position", "instrument", "allocation_pct"]
    readonly_fields = fields
    ordering = ["position"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "owner",
        "strategy_type",
        "instrument",
        "timeframe",
        "status",
        "status_reason",
        "updated_at",
    ]
    list_filter = [
        "status",
        "strategy_type",
        "timeframe",
        "product",
        ("owner", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "owner__email", "instrument__symbol"]
    list_select_related = ["owner", "instrument"]
    # Configuration changes go through the API or the dashboard (strategy_update enforces the
    # rules); operators see everything and act through the lifecycle actions.
    readonly_fields = [
        "owner",
        "name",
        "strategy_type",
        "params",
        "instrument",
        "timeframe",
        "quantity",
        "allocation_pct",
        "product",
        "capital",
        "risk_limits",
        "status",
        "status_reason",
        "created_at",
        "updated_at",
        "archived_at",
    ]
    inlines = [StrategyInstrumentInline, StrategyEventInline]
    actions = ["stop_selected"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Stop selected strategies")
    def stop_selected(self, request, queryset):
        stopped, refused = 0, []
        for strategy in queryset:
            try:
                services.strategy_stop(
                    strategy=strategy, actor=request.user, reason="stopped by an operator"
                )
                stopped += 1
            except DomainError as e:
                refused.append(f"{strategy.name}: {e.message}")
        if stopped:
            self.message_user(request, f"Stopped {stopped} strategies.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(StrategyEvent)
class StrategyEventAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "strategy",
        "from_status",
        "to_status",
        "trigger",
        "actor",
        "reason",
    ]
    list_filter = ["to_status", "trigger"]
    search_fields = ["strategy__name", "reason", "actor__email"]
    list_select_related = ["strategy", "actor"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "status", "capital", "started_at", "stopped_at", "stop_reason"]
    list_filter = ["status"]
    search_fields = ["strategy__name", "strategy__owner__email"]
    list_select_related = ["strategy"]
    readonly_fields = [f.name for f in Deployment._meta.fields]

    def has_add_permission(self, request):
        return False
