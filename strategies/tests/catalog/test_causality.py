"""Every registered type's signals are causal: a prefix of the bars gives a prefix of the signals.

This is the property a paper deployment relies on to reproduce a backtest bar by bar.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.engine.bars import BarSeries
from strategies import catalog

# The types with scalar parameters; rule documents have their own (strategies/tests/rules).
ALL = [t for t in catalog.all_types() if t.dashboard_form]


@st.composite
def bar_series(draw):
    n = draw(st.integers(min_value=0, max_value=160))
    seed = draw(st.integers(min_value=0, max_value=2**32 - 1))
    rng = np.random.default_rng(seed)
    # Prices on a 0.05 tick with small integer steps, so flat stretches and exact ties occur.
    steps = rng.integers(-3, 4, size=n) * draw(st.sampled_from([0, 1, 1, 1]))
    close = np.round((2000 + np.cumsum(steps)) * 0.05, 2)
    open_ = np.concatenate((close[:1], close[:-1]))
    wiggle = rng.integers(0, 3, size=(2, n)) * 0.05
    return BarSeries(
        ts=np.arange(n, dtype=np.int64) * 60,
        open=open_,
        high=np.round(np.maximum(open_, close) + wiggle[0], 2),
        low=np.round(np.minimum(open_, close) - wiggle[1], 2),
        close=close,
        volume=np.full(n, 10.0),
    )


@st.composite
def type_and_params(draw):
    cls = draw(st.sampled_from(ALL))
    raw = {"mode": draw(st.sampled_from(["long_only", "long_short"]))}
    small = st.integers(min_value=1, max_value=30)
    if cls.key in ("sma_crossover", "ema_crossover"):
        a, b = draw(small), draw(small)
        raw.update(fast=min(a, b), slow=max(a, b) + 1)
    elif cls.key == "rsi_reversion":
        lo = draw(st.floats(min_value=1, max_value=60))
        raw.update(period=draw(st.integers(2, 30)), oversold=lo, overbought=lo + 30)
    elif cls.key == "bollinger_reversion":
        raw.update(period=draw(st.integers(2, 30)), width=draw(st.floats(0.5, 5)))
    elif cls.key == "donchian_breakout":
        a, b = draw(st.integers(2, 30)), draw(small)
        raw.update(entry=a, exit=min(a, b))
    return cls, cls.validate_params(raw)


def test_every_type_is_covered():
    assert {c.key for c in ALL} == {
        "sma_crossover",
        "ema_crossover",
        "rsi_reversion",
        "bollinger_reversion",
        "donchian_breakout",
    }


@settings(max_examples=300, deadline=None)
@given(type_and_params(), bar_series(), st.data())
def test_signals_are_causal(tp, bars, data):
    cls, params = tp
    full = cls.signals(bars, params)
    assert full.dtype == np.float64 and full.shape == (len(bars),)
    assert np.all(np.isin(full[~np.isnan(full)], [-1.0, 0.0, 1.0]))
    if params["mode"] == "long_only":
        assert not np.any(full == -1.0)
    assert np.all(np.isnan(full[: cls.warmup(params)]))
    k = data.draw(st.integers(min_value=0, max_value=len(bars)))
    prefix = cls.signals(bars.slice(0, k), params)
    np.testing.assert_array_equal(prefix, full[:k])


@settings(max_examples=100, deadline=None)
@given(type_and_params(), bar_series())
def test_signals_do_not_modify_bars(tp, bars):
    cls, params = tp
    before = [a.copy() for a in (bars.open, bars.high, bars.low, bars.close)]
    cls.signals(bars, params)
    for a, b in zip(before, (bars.open, bars.high, bars.low, bars.close), strict=True):
        np.testing.assert_array_equal(a, b)
