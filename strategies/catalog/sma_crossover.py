"""SMA crossover: the textbook trend follower, and backtesting.py's ``SmaCross`` example."""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.indicators import crossing, sma
from strategies.catalog._rules import LONG_SHORT, mode_param
from strategies.catalog.base import NO_SIGNAL, Param, StrategyType
from strategies.catalog.chart import ChartLine


def crossover_decisions(fast: np.ndarray, slow: np.ndarray, mode: str) -> np.ndarray:
    """Return +1 on a golden cross, -1 (long_short) or 0 (long_only) on a death cross, else NaN.

    backtesting.py's ``SmaCross.next`` (a golden cross buys, a death cross sells), with the
    engine's crossing rule (``execution.engine.indicators.crossing``): touching lines are not a
    cross, but a cross that passes through bars where both lines are exactly equal is one, on
    the bar where the fast line is first on the other side.
    """
    out = np.full(len(fast), NO_SIGNAL)
    side = crossing(fast, slow)
    out[side < 0] = -1.0 if mode == LONG_SHORT else 0.0
    out[side > 0] = 1.0
    return out


def fast_slow_params(kind: str) -> tuple[Param, ...]:
    """Return the ``fast``/``slow``/``mode`` parameters shared by the two crossover types."""
    return (
        Param(
            "fast",
            "int",
            10,
            label="Fast period",
            help=f"Bars in the fast {kind}; it reacts quickly to price changes.",
            min=1,
            max=500,
        ),
        Param(
            "slow",
            "int",
            20,
            label="Slow period",
            help=f"Bars in the slow {kind}; must be longer than the fast one.",
            min=2,
            max=1000,
        ),
        mode_param(),
    )


def check_fast_slow(params: dict[str, Any]) -> dict[str, str]:
    """Require ``fast < slow`` (reported on ``fast``, naming both values)."""
    if params["fast"] >= params["slow"]:
        return {
            "fast": (
                f"Fast period ({params['fast']}) must be shorter than "
                f"slow period ({params['slow']})."
            )
        }
    return {}


class SmaCrossover(StrategyType):
    """Golden cross / death cross of two simple moving averages of the close."""

    key = "sma_crossover"
    name = "SMA crossover"
    description = (
        "Buys when the fast simple moving average of the close crosses above the slow one and "
        "exits (or goes short) when it crosses back below."
    )
    params = fast_slow_params("simple moving average")

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        return check_fast_slow(params)

    @classmethod
    def warmup(cls, params: dict[str, Any]) -> int:
        """The slow SMA exists from bar ``slow-1``; a cross also needs the bar before it."""
        return int(params["slow"])

    @classmethod
    def chart_lines(cls, bars: BarSeries, params: dict[str, Any]) -> list[ChartLine]:
        fast, slow = params["fast"], params["slow"]
        return [
            ChartLine("fast", f"SMA {fast}", sma(bars.close, fast)),
            ChartLine("slow", f"SMA {slow}", sma(bars.close, slow)),
        ]

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        return crossover_decisions(
            sma(bars.close, params["fast"]), sma(bars.close, params["slow"]), params["mode"]
        )
