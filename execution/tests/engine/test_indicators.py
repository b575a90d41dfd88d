"""Indicators against straightforward reference loops and hand-worked values."""

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.engine import indicators as ind


def ref_sma(x, n):
    return np.array(
        [np.mean(x[i - n + 1 : i + 1]) if i >= n - 1 else np.nan for i in range(len(x))]
    )


def ref_smooth(x, n, alpha):
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        y = sum(x[:n]) / n
        out[n - 1] = y
        for i in range(n, len(x)):
            y = y + alpha * (x[i] - y)
            out[i] = y
    return out


def ref_rsi(close, n):
    out = np.full(len(close), np.nan)
    if len(close) <= n:
        return out
    delta = np.diff(close)
    gain = ref_smooth(np.maximum(delta, 0), n, 1 / n)
    loss = ref_smooth(np.maximum(-delta, 0), n, 1 / n)
    for i in range(n, len(close)):
        g, lo = gain[i - 1], loss[i - 1]
        out[i] = 50.0 if g + lo == 0 else 100 * g / (g + lo)
    return out


def walk(n, seed=0, vol=0.01):
    rng = np.random.default_rng(seed)
    return 1000 * np.exp(np.cumsum(rng.normal(0, vol, n)))


def assert_close(a, b, rtol=1e-12, atol=0.0):
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, equal_nan=True)


# --- sma ---------------------------------------------------------------------------------------


def test_sma_by_hand():
    assert_close(ind.sma(np.array([1.0, 2, 3, 4, 5]), 3), np.array([np.nan, np.nan, 2, 3, 4]))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 255, 256, 257, 1000])
def test_sma_matches_reference(n):
    x = walk(5000, seed=n)
    assert_close(ind.sma(x, n), ref_sma(x, n), rtol=1e-12)


def test_sma_is_precise_over_a_million_bars():
    x = walk(1_000_000, seed=3)
    got = ind.sma(x, 10)
    for i in (9, 123_456, 999_999):
        assert got[i] == pytest.approx(np.mean(x[i - 9 : i + 1]), rel=1e-13)


@pytest.mark.parametrize("n", [1, 2, 5, 10, 20, 50])
def test_sma_is_pandas_rolling_mean_bit_for_bit(n):
    # 4-decimal prices, where exact ties between two SMAs are common: an ulp decides a cross.
    rng = np.random.default_rng(n)
    x = np.round(1.1 + np.cumsum(rng.normal(0, 0.0004, 20_000)), 4)
    x[[100, 5000]] = [np.nan, np.inf]
    np.testing.assert_array_equal(ind.sma(x, n), pd.Series(x).rolling(n).mean().to_numpy())
    mid, upper, _ = ind.bollinger(x, n, 2.0)
    np.testing.assert_array_equal(mid, ind.sma(x, n))
    std = pd.Series(x).rolling(n).std(ddof=0).to_numpy()
    np.testing.assert_array_equal(upper - mid == 0, std == 0)


def test_sma_nan_and_short_input_follow_pandas():
    x = np.array([1.0, 2, np.nan, 4, 5, 6, 7])
    assert_close(ind.sma(x, 2), np.array([np.nan, 1.5, np.nan, np.nan, 4.5, 5.5, 6.5]))
    assert np.all(np.isnan(ind.sma(np.array([1.0, 2.0]), 3)))
    assert len(ind.sma(np.array([]), 3)) == 0


def test_sma_constant_window_is_exact():
    x = np.array([100.05] * 10 + [100.1] * 10)
    got = ind.sma(x, 4)
    assert np.all(got[3:10] == 100.05)
    assert np.all(got[13:] == 100.1)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_period_must_be_positive_integer(bad):
    with pytest.raises(ValueError):
        ind.sma(np.ones(5), bad)


# --- ema ---------------------------------------------------------------------------------------


def test_ema_by_hand():
    # alpha = 2/(3+1) = 0.5, seeded with mean(1, 2, 3) = 2: then 2 + (4-2)/2 = 3, 3 + (5-3)/2 = 4.
    assert_close(ind.ema(np.array([1.0, 2, 3, 4, 5]), 3), np.array([np.nan, np.nan, 2, 3, 4]))


@pytest.mark.parametrize("n", [1, 2, 3, 10, 50, 200, 1000])
def test_ema_matches_recursion(n):
    x = walk(20_000, seed=n)  # long enough to cross several blocks for every n
    assert_close(ind.ema(x, n), ref_smooth(x, n, 2 / (n + 1)), rtol=1e-11)


def test_ema_leading_nans_and_later_nan():
    x = np.array([np.nan, np.nan, 1.0, 2, 3, 4, np.nan, 5])
    got = ind.ema(x, 3)
    assert_close(got[:6], np.array([np.nan, np.nan, np.nan, np.nan, 2, 3]))
    assert np.all(np.isnan(got[6:]))


def test_ema_huge_values_do_not_overflow():
    x = np.full(5000, 1e12)
    assert np.allclose(ind.ema(x, 2)[1:], 1e12, rtol=1e-12)


# --- rsi ---------------------------------------------------------------------------------------


def test_rsi_wilder_by_hand():
    close = np.array([10.0, 11, 12, 11, 10, 9, 10, 11, 12])
    expected = [np.nan, np.nan, 100, 50, 25, 12.5, 56.25, 78.125, 89.0625]
    assert_close(ind.rsi(close, 2), np.array(expected))


def test_rsi_textbook_14():
    # The closes of StockCharts' classic worked example. Its sheet rounds the averages and shows
    # 70.53; unrounded (as TA-Lib): gains of the first 14 changes sum to 3.34, losses to 1.40,
    # so RS = (3.34/14) / (1.40/14) and RSI = 100 - 100 / (1 + RS) = 70.464.
    close = np.array(
        [
            *(44.34, 44.09, 44.15, 43.61, 44.33, 44.83, 45.10, 45.42, 45.84, 46.08, 45.89),
            *(46.03, 45.61, 46.28, 46.28, 46.00, 46.03, 46.41),
        ]
    )
    got = ind.rsi(close, 14)
    assert np.all(np.isnan(got[:14]))
    assert got[14] == pytest.approx(100 - 100 / (1 + 3.34 / 1.40), rel=1e-12)
    np.testing.assert_allclose(got[14:], [70.4641, 66.2496, 66.4809, 69.3469], atol=1e-4)


@pytest.mark.parametrize("n", [2, 14, 100])
def test_rsi_matches_reference(n):
    x = walk(6000, seed=n)
    assert_close(ind.rsi(x, n), ref_rsi(x, n), rtol=1e-9)


def test_rsi_extremes():
    assert np.all(ind.rsi(np.arange(1.0, 30), 5)[5:] == 100)
    assert np.all(ind.rsi(np.arange(30.0, 1, -1), 5)[5:] == 0)
    assert np.all(ind.rsi(np.full(30, 7.0), 5)[5:] == 50)
    assert np.all(np.isnan(ind.rsi(np.ones(5), 5)))


# --- bollinger ---------------------------------------------------------------------------------


def test_bollinger_by_hand_population_std():
    mid, upper, lower = ind.bollinger(np.array([10.0, 10, 7]), 3, 1.0)
    assert mid[2] == 9
    assert upper[2] == pytest.approx(9 + math.sqrt(2), rel=1e-14)  # sqrt(((1+1+4)/3)), ddof=0
    assert lower[2] == pytest.approx(9 - math.sqrt(2), rel=1e-14)
    assert np.all(np.isnan(mid[:2]))


@pytest.mark.parametrize("n", [2, 3, 20, 300])
def test_bollinger_matches_reference(n):
    x = walk(4000, seed=n)
    mid, upper, lower = ind.bollinger(x, n, 2.5)
    std = np.array([np.std(x[i - n + 1 : i + 1]) if i >= n - 1 else np.nan for i in range(len(x))])
    assert_close(mid, ref_sma(x, n))
    # Absolute tolerance on a ~1000 price: far below any tick.
    assert_close(upper, ref_sma(x, n) + 2.5 * std, rtol=0, atol=1e-7)
    assert_close(lower, ref_sma(x, n) - 2.5 * std, rtol=0, atol=1e-7)


def test_bollinger_flat_window_has_zero_width():
    mid, upper, lower = ind.bollinger(np.full(10, 123.45), 4, 2.0)
    assert np.all(mid[3:] == 123.45) and np.all(upper[3:] == 123.45) and np.all(lower[3:] == 123.45)


# --- rolling extremes and donchian -------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 5, 17, 64])
def test_rolling_extremes_match_reference(n):
    x = walk(1000, seed=n)
    ref_max = np.array([x[i - n + 1 : i + 1].max() if i >= n - 1 else np.nan for i in range(1000)])
    ref_min = np.array([x[i - n + 1 : i + 1].min() if i >= n - 1 else np.nan for i in range(1000)])
    assert_close(ind.rolling_max(x, n), ref_max, rtol=0)
    assert_close(ind.rolling_min(x, n), ref_min, rtol=0)


def test_rolling_max_nan_stays_inside_its_windows():
    x = np.array([1.0, 5, np.nan, 2, 3, 4, 1])
    assert_close(ind.rolling_max(x, 2), np.array([np.nan, 5, np.nan, np.nan, 3, 4, 4]), rtol=0)


def test_donchian_uses_previous_bars_only():
    high = np.array([5.0, 7, 6, 9, 8, 4])
    low = np.array([1.0, 3, 2, 4, 0, 3])
    upper, lower = ind.donchian(high, low, 3)
    assert_close(upper, np.array([np.nan, np.nan, np.nan, 7, 9, 9]), rtol=0)
    assert_close(lower, np.array([np.nan, np.nan, np.nan, 1, 2, 0]), rtol=0)
    upper1, lower1 = ind.donchian(high, low, 1)
    assert_close(upper1, np.concatenate(([np.nan], high[:-1])), rtol=0)
    assert_close(lower1, np.concatenate(([np.nan], low[:-1])), rtol=0)


# --- crossover ---------------------------------------------------------------------------------


def test_crossing_by_hand():
    a = np.array([1.0, 3, 2, 2, 3, 1, 3, 2, 2, 2, 1, 2, 3])
    b = 2.0
    # 0->1 crosses above; 1..4 touch 2 and go back up (not a cross); 4->5 crosses below;
    # 5->6 crosses above; 6 -> ties at 7..9 -> 10 is below: a cross below, counted at 10;
    # 10 -> tie at 11 -> 12 above: a cross above, counted at 12.
    assert ind.crossing(a, b).tolist() == [0, 1, 0, 0, 0, -1, 1, 0, 0, 0, -1, 0, 1]
    assert ind.crosses_above(a, b).tolist() == (ind.crossing(a, b) > 0).tolist()
    assert ind.crosses_below(b, a).tolist() == ind.crosses_above(a, b).tolist()


def test_crossing_nan_scalar_and_edges():
    a = np.array([np.nan, 1.0, 3.0, np.nan, 3.0, 2.0, 1.0])
    # NaN breaks the chain: 3 after a NaN has no sign before it; 3 -> tie -> 1 crosses below.
    assert ind.crossing(a, 2.0).tolist() == [0, 0, 1, 0, 0, 0, -1]
    assert ind.crossing(2.0, a).tolist() == [0, 0, -1, 0, 0, 0, 1]
    # a tie run right after the warm-up has no sign before it: not a cross
    assert ind.crossing(np.array([np.nan, 2.0, 2.0, 3.0]), 2.0).tolist() == [0, 0, 0, 0]
    assert ind.crossing(np.array([]), np.array([])).tolist() == []
    assert ind.crossing(np.array([5.0]), 1.0).tolist() == [0]


def ref_crossing(a, b):
    """The rule written out bar by bar: the sign of the last non-tie bar, reset by a NaN."""
    out, last = [], 0
    for x, y in zip(a, b, strict=True):
        if math.isnan(x) or math.isnan(y):
            out.append(0)
            last = 0
            continue
        sign = int(x > y) - int(x < y)
        out.append(sign if sign and last == -sign else 0)
        last = sign or last
    return out


@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, np.nan]), max_size=30), st.data())
def test_crossing_is_a_sign_change_across_ties_at_every_bar(values, data):
    a = np.array(values)
    b = np.array(
        data.draw(
            st.lists(st.sampled_from([0.0, 1.0, 2.0, np.nan]), min_size=len(a), max_size=len(a))
        )
    )
    got = ind.crossing(a, b)
    assert got.tolist() == ref_crossing(a, b)
    for i in range(1, len(a)):
        # Where the bar before is no exact tie, this is backtesting.py's strict crossover:
        # series1[-2] < series2[-2] and series1[-1] > series2[-1].
        if a[i - 1] != b[i - 1]:  # NaN included
            assert got[i] == int(a[i - 1] < b[i - 1] and a[i] > b[i]) - int(
                a[i - 1] > b[i - 1] and a[i] < b[i]
            )


# --- causality of every indicator --------------------------------------------------------------

INDICATORS = {
    "sma": lambda c, h, lo, n: [ind.sma(c, n)],
    "ema": lambda c, h, lo, n: [ind.ema(c, n)],
    "rsi": lambda c, h, lo, n: [ind.rsi(c, n)],
    "bollinger": lambda c, h, lo, n: list(ind.bollinger(c, n, 2.0)),
    "donchian": lambda c, h, lo, n: list(ind.donchian(h, lo, n)),
    "rolling_max": lambda c, h, lo, n: [ind.rolling_max(h, n)],
}


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from(sorted(INDICATORS)),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.integers(0, 700),
    st.data(),
)
def test_indicators_are_causal_bit_for_bit(name, n, seed, length, data):
    rng = np.random.default_rng(seed)
    close = np.round(100 + np.cumsum(rng.integers(-2, 3, length)) * 0.05, 2)
    high, low = close + 0.1, close - 0.1
    k = data.draw(st.integers(0, length))
    full = INDICATORS[name](close, high, low, max(n, 2) if name == "rsi" else n)
    part = INDICATORS[name](close[:k], high[:k], low[:k], max(n, 2) if name == "rsi" else n)
    for f, p in zip(full, part, strict=True):
        np.testing.assert_array_equal(p, f[:k])
