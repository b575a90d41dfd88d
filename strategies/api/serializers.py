"""Shapes of the strategies API. They parse and render; the services decide."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from algosaas import bounds
from algosaas.api.serializers import CrossFieldChecks, ModelSerializer, Serializer
from strategies import catalog
from strategies.models import (
    MAX_BASKET_SIZE,
    Deployment,
    Product,
    Strategy,
    StrategyEvent,
    StrategyInstrument,
    Timeframe,
)
from strategies.rules import schema as rule_schema
from strategies.rules.text import MAX_TEXT
from strategies.services import lot_size_errors


class RiskLimitsSerializer(Serializer):
    """Per-strategy limits that tighten the user's defaults; every one optional."""

    max_order_quantity = serializers.IntegerField(**bounds.QUANTITY.field_kwargs(), required=False)
    max_order_value = serializers.DecimalField(
        max_digits=16, decimal_places=2, **bounds.MONEY_LIMIT.field_kwargs(), required=False
    )
    max_position_value = serializers.DecimalField(
        max_digits=16, decimal_places=2, **bounds.MONEY_LIMIT.field_kwargs(), required=False
    )
    max_open_orders = serializers.IntegerField(**bounds.OPEN_ORDERS.field_kwargs(), required=False)
    max_orders_per_minute = serializers.IntegerField(
        **bounds.ORDERS_PER_MINUTE.field_kwargs(), required=False
    )
    max_daily_loss = serializers.DecimalField(
        max_digits=16, decimal_places=2, **bounds.MONEY_LIMIT.field_kwargs(), required=False
    )
    price_band_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, **bounds.PERCENT.field_kwargs(), required=False
    )

    def to_internal_value(self, data):
        unknown = set(data) - set(self.fields) if isinstance(data, dict) else set()
        if unknown:
            raise serializers.ValidationError({k: ["Unknown risk limit."] for k in sorted(unknown)})
        values = super().to_internal_value(data)
        # JSON storage: decimals as strings, so no precision is lost.
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in values.items()}


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": True,
        "description": "Parameters of the strategy type; see /api/strategy-types/.",
    }
)
class ParamsField(serializers.JSONField):
    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError("Must be an object of parameter values.")
        return data


class BasketMemberSerializer(ModelSerializer):
    """One instrument of a basket and its cap on the shared capital (empty: equal split)."""

    instrument = serializers.PrimaryKeyRelatedField(
        queryset=StrategyInstrument._meta.get_field("instrument").related_model.objects.all()
    )
    allocation_pct = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        **bounds.PERCENT.field_kwargs(),
        allow_null=True,
        required=False,
        default=None,
        help_text="Most of the capital this member may hold, in percent; empty: 100 / members.",
    )

    class Meta:
        model = StrategyInstrument
        fields = ["instrument", "allocation_pct"]


class BasketField(serializers.ListField):
    """A strategy's basket: a list of members, read from its ``members`` in order."""

    def to_representation(self, data):
        return super().to_representation(data.all() if hasattr(data, "all") else data)


class StrategySerializer(CrossFieldChecks, ModelSerializer):
    strategy_type = serializers.CharField(max_length=64)
    params = ParamsField(required=False, default=dict)
    # The related model comes from the FK, so strategies never imports execution.
    instrument = serializers.PrimaryKeyRelatedField(
        queryset=Strategy._meta.get_field("instrument").related_model.objects.all(),
        required=False,
        help_text="The instrument traded; with a basket, its first member (may be left out).",
    )
    instruments = BasketField(
        child=BasketMemberSerializer(),
        source="members",
        required=False,
        max_length=MAX_BASKET_SIZE,
        help_text=(
            f"A basket (up to {MAX_BASKET_SIZE} instruments, one currency): each member trades"
            " with its own signals, orders and position on the shared capital. Empty: the"
            " single instrument."
        ),
    )
    timeframe = serializers.ChoiceField(choices=Timeframe.choices, default=Timeframe.D1)
    product = serializers.ChoiceField(choices=Product.choices, default=Product.CNC)
    quantity = serializers.IntegerField(
        **bounds.QUANTITY.field_kwargs(), allow_null=True, required=False, default=None
    )
    allocation_pct = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        **bounds.PERCENT.field_kwargs(),
        allow_null=True,
        required=False,
        default=None,
    )
    capital = serializers.DecimalField(
        max_digits=16,
        decimal_places=2,
        **bounds.CAPITAL.field_kwargs(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Starting capital of its deployments; defaults to your paper capital.",
    )
    risk_limits = RiskLimitsSerializer(required=False, default=dict)
    currency = serializers.CharField(
        source="instrument.currency",
        read_only=True,
        help_text="ISO code of the instrument's currency.",
    )

    class Meta:
        model = Strategy
        fields = [
            "id",
            "name",
            "strategy_type",
            "params",
            "instrument",
            "instruments",
            "timeframe",
            "quantity",
            "allocation_pct",
            "product",
            "capital",
            "currency",
            "risk_limits",
            "status",
            "status_reason",
            "archived_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "status",
            "status_reason",
            "archived_at",
            "created_at",
            "updated_at",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.partial:  # PATCH: no defaults may overwrite what the client did not send
            for field in self.fields.values():
                field.default = serializers.empty

    # A valid request goes to the service, which checks the parameters (``_validate``).
    cross_checks_when_valid = False

    def cross_field_errors(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The parameters' errors (fast >= slow…) and whole lots beside the other fields' errors.

        Each is judged when the fields it reads are valid: sent, or the edited strategy's.
        """
        errors: dict[str, Any] = lot_size_errors(
            quantity=attrs.get("quantity"), instrument=self._current(attrs, "instrument")
        )
        errors.update(self._missing_instrument(attrs))
        key = self._current(attrs, "strategy_type")
        if key is None or "params" not in attrs:
            return errors
        try:
            catalog.get(key).validate_params(attrs["params"])
        except catalog.UnknownStrategyType:
            pass
        except catalog.ParamsInvalid as e:
            errors["params"] = e.errors
        return errors

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        missing = self._missing_instrument(attrs)
        if missing:
            raise serializers.ValidationError(missing)
        if "members" in attrs:  # the services take the basket as ``instruments``
            attrs["instruments"] = attrs.pop("members")
        return attrs

    def _missing_instrument(self, attrs: dict[str, Any]) -> dict[str, list[str]]:
        """``instrument`` is required (as before baskets) unless a basket names the instruments."""
        if self.partial or any(attrs.get(k) for k in ("instrument", "instruments", "members")):
            return {}
        if "instruments" in self.initial_data and "members" not in attrs:
            return {}  # a basket was sent but is invalid: its own errors say why
        return {"instrument": ["This field is required."]}

    def _current(self, attrs: dict[str, Any], name: str) -> Any:
        """``name`` as this request leaves it: sent and valid, else (not sent) the instance's."""
        if name in attrs:
            return attrs[name]
        if self.instance is not None and name not in self.initial_data:
            return getattr(self.instance, name)
        return None

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if instance.allocation_pct is not None:
            data["allocation_pct"] = format(instance.allocation_pct.normalize(), "f")
        return data


class DeploySerializer(Serializer):
    feed = serializers.ChoiceField(
        choices=["synthetic", "nse_hours", "replay", "broker"],
        default="synthetic",
        help_text=(
            "synthetic: the live synthetic market, around the clock; nse_hours: the same"
            " market open only in NSE sessions (09:15-15:30 IST, no holidays), with the MIS"
            " square-off; replay: the instrument's stored bars; broker: live one-minute bars"
            " from the broker's ticker (run_ticker), for an instrument imported from the broker."
        ),
    )
    seconds_per_bar = serializers.FloatField(
        **bounds.SECONDS_PER_BAR.field_kwargs(),
        required=False,
        allow_null=True,
        default=None,
        help_text="Replay speed: wall-clock seconds per stored bar.",
    )
    mode = serializers.ChoiceField(
        choices=["paper", "live"],
        default="paper",
        help_text="paper: the paper broker only; live: also send every order to broker_account.",
    )
    broker_account = serializers.IntegerField(
        min_value=1,
        max_value=2**31 - 1,
        required=False,
        allow_null=True,
        default=None,
        help_text="Live mode: the id of your linked broker account (/api/brokers/).",
    )
    confirm = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=200,
        default="",
        help_text="Live mode: the strategy's exact name, to confirm trading it live.",
    )
    algo_id = serializers.RegexField(
        r"^[A-Za-z0-9]{0,8}$",
        required=False,
        allow_blank=True,
        default="",
        help_text=(
            "Live mode: the algo identifier every order's tag carries (up to 8 letters and"
            " digits, as your broker registered it); by default A + the strategy's id in base 36."
        ),
    )


class StopSerializer(Serializer):
    square_off = serializers.BooleanField(default=False)


class StrategyEventSerializer(ModelSerializer):
    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = StrategyEvent
        fields = [
            "id",
            "from_status",
            "to_status",
            "trigger",
            "actor",
            "reason",
            "deployment",
            "created_at",
        ]


class DeploymentSerializer(ModelSerializer):
    currency = serializers.CharField(
        source="config.instrument.currency",
        read_only=True,
        help_text="ISO code of the instrument's currency.",
    )

    class Meta:
        model = Deployment
        fields = [
            "id",
            "strategy",
            "number",
            "status",
            "capital",
            "currency",
            "config",
            "started_at",
            "stopped_at",
            "stop_reason",
            "square_off",
        ]


class StrategyTypeSerializer(Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    params_schema = serializers.DictField()


@extend_schema_field(rule_schema.document_schema())
class RuleDocumentField(serializers.JSONField):
    """A rule document (the ``rules`` type's params), documented with its full JSON schema."""


@extend_schema_field(rule_schema.condition_schema())
class RuleConditionField(serializers.JSONField):
    """One rule condition: a comparison or an all/any group."""


class RuleParseRequestSerializer(Serializer):
    text = serializers.CharField(
        max_length=MAX_TEXT,
        trim_whitespace=False,
        help_text=(
            "One condition (sma(20) crosses_above sma(50) and rsi(14) < 60) or a whole "
            "document: 'section: condition' lines (entry_long, exit_long, entry_short, "
            "exit_short) and one line per exit (stop_loss: 2%, target: 5%, "
            "trailing_stop: 1.5%, max_bars: 10, exit_at: 15:10)."
        ),
    )


class RuleParseSerializer(Serializer):
    text = serializers.CharField(help_text="The rule printed back in its canonical form.")
    document = RuleDocumentField(
        required=False, help_text="Set when the text held sections: the rules type's params."
    )
    condition = RuleConditionField(required=False, help_text="Set when the text was one condition.")
