"""Compile a rule document once into a vectorised, causal numpy evaluation.

``compile_document`` turns the typed document into a ``CompiledRules``: a plan of numpy
operations over whole arrays (no ``eval``, no user code, no per-bar Python loop). Each distinct
operand (``sma(20)``, ``close[1]``) is computed once per evaluation and shared by every condition
that names it. Every indicator comes from ``execution.engine.indicators``, the same functions the
built-in types call, so a rule that restates a built-in type gives bit-identical signals.

Causal by construction: each indicator and ``shift`` is causal, comparisons and crossings are
per-bar, and the entry/exit state machine (``decisions_from_rules``) runs forward only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from execution.engine import indicators as ind
from execution.engine.bars import BarSeries
from strategies.catalog._rules import decisions_from_rules
from strategies.rules.schema import (
    Comparison,
    Condition,
    Const,
    Group,
    Indicator,
    Operand,
    Price,
    RuleDocument,
)

IST_OFFSET_S = 19_800  # VWAP sessions are the exchange's (NSE) calendar days, UTC+05:30

_COMPARE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    ">": np.greater,
    "<": np.less,
    ">=": np.greater_equal,
    "<=": np.less_equal,
    "crosses_above": ind.crosses_above,
    "crosses_below": ind.crosses_below,
}


def _bollinger(bars: BarSeries, period: int, width: float) -> tuple[np.ndarray, ...]:
    return ind.bollinger(bars.close, period, width)


# Indicator name -> function of (bars, *args) returning the series. Bollinger bands go through
# ``ind.bollinger`` (not ``sma``) so a band is the very array the built-in type compares with.
_SERIES: dict[str, Callable[..., np.ndarray]] = {
    "sma": lambda b, n: ind.sma(b.close, n),
    "ema": lambda b, n: ind.ema(b.close, n),
    "rsi": lambda b, n: ind.rsi(b.close, n),
    "bb_upper": lambda b, n, w: _bollinger(b, n, w)[1],
    "bb_mid": lambda b, n: _bollinger(b, n, 2.0)[0],
    "bb_lower": lambda b, n, w: _bollinger(b, n, w)[2],
    "donchian_high": lambda b, n: ind.donchian(b.high, b.low, n)[0],
    "donchian_low": lambda b, n: ind.donchian(b.high, b.low, n)[1],
    "atr": lambda b, n: ind.atr(b.high, b.low, b.close, n),
    "macd_line": lambda b, f, s: ind.macd(b.close, f, s, 1)[0],
    "macd_signal": lambda b, f, s, g: ind.macd(b.close, f, s, g)[1],
    "vwap": lambda b: ind.vwap(b.high, b.low, b.close, b.volume, (b.ts + IST_OFFSET_S) // 86_400),
}

# Bars before the first defined value of each indicator (``offset`` adds to it).
_LOOKBACK: dict[str, Callable[..., int]] = {
    "sma": lambda n: n - 1,
    "ema": lambda n: n - 1,
    "rsi": lambda n: n,
    "bb_upper": lambda n, w: n - 1,
    "bb_mid": lambda n: n - 1,
    "bb_lower": lambda n, w: n - 1,
    "donchian_high": lambda n: n,
    "donchian_low": lambda n: n,
    "atr": lambda n: n,
    "macd_line": lambda f, s: s - 1,
    "macd_signal": lambda f, s, g: s + g - 2,
    "vwap": lambda: 0,
}


def _operands(cond: Condition) -> list[Operand]:
    if isinstance(cond, Group):
        return [op for c in cond.items for op in _operands(c)]
    return [cond.left, cond.right]


def _lookback(op: Operand) -> int:
    if isinstance(op, Const):
        return 0
    if isinstance(op, Price):
        return op.offset
    return _LOOKBACK[op.name](*op.args) + op.offset


def _has_cross(cond: Condition) -> bool:
    if isinstance(cond, Group):
        return any(_has_cross(c) for c in cond.items)
    return cond.op.startswith("crosses")


class _Evaluation:
    """One evaluation over one ``BarSeries``: caches each operand's array."""

    def __init__(self, bars: BarSeries):
        self.bars = bars
        self.cache: dict[Operand | tuple, np.ndarray] = {}

    def operand(self, op: Operand) -> np.ndarray | float:
        if isinstance(op, Const):
            return op.value
        if op in self.cache:
            return self.cache[op]
        if isinstance(op, Price):
            base = np.asarray(getattr(self.bars, op.field), dtype=np.float64)
        else:
            key = (op.name, op.args)
            if key not in self.cache:
                self.cache[key] = _SERIES[op.name](self.bars, *op.args)
            base = self.cache[key]
        value = ind.shift(base, op.offset) if op.offset else base
        self.cache[op] = value
        return value

    def crossing(
        self, a: Operand, b: Operand, left: np.ndarray | float, right: np.ndarray | float
    ) -> np.ndarray:
        """``ind.crossing`` of two operands, once per pair: an entry on ``a`` crossing above
        ``b`` and an exit on it crossing below share it (``crossing(b, a)`` is its negation,
        the rule being symmetric; ``crosses_above``/``crosses_below`` read the same sign)."""
        key = ("cross", a, b)
        if key not in self.cache:
            swapped = ("cross", b, a)
            if swapped in self.cache:
                self.cache[key] = -self.cache[swapped]
            else:
                self.cache[key] = ind.crossing(left, right)
        return self.cache[key]

    def condition(self, cond: Condition) -> np.ndarray:
        if isinstance(cond, Comparison):
            left, right = self.operand(cond.left), self.operand(cond.right)
            if cond.op.startswith("crosses"):
                cross = self.crossing(cond.left, cond.right, left, right)
                out = cross > 0 if cond.op == "crosses_above" else cross < 0
            else:
                out = _COMPARE[cond.op](left, right)
            return np.broadcast_to(np.asarray(out, dtype=bool), (len(self.bars),))
        parts = [self.condition(c) for c in cond.items]
        if not parts:
            return np.zeros(len(self.bars), dtype=bool)
        if len(parts) == 1:
            return parts[0]
        # pairwise into one array: ``combine.reduce(parts, axis=0)`` would first stack them
        combine = np.logical_and if cond.kind == "all" else np.logical_or
        out = combine(parts[0], parts[1])
        for part in parts[2:]:
            combine(out, part, out=out)
        return out


@dataclass(frozen=True)
class CompiledRules:
    """A document ready to run: ``signals(bars)`` gives the catalogue's decision array."""

    document: RuleDocument
    warmup: int

    def indicators(self) -> list[Indicator]:
        """Each distinct indicator the conditions read, unshifted, in document order."""
        seen: dict[tuple, Indicator] = {}
        doc = self.document
        for cond in (doc.entry_long, doc.exit_long, doc.entry_short, doc.exit_short):
            for op in _operands(cond) if cond is not None else ():
                if isinstance(op, Indicator):
                    seen.setdefault((op.name, op.args), Indicator(op.name, op.args))
        return list(seen.values())

    def indicator_values(self, bars: BarSeries, indicator: Indicator) -> np.ndarray:
        """The array a condition compares for ``indicator`` over ``bars`` (the same function)."""
        return _SERIES[indicator.name](bars, *indicator.args)

    def signals(self, bars: BarSeries) -> np.ndarray:
        """+1/-1/0 where the target changes (and at every entry of a side without an exit
        condition), NaN elsewhere (``StrategyType.signals``)."""
        run = _Evaluation(bars)
        doc = self.document
        n = len(bars)
        never = np.zeros(n, dtype=bool)

        def side(cond: Condition | None) -> np.ndarray:
            return never if cond is None else run.condition(cond)

        long_entry = side(doc.entry_long)
        if doc.long_short:
            short_entry = side(doc.entry_short)
            out = decisions_from_rules(
                long_entry, side(doc.exit_long), short_entry, side(doc.exit_short)
            )
        else:
            short_entry = never
            out = decisions_from_rules(long_entry, side(doc.exit_long))
        # A side without an exit condition leaves its trades to the exits (stop, target,
        # trailing, time): once one has closed the position, its next entry must open another,
        # so each of its entries is repeated (the engine acts only on a change of its target).
        direction = long_entry.astype(np.int8) - short_entry.astype(np.int8)
        repeat = np.zeros(n, dtype=bool)
        if doc.exit_long is None:
            repeat |= direction == 1
        if doc.long_short and doc.exit_short is None:
            repeat |= direction == -1
        repeat &= np.isnan(out)
        if repeat.any():
            out[repeat] = direction[repeat]
        return out


def compile_document(doc: RuleDocument) -> CompiledRules:
    """Compile a validated document. Cached: a deployment's every step reuses the plan."""
    return _compile(doc)


@lru_cache(maxsize=512)
def _compile(doc: RuleDocument) -> CompiledRules:
    conditions = [c for c in (doc.entry_long, doc.exit_long, doc.entry_short, doc.exit_short) if c]
    operands = [op for c in conditions for op in _operands(c)]
    warmup = max((_lookback(op) for op in operands), default=0)
    if any(_has_cross(c) for c in conditions):
        warmup += 1  # a cross also needs the bar before
    return CompiledRules(doc, warmup)
