"""Rule strategies: the trader's own entry and exit conditions (``strategies.rules``).

The parameters are a rule document (``strategies.rules.schema``), validated with field paths
(``entry_long.all[1].right.period: Must be at least 2.``) and compiled once into numpy
(``strategies.rules.compiler``). Stop-loss, target, trailing and time exits (``exits``) become
bracket legs the engine places after each entry (``execution.engine.bracket``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

from execution.engine.bars import BarSeries
from strategies.catalog.base import Param, ParamsInvalid, StrategyType
from strategies.catalog.chart import PRICE_PANE, ChartLine
from strategies.rules import schema
from strategies.rules.compiler import compile_document
from strategies.rules.text import operand_text

# Indicators on another scale than the price get a pane of their own (MACD's two lines share one).
_PANES = {"rsi": "rsi", "atr": "atr", "macd_line": "macd", "macd_signal": "macd"}

# The template a new rule starts from: the golden cross with an RSI filter.
GOLDEN_CROSS: dict[str, Any] = {
    "entry_long": {
        "all": [
            {
                "left": {"indicator": "sma", "period": 20},
                "op": "crosses_above",
                "right": {"indicator": "sma", "period": 50},
            },
            {"left": {"indicator": "rsi", "period": 14}, "op": "<", "right": {"const": 60.0}},
        ]
    },
    "exit_long": {
        "left": {"indicator": "sma", "period": 20},
        "op": "crosses_below",
        "right": {"indicator": "sma", "period": 50},
    },
}


class RuleStrategy(StrategyType):
    """Entry and exit conditions written by the trader, evaluated at each bar's close.

    ``entry_long`` sets the target long, ``exit_long`` flat; with ``entry_short`` the strategy
    also goes short (``exit_short`` flat). An entry beats an exit on the same bar, exactly as the
    built-in types' ``decisions_from_rules``.
    """

    key = "rules"
    name = "Rule builder"
    description = (
        "Your own entry and exit conditions on prices and indicators (SMA, EMA, RSI, Bollinger, "
        "Donchian, ATR, MACD, VWAP), combined with all/any groups."
    )
    # The document is one structured parameter, not a list of scalar fields.
    params: ClassVar[tuple[Param, ...]] = ()
    dashboard_form: ClassVar[bool] = False

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return schema.to_json(schema.parse_document(GOLDEN_CROSS))

    @classmethod
    def validate_params(cls, raw: Mapping[str, Any] | None) -> dict[str, Any]:
        """Return the canonical document or raise ``ParamsInvalid`` keyed by field path.

        No document at all (``None`` or ``{}``) gets the template, as the other types get their
        defaults; a document that is given must be complete.
        """
        try:
            return schema.to_json(schema.parse_document(raw or GOLDEN_CROSS))
        except schema.RuleInvalid as e:
            raise ParamsInvalid(e.errors) from None

    @classmethod
    def params_schema(cls) -> dict[str, Any]:
        return {**schema.document_schema(), "default": cls.defaults()}

    @classmethod
    def warmup(cls, params: dict[str, Any]) -> int:
        return compile_document(schema.parse_document(params)).warmup

    @classmethod
    def chart_lines(cls, bars: BarSeries, params: dict[str, Any]) -> list[ChartLine]:
        """Every distinct indicator the rules read, as the compiled rules compute it."""
        compiled = compile_document(schema.parse_document(params))
        return [
            ChartLine(
                operand_text(ind),
                operand_text(ind),
                compiled.indicator_values(bars, ind),
                _PANES.get(ind.name, PRICE_PANE),
            )
            for ind in compiled.indicators()
        ]

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        return compile_document(schema.parse_document(params)).signals(bars)
