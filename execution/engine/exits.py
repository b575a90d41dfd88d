"""Protective exits of a strategy: stop-loss, target, trailing stop and a time limit.

The ``exits`` block of a strategy's parameters (``{"stop_loss_pct": 2, "target_pct": 4}``),
typed and validated here so the rule type and the built-in types share one definition. The
engine turns it into bracket legs (``execution.engine.bracket``).

Semantics (the same in backtests and paper, and backtesting.py's ``sl=``/``tp=``): percentages
are measured from the entry's fill price; the legs are live from the entry bar itself; when the
stop and the target both fall inside one bar the stop is assumed first; a gap through either
fills at the open; an exit signal closes at the next open and cancels both legs. The trailing
stop is raised at each bar's close to ``close * (1 - pct)`` (lowered for a short) and never
loosened; ``max_bars_in_trade`` closes at the open after the position's N-th bar.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Any

import numpy as np

from execution.engine.session import SessionCalendar, _utc_offset

_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")

# name -> (integer?, minimum, maximum)
EXIT_FIELDS: dict[str, tuple[bool, float, float]] = {
    "stop_loss_pct": (False, 0.01, 50.0),
    "target_pct": (False, 0.01, 1000.0),
    "trailing_stop_pct": (False, 0.01, 50.0),
    "max_bars_in_trade": (True, 1, 100_000),
}
EXIT_KEYS = (*EXIT_FIELDS, "exit_at")


@dataclass(frozen=True)
class ExitRules:
    """Validated exits; ``None`` fields are off."""

    stop_loss_pct: float | None = None
    target_pct: float | None = None
    trailing_stop_pct: float | None = None
    max_bars_in_trade: int | None = None
    exit_at: str | None = None  # "HH:MM", the exchange's local time (UTC without a calendar)

    @classmethod
    def from_params(cls, params: Mapping[str, Any] | None) -> ExitRules | None:
        """The exits of validated strategy parameters, or ``None`` when there are none."""
        raw = params.get("exits") if isinstance(params, Mapping) else None
        if not isinstance(raw, Mapping):
            return None
        rules = cls(**{k: raw.get(k) for k in EXIT_KEYS})
        return rules if any(getattr(rules, k) is not None for k in EXIT_KEYS) else None

    @cached_property
    def _stop_pct(self) -> float | None:
        """The tighter of the fixed and the trailing stop's percentages (``None``: no stop)."""
        pcts = [p for p in (self.stop_loss_pct, self.trailing_stop_pct) if p is not None]
        return min(pcts) if pcts else None

    def stop_price(self, entry: float, long: bool) -> float | None:
        """The first stop: the tighter of the fixed and the trailing stop, from the fill price."""
        pct = self._stop_pct
        if pct is None:
            return None
        return entry * (1 - pct / 100) if long else entry * (1 + pct / 100)

    def target_price(self, entry: float, long: bool) -> float | None:
        if self.target_pct is None:
            return None
        return entry * (1 + self.target_pct / 100) if long else entry * (1 - self.target_pct / 100)

    def trail(self, close: float, long: bool) -> float | None:
        """The trailing stop this close asks for (``None`` without a trailing stop)."""
        pct = self.trailing_stop_pct
        if pct is None:
            return None
        return close * (1 - pct / 100) if long else close * (1 + pct / 100)


def clean_exits(raw: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed exits (absent and ``null`` left out) and ``{field: message}`` for each bad one.

    Unknown keys are the caller's to report (the rule schema names them with its own paths).
    """
    cleaned: dict[str, Any] = {}
    errors: dict[str, str] = {}
    if raw is None:
        return cleaned, errors
    if not isinstance(raw, Mapping):
        return cleaned, {"": "Must be an object."}
    at = raw.get("exit_at")
    if at is not None:
        if isinstance(at, str) and _HHMM.fullmatch(at):
            cleaned["exit_at"] = at
        else:
            errors["exit_at"] = "Must be a time of day, HH:MM (24-hour)."
    for name, (integer, lo, hi) in EXIT_FIELDS.items():
        value = raw.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int if integer else int | float):
            errors[name] = "Must be an integer." if integer else "Must be a number."
        elif isinstance(value, float) and not math.isfinite(value):
            errors[name] = "Must be a finite number."
        elif value < lo:
            errors[name] = f"Must be at least {_fmt(lo)}."
        elif value > hi:
            errors[name] = f"Must be at most {_fmt(hi)}."
        else:
            cleaned[name] = int(value) if integer else float(value)
    return cleaned, errors


def exits_schema() -> dict[str, Any]:
    """The JSON schema of the ``exits`` block."""
    props = {
        name: {
            "type": "integer" if integer else "number",
            "minimum": lo,
            "maximum": hi,
            "title": EXIT_LABELS[name],
            "description": EXIT_HELP[name],
        }
        for name, (integer, lo, hi) in EXIT_FIELDS.items()
    }
    return {
        "type": "object",
        "title": "Exits",
        "default": {},
        "description": (
            "Protective exits, placed as real orders after the entry fills (SL-M stop, LIMIT "
            "target, one cancels the other). Percentages are from the entry's fill price; both "
            "legs are live from the entry bar; if both fall in one bar the stop is assumed "
            "first; a gap through either fills at the open; an exit signal closes at the next "
            "open and cancels both."
        ),
        "properties": {
            **props,
            "exit_at": {
                "type": "string",
                "pattern": _HHMM.pattern,
                "title": EXIT_LABELS["exit_at"],
                "description": EXIT_HELP["exit_at"],
            },
        },
        "additionalProperties": False,
    }


EXIT_LABELS = {
    "stop_loss_pct": "Stop-loss %",
    "target_pct": "Target %",
    "trailing_stop_pct": "Trailing stop %",
    "max_bars_in_trade": "Max bars in trade",
    "exit_at": "Exit at (time of day)",
}
EXIT_HELP = {
    "stop_loss_pct": (
        "An SL-M order this % below a long's entry fill price (above a short's), placed when the "
        "entry fills and live from that bar; a gap through it fills at the open; if the stop "
        "and the target both fall in one bar, the stop is assumed first."
    ),
    "target_pct": (
        "A LIMIT order this % above a long's entry fill price (below a short's); when one leg "
        "fills the other is cancelled, and an exit signal cancels both."
    ),
    "trailing_stop_pct": (
        "The stop follows each bar's close at this distance and is never loosened."
    ),
    "max_bars_in_trade": "Close at the open after this many bars in the trade.",
    "exit_at": (
        "Intraday: close at the open of the first bar at or after this time (exchange time), "
        "and take no new entry from then until the next day."
    ),
}


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def to_tick(price: float, tick: float, up: bool) -> float:
    """``price`` on the instrument's tick, rounded up or down (float noise tolerated)."""
    k = price / tick
    return _ticks(math.ceil(k - 1e-9) if up else math.floor(k + 1e-9), tick)


@lru_cache(maxsize=4096, typed=True)  # typed: a tick of 1 (int) and 1.0 give other types
def _ticks(k: int, tick: float) -> float:
    """``k`` ticks as a price. Cached: ``round(x, 10)`` goes through a decimal string, several
    times the cost of the lookup, and a run's legs and trailing levels revisit a few hundred
    levels near the price thousands of times (the value is the same either way)."""
    return round(k * tick, 10)


def after_exit_at(ts: np.ndarray, exit_at: str, calendar: SessionCalendar | None) -> np.ndarray:
    """Whether each bar opens at or after ``exit_at`` on its local day (``calendar``'s zone)."""
    h, m = (int(x) for x in exit_at.split(":"))
    ts = np.asarray(ts, dtype=np.int64)
    if calendar is None or len(ts) == 0:
        local = ts
    else:
        days = ts // 86400
        uniq, inv = np.unique(days, return_inverse=True)
        offsets = np.array([_utc_offset(calendar.tz, int(d)) for d in uniq], dtype=np.int64)
        local = ts + offsets[inv]
    return (local % 86400) >= h * 3600 + m * 60
