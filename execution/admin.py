"""Operators' view of execution: instruments, orders and their audit trail, fills, positions,
backtests and the live state of deployments.

Everything but instruments is read-only here: order and strategy statuses change only through
the services the API uses (``order_cancel``, ``strategy_stop``), which the two actions call.
"""

from django.contrib import admin, messages

from algosaas.errors import DomainError
from execution.models import (
    Backtest,
    BrokerOrderLink,
    DeploymentState,
    EquitySnapshot,
    Instrument,
    Order,
    OrderEvent,
    Position,
    Trade,
)
from execution.services.live import order_cancel
from strategies import services as strategy_services
from strategies.models import DeploymentStatus


@admin.register(Instrument)
class InstrumentAdmin(admin.ModelAdmin):
    list_display = ["symbol", "exchange", "name", "tick_size", "lot_size", "currency"]
    list_filter = ["exchange", "currency"]
    search_fields = ["symbol", "name"]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the engine and the services: operators look, never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OrderEventInline(admin.TabularInline):
    model = OrderEvent
    extra = 0
    can_delete = False
    fields = ["ts", "status", "trigger", "broker_status", "message", "payload"]
    readonly_fields = fields
    ordering = ["id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = [
        "client_order_id",
        "strategy_name",
        "instrument",
        "side",
        "order_type",
        "product",
        "quantity",
        "filled_quantity",
        "price",
        "average_price",
        "status",
        "role",
        "created_at",
    ]
    list_filter = ["status", "side", "role", "source", "product", "order_type"]
    search_fields = [
        "client_order_id",
        "broker_order_id",
        "deployment__strategy__name",
        "deployment__strategy__owner__email",
    ]
    list_select_related = ["deployment__strategy", "instrument"]
    inlines = [OrderEventInline]
    actions = ["cancel_selected"]
    date_hierarchy = "created_at"

    @admin.display(description="strategy", ordering="deployment__strategy__name")
    def strategy_name(self, obj: Order) -> str:
        return f"{obj.deployment.strategy.name} #{obj.deployment.number}"

    @admin.action(description="Cancel selected orders")
    def cancel_selected(self, request, queryset):
        cancelled, refused = 0, []
        for order in queryset.select_related("deployment"):
            try:
                order_cancel(order=order)
                cancelled += 1
            except DomainError as e:
                refused.append(f"{order.client_order_id}: {e.message}")
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} orders.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(OrderEvent)
class OrderEventAdmin(ReadOnlyAdmin):
    list_display = ["ts", "order", "status", "trigger", "broker_status", "message"]
    list_filter = ["status", "trigger"]
    search_fields = ["order__client_order_id", "order__broker_order_id", "message"]
    list_select_related = ["order"]


@admin.register(Trade)
class TradeAdmin(ReadOnlyAdmin):
    list_display = ["executed_at", "fill_id", "order", "side", "quantity", "price", "charges"]
    list_filter = ["side"]
    search_fields = [
        "fill_id",
        "order__client_order_id",
        "deployment__strategy__name",
        "deployment__strategy__owner__email",
    ]
    list_select_related = ["order"]


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = [
        "deployment",
        "instrument",
        "quantity",
        "average_price",
        "last_price",
        "realised_pnl",
        "unrealised_pnl",
        "updated_at",
    ]
    search_fields = [
        "instrument__symbol",
        "deployment__strategy__name",
        "deployment__strategy__owner__email",
    ]
    list_select_related = ["deployment__strategy", "instrument"]


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ["deployment", "ts", "cash", "position_value", "equity"]
    search_fields = ["deployment__strategy__name", "deployment__strategy__owner__email"]
    list_select_related = ["deployment__strategy"]


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "strategy",
        "owner",
        "status",
        "progress",
        "bars",
        "data_source",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "charges", "data_source"]
    search_fields = ["strategy__name", "owner__email"]
    list_select_related = ["strategy", "owner"]
    readonly_fields = [
        "owner",
        "strategy",
        "status",
        "progress",
        "error",
        "config",
        "start",
        "end",
        "capital",
        "charges",
        "commission_pct",
        "slippage_bps",
        "close_at_end",
        "data_source",
        "bars",
        "stats",
        "created_at",
        "started_at",
        "finished_at",
    ]


@admin.register(DeploymentState)
class DeploymentStateAdmin(ReadOnlyAdmin):
    """The live side of a deployment: where its cursor is, whether its steps fail, and why."""

    list_display = [
        "deployment",
        "deployment_status",
        "phase",
        "feed",
        "mode",
        "cursor_ts",
        "next_due_at",
        "steps",
        "bars_processed",
        "failures",
        "last_step_at",
    ]
    list_filter = ["phase", "feed", "mode", "deployment__status"]
    search_fields = ["deployment__strategy__name", "deployment__strategy__owner__email"]
    list_select_related = ["deployment__strategy"]
    # the engine state can be large; its summary is in the fields shown
    fields = [
        "deployment",
        "phase",
        "feed",
        "mode",
        "broker_account",
        "algo_id",
        "interval_s",
        "replay_seconds_per_bar",
        "history_start_ts",
        "cursor_ts",
        "next_due_at",
        "steps",
        "bars_processed",
        "failures",
        "last_error",
        "last_step_at",
        "engine_config",
    ]
    readonly_fields = fields
    actions = ["stop_selected"]

    @admin.display(description="status", ordering="deployment__status")
    def deployment_status(self, obj: DeploymentState) -> str:
        return obj.deployment.status

    @admin.action(description="Stop selected deployments")
    def stop_selected(self, request, queryset):
        stopped, refused = 0, []
        for live in queryset.select_related("deployment__strategy"):
            deployment = live.deployment
            if deployment.status != DeploymentStatus.RUNNING:
                # never stop a strategy's newer run through an old deployment's row
                refused.append(f"{deployment}: this deployment is {deployment.status}.")
                continue
            try:
                strategy_services.strategy_stop(
                    strategy=deployment.strategy,
                    actor=request.user,
                    reason="stopped by an operator",
                )
                stopped += 1
            except DomainError as e:
                refused.append(f"{deployment}: {e.message}")
        if stopped:
            self.message_user(request, f"Stopped {stopped} deployments.", messages.SUCCESS)
        for line in refused:
            self.message_user(request, line, messages.WARNING)


@admin.register(BrokerOrderLink)
class BrokerOrderLinkAdmin(ReadOnlyAdmin):
    """A live deployment's orders as its broker knows them: the broker's id, tag and answer."""

    list_display = [
        "client_order_id",
        "broker_order_id",
        "tag",
        "status",
        "broker_status",
        "sent_at",
    ]
    list_filter = ["status"]
    search_fields = ["client_order_id", "broker_order_id", "tag"]
    readonly_fields = [
        "live",
        "client_order_id",
        "broker_order_id",
        "tag",
        "status",
        "broker_status",
        "message",
        "sent_at",
        "updated_at",
    ]
