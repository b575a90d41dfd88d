"""The catalogue of strategy types (code, not rows): ``get("sma_crossover")`` and friends.

Imports only the engine's core types, never a broker or a model (ARCHITECTURE §1).
"""

from strategies.catalog.base import NO_SIGNAL, Param, ParamsInvalid, StrategyType
from strategies.catalog.registry import (
    UnknownStrategyType,
    all_types,
    describe,
    describe_all,
    get,
    keys,
)

__all__ = [
    "NO_SIGNAL",
    "Param",
    "ParamsInvalid",
    "StrategyType",
    "UnknownStrategyType",
    "all_types",
    "describe",
    "describe_all",
    "get",
    "keys",
]
