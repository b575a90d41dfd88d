"""The catalogue of strategy types, keyed by a stable string stored on each ``Strategy`` row.

To add a type: write one module in this package with a ``StrategyType`` subclass, then add ONE
line to ``_TYPES`` below. Keys are persisted, so never rename one; the list order is the order
the API and the dashboard show.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from strategies.catalog.base import StrategyType
from strategies.catalog.bollinger_reversion import BollingerReversion
from strategies.catalog.donchian_breakout import DonchianBreakout
from strategies.catalog.ema_crossover import EmaCrossover
from strategies.catalog.rsi_reversion import RsiReversion
from strategies.catalog.rules import RuleStrategy
from strategies.catalog.sma_crossover import SmaCrossover

_TYPES: tuple[type[StrategyType], ...] = (
    SmaCrossover,
    EmaCrossover,
    RsiReversion,
    BollingerReversion,
    DonchianBreakout,
    RuleStrategy,
)


class UnknownStrategyType(LookupError):
    """Raised by ``get`` when no strategy type has the given key."""

    def __init__(self, key: str):
        super().__init__(f"Unknown strategy type: {key!r}.")
        self.key = key


def _index(types: tuple[type[StrategyType], ...]) -> dict[str, type[StrategyType]]:
    by_key: dict[str, type[StrategyType]] = {}
    for cls in types:
        if cls.key in by_key:
            raise RuntimeError(f"Duplicate strategy type key {cls.key!r}")
        by_key[cls.key] = cls
    return by_key


_BY_KEY = _index(_TYPES)


def get(key: str) -> type[StrategyType]:
    """Return the strategy type registered under ``key`` or raise ``UnknownStrategyType``."""
    try:
        return _BY_KEY[key]
    except (KeyError, TypeError):
        raise UnknownStrategyType(key) from None


def all_types() -> list[type[StrategyType]]:
    """Return every registered type, in catalogue order."""
    return list(_TYPES)


def keys() -> list[str]:
    """Return every registered key, in catalogue order."""
    return [cls.key for cls in _TYPES]


@cache
def describe_all() -> tuple[dict[str, Any], ...]:
    """Return each type's key, name, description and parameter schema, in catalogue order.

    Memoised for the life of the process, not put in the shared cache: the catalogue is code,
    so it changes only with a new release (new processes), and building it is pure CPU that a
    network round trip to Redis would not beat. Callers must not mutate the dicts.
    """
    return tuple(
        {
            "key": t.key,
            "name": t.name,
            "description": t.description,
            "params_schema": t.params_schema(),
        }
        for t in _TYPES
    )


def describe(key: str) -> dict[str, Any]:
    """Return ``describe_all()``'s entry for ``key`` or raise ``UnknownStrategyType``."""
    get(key)
    return next(d for d in describe_all() if d["key"] == key)
