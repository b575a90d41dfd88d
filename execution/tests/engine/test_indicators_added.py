"""ATR, MACD, VWAP and shift (added for the rule language) against naive per-bar loops."""

from __future__ import annotations

import numpy as np
import pytest

from execution.engine import indicators as ind
from execution.tests.engine.helpers import random_bars


def _naive_wilder(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    if len(x) >= n:
        out[n - 1] = np.mean(x[:n])
        for i in range(n, len(x)):
            out[i] = out[i - 1] + (x[i] - out[i - 1]) / n
    return out


def _naive_ema(x: np.ndarray, n: int) -> np.ndarray:
    out = np.full(len(x), np.nan)
    finite = np.flatnonzero(~np.isnan(x))
    if len(finite) == 0:
        return out
    s = finite[0]
    if len(x) - s >= n:
        out[s + n - 1] = np.mean(x[s : s + n])
        for i in range(s + n, len(x)):
            out[i] = out[i - 1] + 2 / (n + 1) * (x[i] - out[i - 1])
    return out


@pytest.mark.parametrize("n", [1, 3, 14])
def test_atr_is_wilders_average_of_the_true_range(n):
    b = random_bars(5, n=300)
    tr = [
        max(b.high[i] - b.low[i], abs(b.high[i] - b.close[i - 1]), abs(b.low[i] - b.close[i - 1]))
        for i in range(1, len(b))
    ]
    expected = np.concatenate(([np.nan], _naive_wilder(np.array(tr), n)))
    got = ind.atr(b.high, b.low, b.close, n)
    assert np.all(np.isnan(got[:n])) and not np.isnan(got[n])
    np.testing.assert_allclose(got, expected, rtol=1e-9, equal_nan=True)


def test_atr_of_a_short_series_is_nan():
    b = random_bars(1, n=5)
    assert np.all(np.isnan(ind.atr(b.high, b.low, b.close, 5)))


def test_macd_line_and_signal():
    close = random_bars(6, n=400).close
    line, signal = ind.macd(close, 12, 26, 9)
    expected_line = _naive_ema(close, 12) - _naive_ema(close, 26)
    np.testing.assert_allclose(line, expected_line, rtol=1e-9, equal_nan=True)
    np.testing.assert_allclose(signal, _naive_ema(expected_line, 9), rtol=1e-9, equal_nan=True)
    assert np.isnan(signal[26 + 9 - 3]) and not np.isnan(signal[26 + 9 - 2])


def test_vwap_restarts_each_session():
    b = random_bars(7, n=100)
    session = np.repeat(np.arange(4), 25)
    vol = b.volume.copy()
    vol[50:53] = 0.0  # a session opening on no volume has no VWAP until something trades
    got = ind.vwap(b.high, b.low, b.close, vol, session)
    typical = (b.high + b.low + b.close) / 3
    expected = np.full(100, np.nan)
    for i in range(100):
        start = i - i % 25
        v = vol[start : i + 1].sum()
        if v > 0:
            expected[i] = (typical[start : i + 1] * vol[start : i + 1]).sum() / v
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
    assert np.isnan(got[50:53]).all() and got[0] == pytest.approx(typical[0])


def test_shift_delays_and_pads_with_nan():
    x = np.arange(5.0)
    np.testing.assert_array_equal(ind.shift(x, 2), [np.nan, np.nan, 0, 1, 2])
    np.testing.assert_array_equal(ind.shift(x, 0), x)
    assert np.isnan(ind.shift(x, 9)).all()
    with pytest.raises(ValueError):
        ind.shift(x, -1)


@pytest.mark.parametrize("k", [0, 1, 17, 150, 299])
def test_new_indicators_are_causal_bit_for_bit(k):
    b = random_bars(8, n=300)
    session = (b.ts + 19_800) // 86_400
    full = [
        ind.atr(b.high, b.low, b.close, 14),
        *ind.macd(b.close, 5, 13, 4),
        ind.vwap(b.high, b.low, b.close, b.volume, session),
        ind.shift(b.close, 3),
    ]
    s = b.slice(0, k)
    part = [
        ind.atr(s.high, s.low, s.close, 14),
        *ind.macd(s.close, 5, 13, 4),
        ind.vwap(s.high, s.low, s.close, s.volume, session[:k]),
        ind.shift(s.close, 3),
    ]
    for f, p in zip(full, part, strict=True):
        np.testing.assert_array_equal(p, f[:k])
