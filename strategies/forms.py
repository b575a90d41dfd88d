"""The dashboard's strategy form: fixed fields plus one field per parameter of the chosen type.

The parameter fields are built from the catalogue's ``Param`` list, the same definition the
service validates with, so the form never restates a rule: it parses input into the service's
keyword arguments, and ``add_domain_error`` (``algosaas.forms.ServiceForm``) maps a service
refusal back onto the fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.db import models
from django.http import QueryDict
from django.urls import reverse

from algosaas import bounds
from algosaas.currencies import currency_info
from algosaas.forms import ServiceForm
from algosaas.templatetags.money import inr, lakh
from strategies import catalog
from strategies.basket_picker import (
    BasketField,
    cap_inputs,
    parse_cap,
    parse_ids,
    picker_context,
)
from strategies.baskets import BASKET_INSTRUMENT_ERROR
from strategies.catalog.base import Param
from strategies.models import TIMEFRAME_SECONDS, Product, Strategy, StrategyStatus, Timeframe
from strategies.services import lot_size_errors

PARAM_PREFIX = "param_"

# The related model comes from the FK, so strategies never imports execution.
Instrument = Strategy._meta.get_field("instrument").related_model

FIELD_LABELS = {
    "name": "Name",
    "strategy_type": "Strategy type",
    "instrument": "Instrument",
    "instruments": "Basket",
    "timeframe": "Timeframe",
    "quantity": "Quantity",
    "allocation_pct": "Allocation",
    "product": "Product",
    "capital": "Capital",
    "risk_limits": "Risk limits",
    "params": "Parameters",
}


def default_product(timeframe: str | None) -> str:
    """MIS (intraday) on bars shorter than a day, else CNC (delivery).

    A strategy on 1-minute bars trades many times a day; as CNC every round trip pays delivery
    STT (0.1 % each side), which can cost a third of the capital over a few days.
    """
    return Product.MIS if TIMEFRAME_SECONDS.get(timeframe or "", 86400) < 86400 else Product.CNC


class Sizing(models.TextChoices):
    QUANTITY = "quantity", "Fixed quantity"
    ALLOCATION = "allocation", "% of equity"


class InstrumentChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.exchange}:{obj.symbol} — {obj.name}" if obj.name else str(obj)


def choice_label(value: str) -> str:
    return value.replace("_", " ").capitalize()


def param_field(param: Param) -> forms.Field:
    """Return the form field for one catalogue parameter (bounds, help and default included)."""
    common: dict[str, Any] = {
        "label": param.label or choice_label(param.name),
        "help_text": param.help,
        "initial": param.default,
    }
    if param.kind == "int":
        return forms.IntegerField(
            min_value=None if param.min is None else int(param.min),
            max_value=None if param.max is None else int(param.max),
            **common,
        )
    if param.kind == "float":
        return forms.FloatField(min_value=param.min, max_value=param.max, **common)
    if param.kind == "choice":
        return forms.ChoiceField(choices=[(c, choice_label(c)) for c in param.choices], **common)
    if param.kind == "bool":
        return forms.BooleanField(required=False, **common)
    raise ValueError(f"No form field for parameter kind {param.kind!r}")  # pragma: no cover


def type_choices() -> list[tuple[str, str]]:
    return [(t.key, t.name) for t in catalog.all_types() if t.dashboard_form]


class StrategyForm(ServiceForm):
    """Create or edit a strategy. Build it with the type to show: ``data`` wins, then the
    ``strategy`` being edited, then ``strategy_type``, then the first type of the catalogue."""

    # A refusal's ``{"params": {"fast": [...]}}`` lands on the ``param_fast`` field.
    field_labels = FIELD_LABELS
    nested_fields = {"params": (PARAM_PREFIX, "Parameter {}")}

    name = forms.CharField(max_length=100, widget=forms.TextInput(attrs={"autocomplete": "off"}))
    strategy_type = forms.ChoiceField(label="Strategy type", choices=type_choices)
    instrument = InstrumentChoiceField(
        # Indian exchanges first: the paper account trades in rupees.
        queryset=Instrument.objects.order_by(
            models.Case(
                models.When(exchange__in=("NSE", "BSE"), then=0),
                default=1,
                output_field=models.IntegerField(),
            ),
            "exchange",
            "symbol",
        ),
        empty_label=None,
        required=False,  # a basket's first member stands in for it (``clean``)
    )
    instruments = BasketField(
        label="Basket",
        required=False,
        help_text="Trade the same rules on several instruments (up to 50, one currency), each "
        "with its own orders and position, on the shared capital split equally. Leave empty "
        "to trade the instrument above.",
    )
    timeframe = forms.ChoiceField(choices=Timeframe.choices, initial=Timeframe.D1)
    sizing = forms.ChoiceField(
        label="Position sizing",
        choices=Sizing.choices,
        initial=Sizing.ALLOCATION,
        widget=forms.RadioSelect(attrs={"data-sizing-toggle": ""}),
    )
    quantity = forms.IntegerField(
        label="Quantity (units per entry)",
        required=False,
        **bounds.QUANTITY.field_kwargs(),
        help_text="Fixed units per entry; a multiple of the instrument's lot size.",
    )
    allocation_pct = forms.DecimalField(
        label="Allocation (% of equity)",
        required=False,
        max_digits=5,
        decimal_places=2,
        **bounds.PERCENT.field_kwargs(),
        initial=Decimal("100"),
        help_text="Share of available equity per entry, in whole units, charges included.",
    )
    product = forms.ChoiceField(
        choices=Product.choices,
        initial=Product.CNC,
        required=False,  # blank: the timeframe's default (default_product)
        help_text="Defaults to MIS (intraday) on intraday timeframes, CNC (delivery) on daily.",
        # static/js/product-default.js follows the timeframe until the user picks a product
        widget=forms.Select(attrs={"data-product-default": ""}),
    )
    capital = forms.DecimalField(
        label="Capital",
        max_digits=16,
        decimal_places=2,
        **bounds.CAPITAL.field_kwargs(),
        help_text="Starting capital of each deployment, in the instrument's currency.",
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        strategy: Strategy | None = None,
        strategy_type: str | None = None,
        default_capital: Decimal | None = None,
        **kwargs: Any,
    ):
        self.strategy = strategy
        initial = kwargs.pop("initial", None) or {}
        if strategy is not None:
            initial = {**self.initial_from(strategy), **initial}
        super().__init__(data, initial=initial, **kwargs)

        key = (data or {}).get("strategy_type") or initial.get("strategy_type") or strategy_type
        try:
            self.stype: type[catalog.StrategyType] | None = catalog.get(key or catalog.keys()[0])
        except catalog.UnknownStrategyType:
            self.stype = None
        self.fields["strategy_type"].initial = self.stype.key if self.stype else None
        timeframe = initial.get("timeframe") or self.fields["timeframe"].initial
        self.fields["product"].initial = initial.get("product") or default_product(timeframe)
        self.fields["timeframe"].widget.attrs["data-timeframe-intraday"] = " ".join(
            tf for tf in TIMEFRAME_SECONDS if default_product(tf) == Product.MIS
        )
        self.fields["strategy_type"].widget.attrs.update(
            {
                "hx-get": reverse("strategies:params"),
                "hx-target": "#param-fields",
                "hx-swap": "innerHTML",
                "hx-trigger": "change",
                "hx-sync": "this:replace",
                "hx-indicator": "#type-loading",
            }
        )
        if strategy is not None:  # switching the type back shows this strategy's own values
            self.fields["strategy_type"].widget.attrs["hx-vals"] = f'{{"strategy": {strategy.pk}}}'
        keep_params = bool(strategy and self.stype and self.stype.key == strategy.strategy_type)
        for param in self.stype.params if self.stype else ():
            field = param_field(param)
            if keep_params and param.name in strategy.params:
                field.initial = strategy.params[param.name]
            self.fields[PARAM_PREFIX + param.name] = field

        # A basket's first member is its instrument: the single select is hidden and disabled
        # (not sent) while a basket is chosen; app.js keeps it so as members are ticked.
        single = self.fields["instrument"].widget.attrs
        single["data-basket-single"] = ""
        if self._basket_ids():
            single["disabled"] = True
        if strategy is not None:  # its saved product was the user's choice: the JS keeps it
            self.fields["product"].widget.attrs["data-product-chosen"] = ""
            symbol = currency_info(strategy.instrument.currency).symbol.strip()
            self.fields["capital"].label = f"Capital ({symbol})"
        if strategy is None:  # blank capital on create: the service uses the paper capital
            capital = self.fields["capital"]
            capital.required = False
            capital.help_text = "Starting capital of each deployment, in the instrument's currency."
            if default_capital is not None:
                capital.widget.attrs["placeholder"] = lakh(default_capital)
                capital.help_text += f" Leave blank for your paper capital, {inr(default_capital)}."

    def _basket_ids(self) -> list[Any]:
        """The basket's ids as posted (bound) or as the page starts (initial)."""
        if self.is_bound:
            getlist = getattr(self.data, "getlist", None)
            return list(getlist("instruments")) if getlist else []
        return list(self.initial.get("instruments") or [])

    @staticmethod
    def initial_from(strategy: Strategy) -> dict[str, Any]:
        pct = strategy.allocation_pct
        return {
            "name": strategy.name,
            "strategy_type": strategy.strategy_type,
            "instrument": strategy.instrument_id,
            "instruments": [m.instrument_id for m in strategy.members.order_by("position")],
            "timeframe": strategy.timeframe,
            "sizing": Sizing.QUANTITY if strategy.quantity is not None else Sizing.ALLOCATION,
            "quantity": strategy.quantity,
            "allocation_pct": None if pct is None else format(pct.normalize(), "f"),
            "product": strategy.product,
            "capital": strategy.capital,
        }

    def clean(self) -> dict[str, Any]:
        """Add the cross-field errors (fast >= slow, whole lots) whatever else is wrong.

        The service checks them too, but it only runs on a valid form: without this a user
        fixing a blank name met the fast/slow refusal in a second round.
        """
        cleaned = super().clean()
        chosen = cleaned.get("instruments") or cleaned.get("instrument")
        if not chosen and not {"instrument", "instruments"} & set(self.errors):
            self.add_error("instrument", "Choose an instrument, or a basket below.")
        if self.stype is not None:
            params = {
                name.removeprefix(PARAM_PREFIX): value
                for name, value in cleaned.items()
                if name.startswith(PARAM_PREFIX)
            }
            cross = self.stype.cross_errors(params)
            self.place_errors({"params": {name: [msg] for name, msg in cross.items()}})
        chosen_basket = cleaned.get("instruments") or []
        single = cleaned.get("instrument")
        if chosen_basket and single is not None and single.pk != chosen_basket[0].pk:
            # as the API refuses it (``basket_errors``): which of the two was meant is unclear
            self.add_error("instrument", BASKET_INSTRUMENT_ERROR)
        for inst in chosen_basket:
            try:
                parse_cap(cap_inputs(self.data, [inst.pk]).get(inst.pk, ""), str(inst))
            except forms.ValidationError as e:
                self.add_error("instruments", e)
        if cleaned.get("sizing") == Sizing.QUANTITY and not cleaned.get("instruments"):
            self.place_errors(
                lot_size_errors(
                    quantity=cleaned.get("quantity"), instrument=cleaned.get("instrument")
                )
            )
        return cleaned

    # --- rendering helpers -------------------------------------------------------------------

    @property
    def param_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in self.fields if name.startswith(PARAM_PREFIX)]

    def basket_picker(self) -> dict[str, Any]:
        """The picker's context: the ticked instruments (as sent, else the strategy's)."""
        caps = self._stored_caps()
        if self.is_bound:
            try:
                ids = parse_ids(self.data.getlist("instruments"))
            except forms.ValidationError:
                ids = []
            caps.update(cap_inputs(self.data, ids))
        else:
            ids = list(self.initial.get("instruments") or [])
        return picker_context(ids, "", caps)

    def _stored_caps(self) -> dict[int, Any]:
        """The strategy's members' caps (none for a new strategy); 2 dp as the field holds."""
        if self.strategy is None:
            return {}
        return {
            m.instrument_id: (
                None if m.allocation_pct is None else format(m.allocation_pct.normalize(), "f")
            )
            for m in self.strategy.members.all()
        }

    @property
    def sizing_value(self) -> str:
        return str(self["sizing"].value() or Sizing.ALLOCATION)

    # --- to and from the services ------------------------------------------------------------

    def service_kwargs(self) -> dict[str, Any]:
        """Return the cleaned input as ``strategy_create``/``strategy_update`` keyword arguments.

        Only the chosen sizing is sent; the other is ``None``, so the service sees exactly one.
        """
        data = self.cleaned_data
        by_quantity = data["sizing"] == Sizing.QUANTITY
        kwargs = {
            "name": data["name"],
            "strategy_type": data["strategy_type"],
            "params": {
                name.removeprefix(PARAM_PREFIX): value
                for name, value in data.items()
                if name.startswith(PARAM_PREFIX)
            },
            "instrument": data["instrument"],
            "timeframe": data["timeframe"],
            "quantity": data["quantity"] if by_quantity else None,
            "allocation_pct": None if by_quantity else data["allocation_pct"],
            "product": data["product"] or default_product(data["timeframe"]),
            "capital": data["capital"],
        }
        if self.strategy is None and kwargs["capital"] is None:
            del kwargs["capital"]
        if self.data.get("basket_form"):  # the picker was on the page (not the rule builder)
            kwargs.update(self._basket_kwargs(data.get("instruments") or []))
        # the exits (set through the API) are not fields of this form: an edit keeps them
        old = self.strategy.params if self.strategy is not None else {}
        if "exits" in old and self.strategy.strategy_type == data["strategy_type"]:
            kwargs["params"]["exits"] = old["exits"]
        return kwargs

    def _basket_kwargs(self, chosen: list[Any]) -> dict[str, Any]:
        """The basket as the services take it: each member's cap as typed in the picker (blank:
        an equal split); a member without a cap input yet (just ticked) keeps its stored cap."""
        caps: dict[int, Any] = {}
        if self.strategy is not None:
            caps = {m.instrument_id: m.allocation_pct for m in self.strategy.members.all()}
            if not chosen and not caps:
                return {}  # one instrument before and after: nothing to change
        if not chosen:
            return {"instruments": []}
        typed = cap_inputs(self.data, [i.pk for i in chosen])
        for i in chosen:
            if i.pk in typed:  # validated in ``clean``
                caps[i.pk] = parse_cap(typed[i.pk], str(i))
        return {
            "instrument": chosen[0],
            "instruments": [{"instrument": i, "allocation_pct": caps.get(i.pk)} for i in chosen],
        }


class StopForm(forms.Form):
    square_off = forms.BooleanField(
        required=False,
        label="Square off open positions",
        help_text="Close every open position at market as the strategy stops.",
    )


class LiveDeployForm(forms.Form):
    """Deploy live: a linked broker account and the strategy's name typed to confirm.

    The service checks both again (``strategy_deploy``): the form only collects them.
    """

    broker_account = forms.TypedChoiceField(coerce=int, label="Broker account")
    confirm = forms.CharField(
        max_length=200,
        label="Type the strategy's name to confirm",
        help_text="Real orders will be sent to this account.",
    )
    feed = forms.ChoiceField(
        choices=[
            ("broker", "The broker's live prices (its ticker)"),
            ("synthetic", "Synthetic prices (a rehearsal)"),
        ],
        initial="broker",
        required=False,
        label="Market data",
        help_text="Live orders should follow live prices: the broker's feed needs the "
        "instrument imported from the broker and its ticker running.",
    )
    algo_id = forms.RegexField(
        regex=r"^[A-Za-z0-9]{0,8}$",
        required=False,
        max_length=8,
        label="Algo id (optional)",
        help_text="As your broker registered it; every order's tag carries it.",
    )

    def __init__(self, *args: Any, accounts: list[tuple[int, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["broker_account"].choices = accounts

    def clean_feed(self) -> str:
        """A post without the field (an older page, a script) keeps the synthetic feed."""
        return self.cleaned_data.get("feed") or "synthetic"


class StrategyFilterForm(forms.Form):
    """The list page's GET filters; ``status=archived`` lists archived strategies instead."""

    ARCHIVED = "archived"

    q = forms.CharField(
        required=False,
        max_length=100,
        widget=forms.SearchInput(attrs={"placeholder": "Search by name", "aria-label": "Search"}),
    )
    status = forms.ChoiceField(
        required=False,
        choices=[("", "All statuses"), *StrategyStatus.choices, (ARCHIVED, "Archived")],
    )
    strategy_type = forms.ChoiceField(
        required=False, choices=lambda: [("", "All types"), *type_choices()]
    )

    def filter(self, queryset_for: Any) -> Any:
        """Return ``queryset_for(include_archived=...)`` narrowed by the valid filters."""
        data = self.cleaned_data if self.is_valid() else {}
        status = data.get("status")
        qs = queryset_for(include_archived=status == self.ARCHIVED)
        if status == self.ARCHIVED:
            qs = qs.filter(archived_at__isnull=False)
        elif status:
            qs = qs.filter(status=status)
        if data.get("strategy_type"):
            qs = qs.filter(strategy_type=data["strategy_type"])
        if data.get("q"):
            qs = qs.filter(name__icontains=data["q"])
        return qs

    @property
    def is_filtered(self) -> bool:
        return self.is_valid() and any(self.cleaned_data.values())


def _mutable_copy(data: Mapping[str, Any]) -> QueryDict:
    """A mutable copy of posted data that keeps every value of a multi-valued field."""
    if isinstance(data, QueryDict):
        return data.copy()
    copy = QueryDict(mutable=True)
    for key, value in data.items():
        if isinstance(value, list | tuple):
            copy.setlist(key, [str(v) for v in value])
        else:
            copy[key] = value
    return copy


class RuleStrategyForm(StrategyForm):
    """The rule builder's strategy fields: the same form, its type fixed to ``rules``.

    The rule document is not a form field: the builder posts it (``strategies.builder``) and
    the view passes it as ``params``; the service validates it like any other type's.
    """

    RULES = "rules"

    def __init__(self, data: Mapping[str, Any] | None = None, **kwargs: Any):
        if data is not None:  # a copy that keeps multi-valued fields (the basket's ids)
            data = _mutable_copy(data)
            data["strategy_type"] = self.RULES
        super().__init__(data, strategy_type=self.RULES, **kwargs)
        # the catalogue keeps ``rules`` out of the type select (it has no scalar params)
        self.fields["strategy_type"] = forms.ChoiceField(
            choices=[(self.RULES, "Rule builder")], initial=self.RULES, widget=forms.HiddenInput
        )

    def service_kwargs_with(self, document: dict[str, Any]) -> dict[str, Any]:
        return {**self.service_kwargs(), "params": document}
