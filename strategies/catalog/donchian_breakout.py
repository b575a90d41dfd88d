"""Donchian breakout: the Turtle traders' channel breakout."""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.indicators import donchian
from strategies.catalog._rules import LONG_SHORT, decisions_from_rules, mode_param
from strategies.catalog.base import Param, StrategyType
from strategies.catalog.chart import ChartLine


class DonchianBreakout(StrategyType):
    """Breakouts of the high/low channel of the previous bars (the current bar excluded).

    Exact rule, at each bar's close:

    * long entry: close > highest high of the previous ``entry`` bars;
      long exit: close < lowest low of the previous ``exit`` bars.
    * long_short adds the mirror: short entry: close < lowest low of the previous ``entry``
      bars; short exit: close > highest high of the previous ``exit`` bars.

    An entry beats an exit on the same bar, so a breakdown flips a long straight to a short.
    Decisions are emitted where the target changes.
    """

    key = "donchian_breakout"
    name = "Donchian breakout"
    description = (
        "Buys when the close breaks above the highest high of the last N bars and exits when it "
        "falls below the lowest low of a shorter lookback, Turtle-style; long/short mirrors it."
    )
    params = (
        Param(
            "entry",
            "int",
            20,
            label="Entry lookback",
            help="Bars whose highest high (lowest low for shorts) a close must break to enter.",
            min=2,
            max=500,
        ),
        Param(
            "exit",
            "int",
            10,
            label="Exit lookback",
            help="Bars whose lowest low (highest high for shorts) a close must break to exit.",
            min=1,
            max=500,
        ),
        mode_param(),
    )

    @classmethod
    def check(cls, params: dict[str, Any]) -> dict[str, str]:
        if params["exit"] > params["entry"]:
            return {
                "exit": (
                    f"Exit lookback ({params['exit']}) must not be longer than "
                    f"entry lookback ({params['entry']})."
                )
            }
        return {}

    @classmethod
    def warmup(cls, params: dict[str, Any]) -> int:
        """The entry channel covers the previous ``entry`` bars, so it exists from bar ``entry``."""
        return int(params["entry"])

    @classmethod
    def chart_lines(cls, bars: BarSeries, params: dict[str, Any]) -> list[ChartLine]:
        entry, exit_ = params["entry"], params["exit"]
        entry_high, entry_low = donchian(bars.high, bars.low, entry)
        exit_high, exit_low = donchian(bars.high, bars.low, exit_)
        lines = [
            ChartLine("entry_high", f"High of {entry}", entry_high),
            ChartLine("exit_low", f"Low of {exit_}", exit_low),
        ]
        if params["mode"] == LONG_SHORT:
            lines += [
                ChartLine("entry_low", f"Low of {entry}", entry_low),
                ChartLine("exit_high", f"High of {exit_}", exit_high),
            ]
        return lines

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        close = bars.close
        entry_high, entry_low = donchian(bars.high, bars.low, params["entry"])
        exit_high, exit_low = donchian(bars.high, bars.low, params["exit"])
        long_entry = close > entry_high  # NaN channels compare False
        long_exit = close < exit_low
        if params["mode"] == LONG_SHORT:
            short_entry, short_exit = close < entry_low, close > exit_high
            return decisions_from_rules(long_entry, long_exit, short_entry, short_exit)
        return decisions_from_rules(long_entry, long_exit)
