"""Signal logic of each type on small series whose answer is worked out by hand."""

import numpy as np
import pytest

from execution.engine.bars import BarSeries
from strategies import catalog
from strategies.tests.catalog._bars import bars_from_closes, decisions


def run(key, bars, **params):
    cls = catalog.get(key)
    p = cls.validate_params(params)
    out = cls.signals(bars, p)
    assert out.dtype == np.float64 and len(out) == len(bars)
    assert np.all(np.isnan(out[: cls.warmup(p)])), "a decision inside the warm-up"
    return decisions(out)


# --- SMA crossover -------------------------------------------------------------------------
# fast = SMA(1) = the close itself; slow = SMA(3):
#   i       0  1  2  3     4     5  6  7  8  9
#   close   5  5  5  4     8     9  10 2  2  2
#   sma3    -  -  5  4.67  5.67  7  9  7  4.67 2
# golden cross at 4 (4 < 4.67, then 8 > 5.67); death cross at 7 (10 > 9, then 2 < 7).
CROSS_CLOSES = [5, 5, 5, 4, 8, 9, 10, 2, 2, 2]


@pytest.mark.parametrize("key", ["sma_crossover", "ema_crossover"])
def test_crossovers_by_hand(key):
    bars = bars_from_closes(CROSS_CLOSES)
    assert run(key, bars, fast=1, slow=3) == {4: 1.0, 7: 0.0}
    assert run(key, bars, fast=1, slow=3, mode="long_short") == {4: 1.0, 7: -1.0}


def test_sma_crossover_through_a_tie_is_a_cross_and_a_touch_is_not():
    # fast (the close) against SMA(3): equal at 2-3 with no side before them, so going above at
    # 4 is no cross; above at 4-5, equal at 6, below at 7: a cross through the tie, counted at 7
    # (backtesting.py's strict rule misses it); below at 8, equal at 9, below again at 10: a
    # touch, not a cross.
    bars = bars_from_closes([5, 5, 5, 5, 8, 8, 8, 2, 2, 2, 1])
    assert run("sma_crossover", bars, fast=1, slow=3, mode="long_short") == {7: -1.0}
    assert run("sma_crossover", bars, fast=1, slow=3, mode="long_only") == {7: 0.0}


def test_sma_crossover_on_a_flat_market_never_trades():
    bars = bars_from_closes([100.05] * 50)
    assert run("sma_crossover", bars, fast=2, slow=5, mode="long_short") == {}


def _naive_sma(x, n):
    return np.array(
        [np.mean(x[i - n + 1 : i + 1]) if i >= n - 1 else np.nan for i in range(len(x))]
    )


def _naive_ema(x, n):
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1] = np.mean(x[:n])
        for i in range(n, len(x)):
            out[i] = out[i - 1] + 2 / (n + 1) * (x[i] - out[i - 1])
    return out


@pytest.mark.parametrize(
    ("key", "average"), [("sma_crossover", _naive_sma), ("ema_crossover", _naive_ema)]
)
@pytest.mark.parametrize("mode", ["long_only", "long_short"])
def test_crossover_matches_backtesting_py_next_loop(key, average, mode):
    """Replays backtesting.py's ``SmaCross.next`` bar by bar with naive averages."""
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 1500)))
    fast_n, slow_n = 7, 19
    fast, slow = average(close, fast_n), average(close, slow_n)
    expected = {}
    for i in range(1, len(close)):
        if fast[i - 1] < slow[i - 1] and fast[i] > slow[i]:
            expected[i] = 1.0
        elif slow[i - 1] < fast[i - 1] and slow[i] > fast[i]:
            expected[i] = -1.0 if mode == "long_short" else 0.0
    got = run(key, bars_from_closes(close), fast=fast_n, slow=slow_n, mode=mode)
    assert got == expected
    assert len(expected) > 20


# --- RSI reversion -------------------------------------------------------------------------
# Wilder RSI(2) of the closes below, worked by hand:
#   i      0   1   2    3   4   5     6      7       8
#   close  10  11  12   11  10  9     10     11      12
#   rsi    -   -   100  50  25  12.5  56.25  78.125  89.0625
RSI_CLOSES = [10, 11, 12, 11, 10, 9, 10, 11, 12]


def test_rsi_reversion_by_hand():
    bars = bars_from_closes(RSI_CLOSES)
    # long_only: RSI > 70 at 2 while flat changes nothing; < 30 at 4 buys; > 70 at 7 exits.
    assert run("rsi_reversion", bars, period=2) == {4: 1.0, 7: 0.0}
    # long_short: overbought at 2 shorts, oversold at 4 flips long, overbought at 7 flips short.
    assert run("rsi_reversion", bars, period=2, mode="long_short") == {2: -1.0, 4: 1.0, 7: -1.0}
    # Levels are strict: RSI of exactly 25 is not below 25.
    assert run("rsi_reversion", bars, period=2, oversold=25) == {5: 1.0, 7: 0.0}


def test_rsi_reversion_flat_market_is_neutral():
    bars = bars_from_closes([50.0] * 40)
    assert run("rsi_reversion", bars, period=5, mode="long_short") == {}


# --- Bollinger reversion -------------------------------------------------------------------
# period 3, width 1 (population standard deviation):
#   i      2     3                4                5            6               7
#   close  10    7                8                9            13              10
#   window 10x3  10,10,7          10,7,8           7,8,9        8,9,13          9,13,10
#   mid    10    9                8.33             8            10              10.67
#   std    0     1.414            1.247            0.816        2.160           1.700
#   lower  10    7.586            7.086            7.18         7.84            8.97
#   upper  10    10.414           9.580            8.82         12.16           12.37
# long_only: long below lower at 3, exit at 5 (9 >= 8). long_short: 9 > 8.82 at 5 also enters a
# short (the entry wins over the long's exit), 13 at 6 keeps it, 10 <= 10.67 at 7 exits it.
BOLL_CLOSES = [10, 10, 10, 7, 8, 9, 13, 10]


def test_bollinger_reversion_by_hand():
    bars = bars_from_closes(BOLL_CLOSES)
    assert run("bollinger_reversion", bars, period=3, width=1) == {3: 1.0, 5: 0.0}
    assert run("bollinger_reversion", bars, period=3, width=1, mode="long_short") == {
        3: 1.0,
        5: -1.0,
        7: 0.0,
    }


def test_bollinger_flip_from_long_to_short():
    # Long at 3 (7 < 7.586); 20 at 4 is far above the upper band: exits the long and goes short
    # on the same bar (the entry wins over the exit).
    bars = bars_from_closes([10, 10, 10, 7, 20])
    assert run("bollinger_reversion", bars, period=3, width=1, mode="long_short") == {
        3: 1.0,
        4: -1.0,
    }
    assert run("bollinger_reversion", bars, period=3, width=1) == {3: 1.0, 4: 0.0}


def test_bollinger_flat_market_is_exact():
    # A constant window has zero spread exactly, so close == lower == upper: no trade.
    bars = bars_from_closes([100.05] * 30)
    assert run("bollinger_reversion", bars, period=5, width=0.5, mode="long_short") == {}


# --- Donchian breakout ---------------------------------------------------------------------
# open = previous close, high = max(open, close) + 1, low = min(open, close) - 1:
#   i      0   1   2   3   4   5   6   7   8   9
#   close  10  10  10  10  12  11  8   7   4   9.5
#   high   11  11  11  11  13  13  12  9   8   10.5
#   low    9   9   9   9   9   10  7   6   3   3
# entry=3, exit=2:
#   4: 12 > highest high of 1..3 (11)                      -> long
#   6: 8 < lowest low of 4..5 (9)                          -> long exit
#      8 < lowest low of 3..5 (9)                          -> and short (long_short)
#   9: 9.5 > highest high of 7..8 (9)                      -> short exit
DONCHIAN_CLOSES = [10, 10, 10, 10, 12, 11, 8, 7, 4, 9.5]


def test_donchian_by_hand():
    bars = bars_from_closes(DONCHIAN_CLOSES, spread=1)
    assert run("donchian_breakout", bars, entry=3, exit=2) == {4: 1.0, 6: 0.0}
    assert run("donchian_breakout", bars, entry=3, exit=2, mode="long_short") == {
        4: 1.0,
        6: -1.0,
        9: 0.0,
    }


def test_donchian_excludes_the_current_bar():
    # A close at the channel's previous high is not a breakout; a tick above is.
    closes = [10.0] * 5 + [11.0, 11.05]
    bars = bars_from_closes(closes)  # spread 0: high = max(open, close)
    assert run("donchian_breakout", bars, entry=3, exit=2) == {5: 1.0}


def test_signals_on_empty_and_tiny_series():
    for cls in catalog.all_types():
        p = cls.defaults()
        assert len(cls.signals(BarSeries.empty(), p)) == 0
        tiny = bars_from_closes([100.0, 101.0])
        assert np.all(np.isnan(cls.signals(tiny, p)))
