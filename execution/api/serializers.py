"""Shapes of the execution API."""

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from algosaas import bounds
from algosaas.api.serializers import (
    CrossFieldChecks,
    ModelSerializer,
    PlannedRepresentation,
    Serializer,
)
from execution.marketdata.ticks import PRICE_PLACES, price_text
from execution.models import (
    PRICE_DIGITS,
    Backtest,
    BacktestEquity,
    BacktestTrade,
    ChargesChoice,
    CloseAtEnd,
    EquitySnapshot,
    Instrument,
    Order,
    OrderEvent,
    OrderTypeChoices,
    Position,
    SideChoices,
    Trade,
    ValidityChoices,
)
from execution.selectors import deployment_pnl
from execution.validation import backtest_request_errors
from strategies.models import Deployment


class PriceField(serializers.DecimalField):
    """A price (or tick) column: shown by ``price_text``, read to 8 places."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("max_digits", PRICE_DIGITS)
        kwargs.setdefault("decimal_places", PRICE_PLACES)
        super().__init__(**kwargs)

    def to_representation(self, value: Any) -> Any:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        text = price_text(number)
        as_text = getattr(self, "coerce_to_string", api_settings.COERCE_DECIMAL_TO_STRING)
        return text if as_text else Decimal(text)


class PriceColumns:
    """ModelSerializer mixin: every 8-place decimal column (prices, ticks) is a ``PriceField``."""

    def build_standard_field(self, field_name: str, model_field: Any) -> tuple[type, dict]:
        field_class, kwargs = super().build_standard_field(field_name, model_field)  # type: ignore[misc]
        if getattr(model_field, "decimal_places", None) == PRICE_PLACES:
            field_class = PriceField
        return field_class, kwargs


class InstrumentSerializer(PriceColumns, ModelSerializer):
    class Meta:
        model = Instrument
        fields = ["id", "exchange", "symbol", "name", "tick_size", "lot_size", "currency"]


class BacktestRequestSerializer(CrossFieldChecks, Serializer):
    start = serializers.DateField(
        required=False, allow_null=True, default=None, validators=bounds.DATE.validators()
    )
    end = serializers.DateField(
        required=False, allow_null=True, default=None, validators=bounds.DATE.validators()
    )
    capital = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        **bounds.CAPITAL.field_kwargs(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Defaults to the strategy's capital.",
    )
    charges = serializers.ChoiceField(
        choices=ChargesChoice.choices,
        required=False,
        allow_null=True,
        default=None,
        help_text="Defaults to the exchange's: india_equity on NSE/BSE; elsewhere none, with a "
        "0.01 % flat commission unless commission_pct is given.",
    )
    commission_pct = serializers.DecimalField(
        max_digits=6,
        decimal_places=4,
        **bounds.COMMISSION_PCT.field_kwargs(),
        required=False,
        allow_null=True,
        default=None,
        help_text="A flat commission in percent of traded value at every fill; replaces charges.",
    )
    slippage_bps = serializers.DecimalField(
        max_digits=8,
        decimal_places=2,
        **bounds.SLIPPAGE_BPS.field_kwargs(),
        required=False,
        default=Decimal("0"),
    )
    close_at_end = serializers.ChoiceField(
        choices=CloseAtEnd.choices,
        default=CloseAtEnd.CLOSE,
        help_text="Close a position still open after the last bar at its close (default), or at "
        "its open as backtesting.py 0.6 does.",
    )

    def cross_field_errors(self, attrs: dict[str, Any]) -> dict[str, Any]:
        return backtest_request_errors(attrs)


class BacktestSerializer(ModelSerializer):
    currency = serializers.CharField(
        source="config.instrument.currency",
        read_only=True,
        help_text="ISO code of the instrument's currency.",
    )

    class Meta:
        model = Backtest
        fields = [
            "id",
            "strategy",
            "status",
            "progress",
            "start",
            "end",
            "capital",
            "currency",
            "charges",
            "commission_pct",
            "slippage_bps",
            "close_at_end",
            "data_source",
            "bars",
            "stats",
            "member_stats",
            "error",
            "config",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class BacktestEquitySerializer(ModelSerializer):
    class Meta:
        model = BacktestEquity
        fields = ["ts", "equity", "cash", "drawdown_pct"]


class BacktestTradeSerializer(PriceColumns, ModelSerializer):
    class Meta:
        model = BacktestTrade
        fields = [
            "seq",
            "instrument",
            "side",
            "quantity",
            "entry_ts",
            "entry_price",
            "exit_ts",
            "exit_price",
            "pnl",
            "charges",
        ]


class OrderSerializer(PlannedRepresentation, PriceColumns, ModelSerializer):
    """Kite-like order fields (rendered through a plan: order lists are the hottest read)."""

    strategy = serializers.IntegerField(source="deployment.strategy_id", read_only=True)
    currency = serializers.CharField(
        source="instrument.currency",
        read_only=True,
        help_text="ISO code of the instrument's currency.",
    )

    class Meta:
        model = Order
        fields = [
            "id",
            "client_order_id",
            "broker_order_id",
            "deployment",
            "strategy",
            "instrument",
            "currency",
            "side",
            "order_type",
            "product",
            "validity",
            "quantity",
            "price",
            "trigger_price",
            "filled_quantity",
            "pending_quantity",
            "average_price",
            "status",
            "status_message",
            "broker_status",
            "denial_rule",
            "source",
            "role",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class OrderPlaceSerializer(CrossFieldChecks, Serializer):
    side = serializers.ChoiceField(choices=SideChoices.choices)
    order_type = serializers.ChoiceField(choices=OrderTypeChoices.choices)
    quantity = serializers.IntegerField(**bounds.QUANTITY.field_kwargs())
    price = PriceField(
        **bounds.PRICE.field_kwargs(),
        required=False,
        allow_null=True,
        default=None,
    )
    trigger_price = PriceField(
        **bounds.PRICE.field_kwargs(),
        required=False,
        allow_null=True,
        default=None,
    )
    validity = serializers.ChoiceField(choices=ValidityChoices.choices, default="DAY")
    product = serializers.ChoiceField(choices=["CNC", "MIS"], required=False, default=None)
    instrument = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        default=None,
        help_text=(
            "On a basket deployment: the member to trade (its symbol, EXCHANGE:SYMBOL or id);"
            " required there. Elsewhere optional, and then must be the deployment's instrument."
        ),
    )

    def cross_field_errors(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """Shape rules of a Kite order (which prices each type needs), named by field.

        A price that did not parse is absent from ``attrs`` (one not sent is ``None``): its
        rule waits for it.
        """
        kind = attrs.get("order_type")
        errors = {}
        if kind is None:
            return errors
        price, trigger = attrs.get("price"), attrs.get("trigger_price")
        if "price" in attrs:
            if kind in ("LIMIT", "SL") and price is None:
                errors["price"] = [f"A {kind} order needs a price."]
            if kind in ("MARKET", "SL-M") and price is not None:
                errors["price"] = [f"A {kind} order takes no price."]
        if "trigger_price" in attrs:
            if kind in ("SL", "SL-M") and trigger is None:
                errors["trigger_price"] = [f"A {kind} order needs a trigger price."]
            if kind in ("MARKET", "LIMIT") and trigger is not None:
                errors["trigger_price"] = [f"A {kind} order takes no trigger price."]
        return errors


class OrderModifySerializer(Serializer):
    quantity = serializers.IntegerField(**bounds.QUANTITY.field_kwargs(), required=False)
    price = PriceField(**bounds.PRICE.field_kwargs(), required=False)
    trigger_price = PriceField(**bounds.PRICE.field_kwargs(), required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send at least one of quantity, price, trigger_price."]}
            )
        return attrs


class OrderEventSerializer(ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["id", "status", "broker_status", "trigger", "message", "payload", "ts"]


class TradeSerializer(PriceColumns, ModelSerializer):
    currency = serializers.CharField(
        source="order.instrument.currency",
        read_only=True,
        help_text="ISO code of the instrument's currency.",
    )

    class Meta:
        model = Trade
        fields = [
            "id",
            "order",
            "deployment",
            "fill_id",
            "side",
            "quantity",
            "price",
            "currency",
            "charges",
            "charges_breakdown",
            "executed_at",
        ]


class PositionSerializer(PriceColumns, ModelSerializer):
    unrealised_pnl = serializers.DecimalField(max_digits=18, decimal_places=2, read_only=True)
    symbol = serializers.CharField(source="instrument.symbol", read_only=True)
    currency = serializers.CharField(
        source="instrument.currency",
        read_only=True,
        help_text="ISO code of the instrument's currency.",
    )

    class Meta:
        model = Position
        fields = [
            "id",
            "instrument",
            "symbol",
            "currency",
            "quantity",
            "average_price",
            "last_price",
            "realised_pnl",
            "unrealised_pnl",
            "updated_at",
        ]


class EquityPointSerializer(ModelSerializer):
    class Meta:
        model = EquitySnapshot
        fields = ["ts", "cash", "position_value", "equity"]


class DeploymentDetailSerializer(ModelSerializer):
    """A deployment with its live P&L (realised, unrealised, charges, equity)."""

    strategy_name = serializers.CharField(source="strategy.name", read_only=True)
    currency = serializers.CharField(
        source="config.instrument.currency",
        read_only=True,
        help_text="ISO code of the instrument's currency.",
    )
    pnl = serializers.SerializerMethodField()
    # Null until the deployment has live state (and last_step_at until its first step).
    feed = serializers.CharField(source="live.feed", read_only=True, default=None, allow_null=True)
    phase = serializers.CharField(
        source="live.phase", read_only=True, default=None, allow_null=True
    )
    last_step_at = serializers.DateTimeField(
        source="live.last_step_at", read_only=True, default=None, allow_null=True
    )
    last_error = serializers.CharField(
        source="live.last_error", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Deployment
        fields = [
            "id",
            "strategy",
            "strategy_name",
            "number",
            "status",
            "capital",
            "currency",
            "config",
            "started_at",
            "stopped_at",
            "stop_reason",
            "square_off",
            "feed",
            "phase",
            "last_step_at",
            "last_error",
            "pnl",
        ]
        read_only_fields = fields

    @extend_schema_field(
        {
            "type": "object",
            "properties": {
                k: {"type": "string", "format": "decimal"}
                for k in ("realised_pnl", "unrealised_pnl", "charges", "equity")
            },
        }
    )
    def get_pnl(self, obj):
        return {k: str(v) for k, v in deployment_pnl(obj).items()}
