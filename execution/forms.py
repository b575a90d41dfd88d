"""Dashboard forms for trading: the backtest request, the manual order ticket and list filters.

The Django forms parse and render; the input *rules* (bounds, which prices an order type needs)
live once, in the API's request serializers, and each form runs its parsed values through that
serializer, so the dashboard and the API accept and refuse exactly the same input. Both the
serializer's errors and a service's refusal (``DomainError``) come back onto the fields through
``algosaas.forms.ServiceForm``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.db.models import QuerySet
from rest_framework import serializers

from algosaas import bounds
from algosaas.currencies import currency_info
from algosaas.forms import ServiceForm
from algosaas.templatetags.money import format_money
from execution.api.serializers import BacktestRequestSerializer, OrderPlaceSerializer
from execution.engine.orders import WORKING_STATUSES
from execution.marketdata.exchanges import ChargesDefault, UnknownExchange, charges_default
from execution.marketdata.ticks import PRICE_PLACES
from execution.models import (
    PRICE_DIGITS,
    ChargesChoice,
    CloseAtEnd,
    OrderRoleChoices,
    OrderStatusChoices,
    OrderTypeChoices,
    SideChoices,
    ValidityChoices,
)
from strategies.models import DeploymentStatus, Strategy
from strategies.selectors import strategies_for_user

IST = ZoneInfo("Asia/Kolkata")


class RuleCheckedForm(ServiceForm):
    """A form whose parsed values are checked by an API request serializer.

    ``field_map`` renames serializer fields to form fields where the two differ. After a
    successful ``is_valid()``, ``service_kwargs`` holds the serializer's validated data.
    """

    serializer_class: type[serializers.Serializer]
    field_map: dict[str, str] = {}

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        return cleaned

    def clean(self) -> dict[str, Any]:
        """Check the fields that parsed against the rules, even when others did not.

        The serializer's cross-field rules (``CrossFieldChecks``) run whenever the fields they
        compare are valid, so a bad capital and an end before the start show together. A field
        that failed to parse keeps its own error; the serializer's view of it (missing, or a
        rule that needs it) is left out.
        """
        cleaned = super().clean()
        failed = set(self.errors)
        data = {k: v for k, v in self.serializer_data(cleaned).items() if v is not None}
        checked = self.serializer_class(data=data)
        if checked.is_valid():
            if not failed:
                self.service_kwargs = dict(checked.validated_data)
            return cleaned
        self.place_errors(
            {
                name: messages
                for name, messages in checked.errors.items()
                if self.field_map.get(name, name) not in failed
            }
        )
        return cleaned


# --- backtests ------------------------------------------------------------------------------


class DateInput(forms.DateInput):
    input_type = "date"
    # The browser's date picker offers the days the app accepts.
    limits = {
        "min": f"{bounds.DATE.min:%Y-%m-%d}",
        "max": f"{bounds.DATE.max:%Y-%m-%d}",
    }

    def __init__(self, attrs: dict[str, Any] | None = None):
        super().__init__(attrs={**self.limits, **(attrs or {})}, format="%Y-%m-%d")


def exchange_costs(exchange: str) -> tuple[str, ChargesDefault]:
    """The schedule the charges box applies on ``exchange``, and the exchange's default costs.

    The exchange decides the defaults: NSE/BSE's schedule ticked, elsewhere a flat commission
    (the box, if ticked anyway, applies the Indian equity schedule).
    """
    try:
        default = charges_default(exchange)
    except UnknownExchange:
        default = charges_default("NSE")
    schedule = (
        default.charges if default.charges != ChargesChoice.NONE else ChargesChoice.INDIA_EQUITY
    )
    return schedule, default


class ChargesEstimateForm(forms.Form):
    """The backtest form's cost fields, parsed for the round-trip charges estimate."""

    capital = forms.DecimalField(
        required=False, max_digits=16, decimal_places=2, validators=bounds.CAPITAL.validators()
    )
    apply_charges = forms.BooleanField(required=False)
    commission_pct = forms.DecimalField(
        required=False,
        max_digits=6,
        decimal_places=4,
        validators=bounds.COMMISSION_PCT.validators(),
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, strategy: Strategy, **kwargs):
        super().__init__(data, **kwargs)
        self.strategy = strategy
        self.currency = strategy.instrument.currency
        self.schedule, _ = exchange_costs(strategy.instrument.exchange)

    def estimate_kwargs(self) -> dict[str, Any]:
        """``round_trip_estimate`` keyword arguments (after a successful ``is_valid()``)."""
        data = self.cleaned_data
        return {
            "capital": data["capital"],
            "charges": self.schedule if data["apply_charges"] else ChargesChoice.NONE,
            "commission_pct": data["commission_pct"],
        }


class BacktestForm(RuleCheckedForm):
    """Range, capital and costs of one backtest of a strategy."""

    serializer_class = BacktestRequestSerializer
    field_map = {"charges": "apply_charges"}

    start = forms.DateField(
        required=False,
        widget=DateInput(),
        help_text="Inclusive. Blank: from the first bar available.",
    )
    end = forms.DateField(
        required=False, widget=DateInput(), help_text="Inclusive. Blank: up to the last bar."
    )
    capital = forms.DecimalField(
        label="Starting capital (₹)", required=False, max_digits=16, decimal_places=2
    )
    apply_charges = forms.BooleanField(
        label="Apply Indian equity charges",
        required=False,
        initial=True,
        help_text="Brokerage, STT, exchange and SEBI fees, GST and stamp duty on every fill.",
    )
    commission_pct = forms.DecimalField(
        label="Flat commission (%)",
        required=False,
        max_digits=6,
        decimal_places=4,
        help_text="Optional. A percentage of traded value at every fill; replaces the charges.",
    )
    slippage_bps = forms.DecimalField(
        label="Slippage (bps)",
        required=False,
        max_digits=8,
        decimal_places=2,
        initial=Decimal("0"),
        help_text="Each fill is moved against you by this many basis points.",
    )
    close_at_end = forms.ChoiceField(
        label="Position open at the end",
        choices=CloseAtEnd.choices,
        initial=CloseAtEnd.CLOSE,
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, strategy: Strategy, **kwargs):
        super().__init__(data, **kwargs)
        self.strategy = strategy
        instrument = strategy.instrument
        self.currency = instrument.currency
        capital = self.fields["capital"]
        capital.label = f"Starting capital ({currency_info(self.currency).symbol.strip()})"
        capital.widget.attrs["placeholder"] = f"{strategy.capital:f}"
        capital.help_text = (
            f"Blank: the strategy's capital, {format_money(strategy.capital, self.currency)}."
        )
        self.schedule, default = exchange_costs(instrument.exchange)
        apply = self.fields["apply_charges"]
        apply.initial = default.has_schedule
        apply.label = f"Apply the {ChargesChoice(self.schedule).label}"
        self.fields["commission_pct"].initial = default.commission_pct
        for name in ("commission_pct", "slippage_bps", "capital"):
            self.fields[name].widget.attrs.update({"inputmode": "decimal", "step": "any"})

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        data = dict(cleaned)
        apply = data.pop("apply_charges", False)
        data["charges"] = self.schedule if apply else ChargesChoice.NONE
        return data


# --- the manual order ticket ----------------------------------------------------------------

# Which order types use which price field; the JS shows only the relevant inputs. The rule
# itself (and its messages) is the API serializer's.
PRICE_TYPES = "LIMIT SL"
TRIGGER_TYPES = "SL SL-M"


class OrderTicketForm(RuleCheckedForm):
    """A manual order on a running deployment; validated as ``POST /api/.../orders/`` is."""

    serializer_class = OrderPlaceSerializer

    side = forms.ChoiceField(
        choices=SideChoices.choices,
        initial=SideChoices.BUY,
        widget=forms.RadioSelect(attrs={"class": "side-radio"}),
    )
    order_type = forms.ChoiceField(
        label="Type",
        choices=OrderTypeChoices.choices,
        initial=OrderTypeChoices.MARKET,
        widget=forms.Select(attrs={"data-order-type": ""}),
    )
    quantity = forms.IntegerField(label="Quantity", widget=forms.NumberInput(attrs={"min": 1}))
    price = forms.DecimalField(
        label="Limit price (₹)",
        required=False,
        max_digits=PRICE_DIGITS,
        decimal_places=PRICE_PLACES,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    trigger_price = forms.DecimalField(
        label="Trigger price (₹)",
        required=False,
        max_digits=PRICE_DIGITS,
        decimal_places=PRICE_PLACES,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )
    validity = forms.ChoiceField(
        choices=ValidityChoices.choices,
        initial=ValidityChoices.DAY,
        widget=forms.RadioSelect,
    )
    instrument = forms.ChoiceField(label="Instrument", choices=[])

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        lot_size: int = 1,
        currency: str = "INR",
        members: list[dict[str, Any]] | None = None,
        **kwargs,
    ):
        super().__init__(data, **kwargs)
        if members:  # a basket: the order names the member it trades
            self.fields["instrument"].choices = [
                (str(m["id"]), f"{m['exchange']}:{m['symbol']}") for m in members
            ]
        else:
            del self.fields["instrument"]
        symbol = currency_info(currency).symbol.strip()
        self.fields["price"].label = f"Limit price ({symbol})"
        self.fields["trigger_price"].label = f"Trigger price ({symbol})"
        self.fields["quantity"].initial = lot_size
        self.fields["quantity"].widget.attrs["step"] = lot_size
        self.lot_size = lot_size

    @property
    def price_types(self) -> str:
        return PRICE_TYPES

    @property
    def trigger_types(self) -> str:
        return TRIGGER_TYPES

    @property
    def order_type_value(self) -> str:
        return str(self["order_type"].value() or OrderTypeChoices.MARKET)


# --- list filters ---------------------------------------------------------------------------


def ist_midnight(day: date) -> datetime:
    """The aware moment a calendar day starts in Asia/Kolkata."""
    return datetime.combine(day, time.min, tzinfo=IST)


class StrategyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Strategy) -> str:
        return obj.name


class OrderFilterForm(forms.Form):
    """The orders page's GET filters (also the CSV export's). Dates are IST calendar days."""

    WORKING = "working"

    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "All statuses"),
            (WORKING, "Working (not final)"),
            *OrderStatusChoices.choices,
        ],
    )
    side = forms.ChoiceField(required=False, choices=[("", "Buy & sell"), *SideChoices.choices])
    strategy = StrategyChoiceField(
        required=False, queryset=Strategy.objects.none(), empty_label="All strategies"
    )
    source = forms.ChoiceField(
        required=False,
        choices=[("", "Any source"), ("strategy", "Strategy"), ("manual", "Manual")],
    )
    role = forms.ChoiceField(
        required=False,
        choices=[("", "Any role"), *OrderRoleChoices.choices],
        widget=forms.Select(attrs={"aria-label": "Role"}),
    )
    date_from = forms.DateField(
        required=False,
        label="From",
        widget=DateInput(attrs={"aria-label": "From date"}),
        validators=bounds.DATE.validators(),
    )
    date_to = forms.DateField(
        required=False,
        label="To",
        widget=DateInput(attrs={"aria-label": "To date"}),
        validators=bounds.DATE.validators(),
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["strategy"].queryset = strategies_for_user(
            user=user, include_archived=True
        ).order_by("name")

    def filter(self, queryset: QuerySet) -> QuerySet:
        """Narrow ``queryset`` (already the user's orders) by every filter that is valid."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        if data.get("status") == self.WORKING:
            queryset = queryset.filter(status__in=WORKING_STATUSES)
        elif data.get("status"):
            queryset = queryset.filter(status=data["status"])
        if data.get("side"):
            queryset = queryset.filter(side=data["side"])
        if data.get("strategy"):
            queryset = queryset.filter(deployment__strategy=data["strategy"])
        if data.get("source"):
            queryset = queryset.filter(source=data["source"])
        if data.get("role"):
            queryset = queryset.filter(role=data["role"])
        if data.get("date_from"):
            queryset = queryset.filter(created_at__gte=ist_midnight(data["date_from"]))
        if data.get("date_to"):
            end = ist_midnight(data["date_to"] + timedelta(days=1))
            queryset = queryset.filter(created_at__lt=end)
        return queryset

    @property
    def is_filtered(self) -> bool:
        self.is_valid()
        return any(getattr(self, "cleaned_data", {}).values())


class DeploymentFilterForm(forms.Form):
    status = forms.ChoiceField(
        required=False, choices=[("", "All statuses"), *DeploymentStatus.choices]
    )

    def filter(self, queryset: QuerySet) -> QuerySet:
        if self.is_valid() and self.cleaned_data.get("status"):
            queryset = queryset.filter(status=self.cleaned_data["status"])
        return queryset


class BacktestFilterForm(forms.Form):
    strategy = StrategyChoiceField(
        required=False, queryset=Strategy.objects.none(), empty_label="All strategies"
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, user, **kwargs):
        super().__init__(data, **kwargs)
        self.fields["strategy"].queryset = strategies_for_user(
            user=user, include_archived=True
        ).order_by("name")

    def filter(self, queryset: QuerySet) -> QuerySet:
        if self.is_valid() and self.cleaned_data.get("strategy"):
            queryset = queryset.filter(strategy=self.cleaned_data["strategy"])
        return queryset
