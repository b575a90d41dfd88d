"""RSI mean reversion: buy weakness, sell strength."""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.indicators import rsi
from strategies.catalog._rules import LONG_SHORT, decisions_from_rules, mode_param
from strategies.catalog.base import Param, StrategyType
from strategies.catalog.chart import ChartLine


class RsiReversion(StrategyType):
    """Wilder's RSI against an oversold and an overbought level.

    Exact rule, evaluated at each bar's close (strict inequalities):

    * long_only: go long while RSI < ``oversold``; go flat when RSI > ``overbought``.
    * long_short: go long while RSI < ``oversold``; go short when RSI > ``overbought``
      (a long flips straight to a short and back).

    Between the levels the position is held. A decision is emitted on the bar where the target
    changes, so "crosses below" and "is below" are the same thing for a flat strategy.
    """

    key = "rsi_reversion"
    name = "RSI mean reversion"
    description = (
        "Buys when the RSI shows the instrument oversold and sells when it shows it overbought, "
        "betting that stretched prices snap back."
    )
    params = (
        Param(
            "period",
            "int",
            14,
            label="RSI period",
            help="Bars in Wilder's RSI average; shorter is more sensitive.",
            min=2,
            max=500,
        ),
        Param(
            "oversold",
            "float",
            30.0,
            label="Oversold level",
            help="Go long when the RSI falls below this level (0-100).",
            min=1,
            max=99,
        ),
        Param(
            "overbought",
            "float",
            70.0,
            label="Overbought level",
            help="Exit the long (or go short) when the RSI rises above this level (0-100).",
            min=1,
            max=99,
        ),
        mode_param(),
    )

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        if params["oversold"] >= params["overbought"]:
            return {
                "oversold": (
                    f"Oversold level ({params['oversold']:g}) must be below "
                    f"overbought level ({params['overbought']:g})."
                )
            }
        return {}

    @classmethod
    def warmup(cls, params: dict[str, Any]) -> int:
        """The RSI needs ``period`` price changes, so its first value is at bar ``period``."""
        return int(params["period"])

    @classmethod
    def chart_lines(cls, bars: BarSeries, params: dict[str, Any]) -> list[ChartLine]:
        levels = (float(params["oversold"]), float(params["overbought"]))
        period = params["period"]
        return [ChartLine("rsi", f"RSI {period}", rsi(bars.close, period), "rsi", levels)]

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        value = rsi(bars.close, params["period"])
        low = value < params["oversold"]  # NaN compares False: no decision before warm-up
        high = value > params["overbought"]
        if params["mode"] == LONG_SHORT:
            return decisions_from_rules(low, high, short_entry=high, short_exit=low)
        return decisions_from_rules(low, high)
