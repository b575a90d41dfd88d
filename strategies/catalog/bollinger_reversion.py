"""Bollinger-band reversion: fade moves outside the bands back to the average."""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.indicators import bollinger
from strategies.catalog._rules import LONG_SHORT, decisions_from_rules, mode_param
from strategies.catalog.base import Param, StrategyType
from strategies.catalog.chart import ChartLine


class BollingerReversion(StrategyType):
    """Close against Bollinger bands (SMA ± ``width`` population standard deviations).

    Exact rule, at each bar's close:

    * long entry: close < lower band; long exit: close >= middle band.
    * long_short adds the mirror: short entry: close > upper band; short exit: close <= middle.

    An entry beats an exit on the same bar (close above the upper band both exits a long and
    enters a short). Decisions are emitted where the target changes.
    """

    key = "bollinger_reversion"
    name = "Bollinger-band reversion"
    description = (
        "Buys when the close drops below the lower Bollinger band and exits when it recovers to "
        "the moving average; in long/short mode it also shorts closes above the upper band."
    )
    params = (
        Param(
            "period",
            "int",
            20,
            label="Period",
            help="Bars in the moving average and standard deviation.",
            min=2,
            max=500,
        ),
        Param(
            "width",
            "float",
            2.0,
            label="Band width",
            help="Distance of the bands from the average, in standard deviations.",
            min=0.5,
            max=5,
        ),
        mode_param(),
    )

    @classmethod
    def warmup(cls, params: dict[str, Any]) -> int:
        """The bands exist from bar ``period-1``."""
        return int(params["period"]) - 1

    @classmethod
    def chart_lines(cls, bars: BarSeries, params: dict[str, Any]) -> list[ChartLine]:
        period, width = params["period"], params["width"]
        mid, upper, lower = bollinger(bars.close, period, width)
        return [
            ChartLine("upper", f"Upper band ({period}, {width:g} sd)", upper),
            ChartLine("mid", f"SMA {period}", mid),
            ChartLine("lower", f"Lower band ({period}, {width:g} sd)", lower),
        ]

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        mid, upper, lower = bollinger(bars.close, params["period"], params["width"])
        close = bars.close
        long_entry = close < lower  # NaN bands compare False
        long_exit = close >= mid
        if params["mode"] == LONG_SHORT:
            return decisions_from_rules(
                long_entry, long_exit, short_entry=close > upper, short_exit=close <= mid
            )
        return decisions_from_rules(long_entry, long_exit)
