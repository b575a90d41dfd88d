"""Each built-in type restated as a rule document trades exactly like the built-in type.

Signals: the built-ins emit a decision at every cross (``0`` at a death cross even when flat),
the rule type only where its target changes, so the two arrays are compared as the target
position they produce (forward-filled from flat), bit for bit, which is all the engine acts on.
Backtests: orders, trades and the equity curve of the real engine, compared exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from execution.engine.charges import FlatCommission
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.orders import Product
from execution.engine.runner import Engine
from execution.tests.engine.helpers import load_goog, random_bars
from strategies import catalog
from strategies.rules import schema, text

RULES = catalog.get("rules")


def _doc(**sections: str) -> dict:
    lines = "\n".join(f"{name}: {cond}" for name, cond in sections.items())
    return text.parse_text(lines).json


def as_rules(key: str, p: dict) -> dict:
    """The rule document that states built-in type ``key`` with parameters ``p``."""
    short = p["mode"] == "long_short"
    if key in ("sma_crossover", "ema_crossover"):
        fn = key[:3]
        up = f"{fn}({p['fast']}) crosses_above {fn}({p['slow']})"
        down = f"{fn}({p['fast']}) crosses_below {fn}({p['slow']})"
        extra = {"entry_short": down, "exit_short": up} if short else {}
        return _doc(entry_long=up, exit_long=down, **extra)
    if key == "rsi_reversion":
        low = f"rsi({p['period']}) < {p['oversold']:g}"
        high = f"rsi({p['period']}) > {p['overbought']:g}"
        extra = {"entry_short": high, "exit_short": low} if short else {}
        return _doc(entry_long=low, exit_long=high, **extra)
    if key == "bollinger_reversion":
        n, w = p["period"], p["width"]
        extra = (
            {"entry_short": f"close > bb_upper({n}, {w:g})", "exit_short": f"close <= bb_mid({n})"}
            if short
            else {}
        )
        return _doc(
            entry_long=f"close < bb_lower({n}, {w:g})", exit_long=f"close >= bb_mid({n})", **extra
        )
    assert key == "donchian_breakout"
    e, x = p["entry"], p["exit"]
    extra = (
        {"entry_short": f"close < donchian_low({e})", "exit_short": f"close > donchian_high({x})"}
        if short
        else {}
    )
    return _doc(
        entry_long=f"close > donchian_high({e})", exit_long=f"close < donchian_low({x})", **extra
    )


CASES = [
    ("sma_crossover", {"fast": 10, "slow": 20}),
    ("sma_crossover", {"fast": 1, "slow": 3}),
    ("ema_crossover", {"fast": 12, "slow": 26}),
    ("rsi_reversion", {"period": 14, "oversold": 30.0, "overbought": 70.0}),
    ("rsi_reversion", {"period": 5, "oversold": 22.5, "overbought": 81.0}),
    ("bollinger_reversion", {"period": 20, "width": 2.0}),
    ("bollinger_reversion", {"period": 9, "width": 1.25}),
    ("donchian_breakout", {"entry": 20, "exit": 10}),
    ("donchian_breakout", {"entry": 5, "exit": 5}),
]


def target(signals: np.ndarray) -> np.ndarray:
    """The position the engine aims for after each bar: the last decision, flat before any."""
    idx = np.where(np.isnan(signals), -1, np.arange(len(signals)))
    last = np.maximum.accumulate(idx)
    return np.where(last >= 0, signals[np.maximum(last, 0)], 0.0)


def config() -> EngineConfig:
    return EngineConfig(
        instrument=InstrumentSpec("SYM", "NSE", tick_size=0.01, lot_size=1, allow_short_cnc=True),
        starting_capital=100_000.0,
        allocation_pct=100.0,
        product=Product.MIS,
        charges=FlatCommission(0.2),
        close_at_end="close",
    )


def _series():
    yield "GOOG", load_goog()
    for seed in (1, 2, 3):
        yield f"walk{seed}", random_bars(seed, n=3000)


SERIES = dict(_series())


@pytest.mark.parametrize("mode", ["long_only", "long_short"])
@pytest.mark.parametrize(("key", "params"), CASES, ids=lambda c: str(c))
@pytest.mark.parametrize("series", list(SERIES))
def test_rule_document_trades_like_the_builtin(series, key, params, mode):
    bars = SERIES[series]
    builtin = catalog.get(key)
    p = builtin.validate_params({**params, "mode": mode})
    doc = RULES.validate_params(as_rules(key, p))

    expected, got = builtin.signals(bars, p), RULES.signals(bars, doc)
    assert np.array_equal(target(expected), target(got))
    changes = np.flatnonzero(np.diff(np.concatenate(([0.0], target(got)))))
    assert len(changes) > 3, "a case that never trades proves nothing"
    # Wherever the target changes, both arrays hold the same decision.
    assert np.array_equal(expected[changes], got[changes])

    a = Engine(config(), builtin, p).run(bars)
    b = Engine(config(), RULES, doc).run(bars)
    assert a.trades == b.trades
    assert len(a.orders) > 1
    assert [(o.side, o.quantity) for o in a.orders] == [(o.side, o.quantity) for o in b.orders]
    for name in ("ts", "cash", "position", "equity"):
        assert np.array_equal(getattr(a.equity, name), getattr(b.equity, name)), name


def test_the_text_of_a_builtin_round_trips():
    doc = as_rules("sma_crossover", {"fast": 10, "slow": 20, "mode": "long_short"})
    printed = text.document_text(schema.parse_document(RULES.validate_params(doc)))
    assert text.parse_text(printed).json == doc
    assert printed == (
        "entry_long: sma(10) crosses_above sma(20)\n"
        "exit_long: sma(10) crosses_below sma(20)\n"
        "entry_short: sma(10) crosses_below sma(20)\n"
        "exit_short: sma(10) crosses_above sma(20)"
    )
