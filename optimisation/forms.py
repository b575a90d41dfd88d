"""Dashboard forms of the optimisation app: the sweep's space and request, and the robustness
requests of its winner.

The space is built from the strategy type's ``Param`` schema: per parameter a mode (fixed, a
list, a range with a step) and its inputs. The form only turns text into JSON-like values
(numbers, choices, booleans); every rule (types, bounds, ranges, limits, the method's and the
objective's fields) is the API serializer's and the service's, and their refusals come back
next to the field they name (``ServiceForm``): a parameter's error sits on its mode select.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from django import forms

from algosaas.forms import ServiceForm
from execution.forms import BacktestForm
from optimisation import montecarlo, walkforward
from optimisation.api.serializers import SweepRequestSerializer
from optimisation.models import SweepMethod, SweepObjective
from strategies import catalog
from strategies.catalog.base import Param
from strategies.models import Strategy

FIXED, LIST, RANGE = "fixed", "list", "range"
MODE_LABELS = {FIXED: "Fixed", LIST: "List", RANGE: "Range"}
PREFIX = "p_"
BOOL_CHOICES = [("true", "true"), ("false", "false")]


def parse_number(text: str) -> int | float:
    """``"5"`` -> 5, ``"0.5"`` -> 0.5. Like the API's JSON parser, NaN and infinities are not
    numbers here (JSON has none): the space never sees them."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise forms.ValidationError(f"“{text}” is not a number.") from None
    if not math.isfinite(value):
        raise forms.ValidationError(f"“{text}” is not a finite number.")
    return value


class NumberText(forms.CharField):
    """A number typed as text; blank is None."""

    def to_python(self, value: Any) -> int | float | None:
        text = super().to_python(value)
        return parse_number(text) if text else None


class NumberListText(forms.CharField):
    """Numbers separated by commas or spaces; blank is an empty list."""

    def to_python(self, value: Any) -> list[int | float]:
        text = super().to_python(value) or ""
        return [parse_number(t) for t in text.replace(",", " ").split()]


def _bool(value: str) -> bool:
    return value == "true"


class SweepForm(BacktestForm):
    """A sweep of ``strategy``'s parameters: the space, the search, the objective, range, costs."""

    serializer_class = SweepRequestSerializer
    nested_fields = {"space": (PREFIX, "{}")}

    method = forms.ChoiceField(choices=SweepMethod.choices, initial=SweepMethod.GRID)
    samples = forms.IntegerField(
        label="Samples", required=False, help_text="Random: how many combinations to draw."
    )
    trials = forms.IntegerField(
        label="Trial budget", required=False, help_text="Optuna: how many trials to run."
    )
    seed = forms.IntegerField(
        label="Seed", initial=0, help_text="Random and optuna: the same seed, the same search."
    )
    objective = forms.ChoiceField(choices=SweepObjective.choices, initial=SweepObjective.RETURN)
    max_drawdown_pct = forms.FloatField(
        label="Max drawdown (%)",
        required=False,
        help_text="Return with a max-drawdown constraint: deeper drawdowns are infeasible.",
    )

    def __init__(self, data: Mapping[str, Any] | None = None, *, strategy: Strategy, **kwargs):
        super().__init__(data, strategy=strategy, **kwargs)
        try:
            self.params: tuple[Param, ...] = catalog.get(strategy.strategy_type).params
        except catalog.UnknownStrategyType:
            self.params = ()
        for p in self.params:
            self._add_param_fields(p, strategy.params.get(p.name, p.default))

    def _add_param_fields(self, p: Param, current: Any) -> None:
        name = f"{PREFIX}{p.name}"
        label = p.label or p.name
        numeric = p.kind in ("int", "float")
        modes = [FIXED, LIST, RANGE] if numeric else [FIXED, LIST]
        self.fields[name] = forms.ChoiceField(
            label=label,
            choices=[(m, MODE_LABELS[m]) for m in modes],
            initial=FIXED,
            help_text=p.help,
            widget=forms.Select(attrs={"data-space-mode": ""}),
        )
        if numeric:
            self.fields[f"{name}_value"] = NumberText(
                label=f"{label}: value", required=False, initial=current
            )
            self.fields[f"{name}_list"] = NumberListText(
                label=f"{label}: values",
                required=False,
                widget=forms.TextInput(attrs={"placeholder": "5, 10, 20"}),
            )
            for part, text in (("start", "from"), ("stop", "to"), ("step", "step")):
                self.fields[f"{name}_{part}"] = NumberText(label=f"{label}: {text}", required=False)
        else:
            choices = BOOL_CHOICES if p.kind == "bool" else [(c, c) for c in p.choices]
            initial = str(current).lower() if p.kind == "bool" else current
            self.fields[f"{name}_value"] = forms.ChoiceField(
                label=f"{label}: value", choices=choices, required=False, initial=initial
            )
            self.fields[f"{name}_list"] = forms.MultipleChoiceField(
                label=f"{label}: values",
                choices=choices,
                required=False,
                widget=forms.CheckboxSelectMultiple,
            )

    def param_groups(self) -> list[dict[str, Any]]:
        """Per parameter, its bound fields by role, for the template."""
        groups = []
        for p in self.params:
            name = f"{PREFIX}{p.name}"
            groups.append(
                {
                    "param": p,
                    "mode": self[name],
                    "value": self[f"{name}_value"],
                    "list": self[f"{name}_list"],
                    "range": [self[f"{name}_{x}"] for x in ("start", "stop", "step")]
                    if p.kind in ("int", "float")
                    else [],
                }
            )
        return groups

    def space(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        """The API's ``space`` from the parameter fields (as typed: the service judges it)."""
        space: dict[str, Any] = {}
        for p in self.params:
            name = f"{PREFIX}{p.name}"
            mode = cleaned.get(name)
            convert = _bool if p.kind == "bool" else (lambda v: v)
            if mode == FIXED:
                value = cleaned.get(f"{name}_value")
                if value not in (None, ""):  # blank: the strategy's own value
                    space[p.name] = [convert(value)]
            elif mode == LIST:
                space[p.name] = [convert(v) for v in cleaned.get(f"{name}_list") or []]
            elif mode == RANGE:
                space[p.name] = {
                    part: cleaned.get(f"{name}_{part}") for part in ("start", "stop", "step")
                }
        return space

    def serializer_data(self, cleaned: dict[str, Any]) -> dict[str, Any]:
        data = {k: v for k, v in super().serializer_data(cleaned).items() if k[:2] != PREFIX}
        data["space"] = self.space(cleaned)
        return data


class WalkForwardForm(ServiceForm):
    """The windows of a walk-forward of a sweep's search (the service checks them)."""

    windows = forms.IntegerField(initial=5, help_text="Out-of-sample windows.")
    mode = forms.ChoiceField(
        choices=[(m, m.capitalize()) for m in walkforward.MODES],
        initial="rolling",
        help_text="Rolling: a fixed in-sample stretch before each window; anchored: from the "
        "first bar.",
    )
    in_sample_ratio = forms.FloatField(
        label="In-sample ratio",
        initial=3.0,
        help_text="The in-sample stretch's length over one out-of-sample window's.",
    )


MC_METHOD_LABELS = {
    "shuffle": "Shuffle the trades",
    "bootstrap": "Bootstrap the trades",
    montecarlo.RETURNS_METHOD: "Bootstrap the bar returns",
}


class MonteCarloForm(ServiceForm):
    """A Monte Carlo of a backtest of the winner (the service checks the numbers)."""

    field_map = {"MAX_MONTE_CARLO_STEPS": "paths", "MAX_MONTE_CARLO_PATHS": "paths"}

    backtest = forms.IntegerField(widget=forms.HiddenInput)
    method = forms.ChoiceField(
        choices=[(m, MC_METHOD_LABELS[m]) for m in montecarlo.METHODS], initial="shuffle"
    )
    paths = forms.IntegerField(initial=1000)
    seed = forms.IntegerField(initial=0)
    ruin_equity_pct = forms.FloatField(
        label="Ruin below (% of capital)",
        initial=50.0,
        help_text="Probability of ruin: the share of paths whose equity ever falls below this.",
    )
