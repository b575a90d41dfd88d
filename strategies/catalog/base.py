"""The contract every strategy type fills: a typed parameter schema and a vectorised signal.

One definition serves three uses: validation (``validate_params``), the API's JSON schema
(``params_schema``) and the dashboard's form (built from the same schema). Imports only the
engine's core types, never a broker or a model (ARCHITECTURE §1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.exits import EXIT_KEYS, clean_exits, exits_schema
from strategies.catalog.chart import ChartLine

ParamKind = Literal["int", "float", "choice", "bool"]

# Sentinel in a signal array: "no decision at this bar, keep the previous target".
NO_SIGNAL = np.nan


class ParamsInvalid(ValueError):
    """Raised by ``validate_params`` when parameters are missing, mistyped or out of range.

    ``errors`` maps a parameter name to its messages, so the API can name the field.
    """

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


@dataclass(frozen=True)
class Param:
    """One typed, bounded strategy parameter."""

    name: str
    kind: ParamKind
    default: Any
    label: str = ""
    help: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)

    def clean(self, value: Any) -> Any:
        """Return ``value`` if it has this parameter's type and range, else raise ``ValueError``."""
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError("Must be true or false.")
            return value
        if self.kind == "choice":
            if value not in self.choices:
                raise ValueError(f"Must be one of: {', '.join(self.choices)}.")
            return value
        # Typed as the schema says: a JSON string ("2") or a float for an integer (2.0) is
        # refused, not coerced; the dashboard's form parses its text into numbers first.
        integer = self.kind == "int"
        if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
            raise ValueError("Must be an integer." if integer else "Must be a number.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("Must be a finite number.")
        if self.min is not None and value < self.min:
            raise ValueError(f"Must be at least {_fmt(self.min)}.")
        if self.max is not None and value > self.max:
            raise ValueError(f"Must be at most {_fmt(self.max)}.")
        return value if integer else float(value)

    def json_schema(self) -> dict[str, Any]:
        """Describe this parameter as a JSON-schema property (also drives the dashboard form)."""
        schema: dict[str, Any] = {
            "title": self.label or self.name.replace("_", " ").capitalize(),
            "description": self.help,
            "default": self.default,
        }
        if self.kind == "choice":
            schema.update(type="string", enum=list(self.choices))
        elif self.kind == "bool":
            schema["type"] = "boolean"
        else:
            schema["type"] = "integer" if self.kind == "int" else "number"
            if self.min is not None:
                schema["minimum"] = self.min
            if self.max is not None:
                schema["maximum"] = self.max
        return schema


def _clean_exits(raw: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The optional ``exits`` block (stop-loss, target, trailing, time limit) of any type,
    typed; its errors are added to ``errors`` as ``exits.<field>``."""
    if raw is not None and isinstance(raw, Mapping):
        for key in raw:
            if key not in EXIT_KEYS:
                errors[f"exits.{key}"] = ["Unknown exit."]
    cleaned, bad = clean_exits(raw)
    for key, message in bad.items():
        errors[f"exits.{key}" if key else "exits"] = [message]
    return cleaned


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


class StrategyType:
    """Base class of a catalogue entry. Subclasses set the class attributes and ``signals``.

    ``signals`` is vectorised and *causal*: the value at bar ``i`` depends only on bars ``<= i``,
    so running it on a prefix of the bars gives the same values as on the whole series. That is
    what lets a paper deployment, fed one bar at a time, reproduce a backtest exactly.
    """

    key: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    params: ClassVar[tuple[Param, ...]]
    # False for a type whose parameters the dashboard's scalar form cannot edit (``rules``).
    dashboard_form: ClassVar[bool] = True

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {p.name: p.default for p in cls.params}

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return complete, typed parameters (defaults filled in) or raise ``ParamsInvalid``."""
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ParamsInvalid({"params": ["Must be an object."]})
        errors: dict[str, list[str]] = {}
        known = {p.name for p in cls.params}
        for name in raw:
            if name not in known and name != "exits":
                errors[str(name)] = [f"Unknown parameter for {cls.key}."]
        cleaned: dict[str, Any] = {}
        exits = _clean_exits(raw.get("exits"), errors)
        if exits:
            cleaned["exits"] = exits
        for p in cls.params:
            try:
                cleaned[p.name] = p.clean(raw[p.name]) if p.name in raw else p.default
            except ValueError as e:
                errors[p.name] = [str(e)]
        # Every error at once: the cross-field rules run on the parameters that are valid.
        for name, message in cls.cross_errors(cleaned).items():
            errors.setdefault(name, []).append(message)
        if errors:
            raise ParamsInvalid(errors)
        return cleaned

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        """Cross-field rules on already typed parameters: ``{field: message}`` for each breach."""
        return {}

    @classmethod
    def cross_errors(cls, params: Mapping[str, Any]) -> dict[str, str]:
        """``check`` over the parameters that are valid (an invalid one is absent).

        A rule reading an absent parameter cannot be judged, so it waits (``KeyError``) while
        the field errors are shown; a form and the API then report both kinds together.
        """
        try:
            return cls.check(dict(params))
        except KeyError:
            return {}

    @classmethod
    def params_schema(cls) -> dict[str, Any]:
        """Return the JSON schema of this type's parameters."""
        return {
            "type": "object",
            "properties": {
                **{p.name: p.json_schema() for p in cls.params},
                "exits": exits_schema(),
            },
            "required": [p.name for p in cls.params],
            "additionalProperties": False,
        }

    @classmethod
    def warmup(cls, params: dict[str, Any]) -> int:
        """Return how many bars the indicators need before the first signal can appear."""
        raise NotImplementedError

    @classmethod
    def warmup_bars(cls, params: dict[str, Any]) -> int:
        """Return how many bars must have closed before the strategy can take its first decision.

        ``warmup`` is the index of the first bar that can carry a signal, so one more bar than
        that: the live page counts down "indicators ready in N bars" from it.
        """
        return int(cls.warmup(params)) + 1

    @classmethod
    def chart_lines(cls, bars: BarSeries, params: dict[str, Any]) -> list[ChartLine]:
        """Return the indicator lines the live chart draws over ``bars`` (none by default)."""
        return []

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        """Return float64 decisions at each bar's close: the target position direction.

        ``+1`` long, ``-1`` short, ``0`` flat, ``NaN`` no decision (keep the current target).
        The engine acts when a decision differs from its current target, at the next bar's open.
        """
        raise NotImplementedError
