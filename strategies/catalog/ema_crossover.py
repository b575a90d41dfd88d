"""EMA crossover: the SMA crossover with exponential averages, which react sooner."""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.indicators import ema
from strategies.catalog.base import StrategyType
from strategies.catalog.chart import ChartLine
from strategies.catalog.sma_crossover import (
    check_fast_slow,
    crossover_decisions,
    fast_slow_params,
)


class EmaCrossover(StrategyType):
    """Crossings of a fast and a slow exponential moving average of the close."""

    key = "ema_crossover"
    name = "EMA crossover"
    description = (
        "Buys when the fast exponential moving average of the close crosses above the slow one "
        "and exits (or goes short) when it crosses back below; reacts faster than SMAs."
    )
    params = fast_slow_params("exponential moving average")

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        return check_fast_slow(params)

    @classmethod
    def warmup(cls, params: dict[str, Any]) -> int:
        """The slow EMA is seeded at bar ``slow-1``; a cross also needs the bar before it."""
        return int(params["slow"])

    @classmethod
    def chart_lines(cls, bars: BarSeries, params: dict[str, Any]) -> list[ChartLine]:
        fast, slow = params["fast"], params["slow"]
        return [
            ChartLine("fast", f"EMA {fast}", ema(bars.close, fast)),
            ChartLine("slow", f"EMA {slow}", ema(bars.close, slow)),
        ]

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        return crossover_decisions(
            ema(bars.close, params["fast"]), ema(bars.close, params["slow"]), params["mode"]
        )
