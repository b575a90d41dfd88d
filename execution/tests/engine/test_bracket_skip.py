"""The bracket skip's bar-by-bar scan (``bracket_skip._scan``) answers as its numpy form does.

``skip_to`` checks a stretch's first ``SCAN`` bars one by one and hands longer ones to numpy;
the engine's results must not depend on which of the two answered. Random walks, both sides,
every combination of stop, target and trailing stop, stretches shorter and longer than the
hand-over point (``SCAN`` set lower too), levels near the prices (so hits and trailing raises
happen at every distance).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.engine import bracket_skip
from execution.engine.bars import BarSeries
from execution.engine.bracket_skip import SCAN, _skip_numpy, skip_to
from execution.engine.exits import ExitRules, to_tick


def walk(n: int, seed: int, tick: float) -> BarSeries:
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    close = np.round(close / tick) * tick
    opens = np.concatenate([[close[0]], close[:-1]])
    spread = np.abs(rng.normal(0, 0.0015, n)) * close
    high = np.maximum(opens, close) + spread
    low = np.minimum(opens, close) - spread
    ts = 1_704_067_200 + 60 * np.arange(n, dtype=np.int64)
    return BarSeries(ts, opens, high, low, close, np.full(n, 1e5))


@settings(max_examples=300, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    long=st.booleans(),
    stop_pct=st.sampled_from([None, 0.1, 0.3, 1.0, 3.0]),
    target_pct=st.sampled_from([None, 0.1, 0.5, 2.0]),
    trail_pct=st.sampled_from([None, 0.05, 0.1, 0.5, 2.0]),
    max_bars=st.sampled_from([None, 3, 10, 40]),
    start=st.integers(1, 100),
    length=st.integers(1, 150),
    scan=st.sampled_from([1, 4, 16, SCAN]),  # where the scan hands over to numpy
    counted=st.integers(0, 5),
    tick=st.sampled_from([0.05, 0.01, 1e-6]),
)
def test_scan_and_numpy_agree(
    seed, long, stop_pct, target_pct, trail_pct, max_bars, start, length, scan, counted, tick
):
    bars = walk(200, seed, tick)
    ex = ExitRules(
        stop_loss_pct=stop_pct,
        target_pct=target_pct,
        trailing_stop_pct=trail_pct,
        max_bars_in_trade=max_bars,
    )
    entry = float(bars.open[start - 1])
    stop = ex.stop_price(entry, long)
    target = ex.target_price(entry, long)
    b = {
        "long": long,
        "bars": counted,
        "stop": None if stop is None else to_tick(stop, tick, long),
        "target": None if target is None else to_tick(target, tick, long),
    }
    end = min(len(bars), start + length)
    expected_end = end if max_bars is None else min(end, start + max_bars - counted - 1)
    try:
        bracket_skip.SCAN = scan
        got = skip_to(b, ex, bars, start, end, tick)
    finally:
        bracket_skip.SCAN = SCAN
    if expected_end <= start:
        assert got == (start, None)
    else:
        assert got == _skip_numpy(b, ex, bars, start, expected_end, tick)
    assert start <= got[0] <= max(start, expected_end)
