"""Technical indicators over numpy arrays, vectorised and causal.

Every function takes float arrays (one value per bar, oldest first) and returns float64 arrays of
the same length, with NaN where the indicator is not defined yet. Output at index ``i`` depends
only on inputs ``<= i``, which is what lets a strategy's signals on a prefix of the bars equal its
signals on the whole series (see ``strategies.catalog.base.StrategyType``).

Conventions, chosen to match backtesting.py / pandas where the strategies are checked against it:

* ``sma`` follows pandas ``rolling(n).mean()``: NaN until ``n`` values are in the window, NaN
  whenever the window holds a NaN, and exactly the value itself over a constant window.
* ``ema`` and the Wilder smoothing inside ``rsi`` are seeded with the SMA of the first ``n``
  values (TA-Lib's convention), so values depend on where the series starts.
* ``crossover`` is backtesting.py's ``a[i-1] < b[i-1] and a[i] > b[i]``.

Ties between two floats computed by different formulas are decided at float resolution; with real
prices that is as good as any reference implementation.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["bollinger", "crossover", "donchian", "ema", "rolling_max", "rolling_min", "rsi", "sma"]


def _as_float(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-d array, got shape {arr.shape}")
    return arr


def _check_period(n: int) -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"period must be a positive integer, got {n!r}")
    return int(n)


def _rolling_count(flags: np.ndarray, n: int) -> np.ndarray:
    """Return, at each ``i >= n-1``, how many of ``flags[i-n+1..i]`` are true (exact integers)."""
    c = np.empty(len(flags) + 1, dtype=np.int64)
    c[0] = 0
    np.cumsum(flags, dtype=np.int64, out=c[1:])
    return c[n:] - c[:-n]


def _rolling_sums(
    x: np.ndarray, n: int, squares: bool
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Return window sums of ``x - c`` (and of its squares) plus the anchors ``c``, per window end.

    A single cumulative sum over a million bars loses about ``eps * N / n`` of relative precision
    when windows are differenced. Instead the series is cut into blocks of ``max(8n, 32)`` outputs,
    each block re-anchored at its first value and summed on its own (with the ``n - 1`` values
    before it), so the error stays ``~eps * B / n`` whatever the length — and it is still one
    vectorised cumsum. Returned arrays have ``len(x) - n + 1`` entries (window ends ``n-1..``).
    """
    m = len(x) - n + 1
    block = max(8 * n, 32)
    nblocks = -(-m // block)
    width = block + n - 1
    padded = np.zeros(nblocks * block + n - 1)
    padded[: len(x)] = x
    # Row b holds the inputs of window ends b*block .. b*block+block-1 (offset by n-1).
    rows = sliding_window_view(padded, width)[::block]
    anchors = rows[:, n - 1 : n].copy()  # the window end's own first value: x[b*block + n - 1]
    centred = rows - anchors
    c1 = np.zeros((nblocks, width + 1))
    np.cumsum(centred, axis=1, out=c1[:, 1:])
    s1 = (c1[:, n : n + block] - c1[:, :block]).reshape(-1)[:m]
    s2 = None
    if squares:
        np.multiply(centred, centred, out=centred)
        np.cumsum(centred, axis=1, out=c1[:, 1:])
        s2 = (c1[:, n : n + block] - c1[:, :block]).reshape(-1)[:m]
    anchor_per_end = np.repeat(anchors[:, 0], block)[:m]
    return s1, s2, anchor_per_end


def _rolling_moments(
    x: np.ndarray, n: int, *, with_var: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Rolling mean (and population variance) with pandas' NaN and constant-window rules."""
    x = _as_float(x)
    n = _check_period(n)
    mean = np.full(len(x), np.nan)
    var = np.full(len(x), np.nan) if with_var else None
    if len(x) < n:
        return mean, var
    if n == 1:
        mean[:] = np.where(np.isfinite(x), x, np.nan)
        if var is not None:
            var[:] = np.where(np.isfinite(x), 0.0, np.nan)
        return mean, var
    bad = ~np.isfinite(x)
    any_bad = bool(bad.any())
    clean = np.where(bad, 0.0, x) if any_bad else x
    s1, s2, anchor = _rolling_sums(clean, n, squares=with_var)
    mu_c = np.divide(s1, n, out=s1)  # in place (s1 is a fresh array): the same values
    np.add(anchor, mu_c, out=mean[n - 1 :])
    if var is not None and s2 is not None:
        var[n - 1 :] = np.maximum(s2 / n - mu_c * mu_c, 0.0)
    # Constant window: return the value itself and zero spread, exactly (pandas does the same for
    # the mean), so "close == middle band" on a flat market is not decided by rounding noise.
    flat = _rolling_count(clean[1:] == clean[:-1], n - 1) == n - 1
    flat_ends = np.flatnonzero(flat) + n - 1
    mean[flat_ends] = clean[flat_ends]
    if var is not None:
        var[flat_ends] = 0.0
    if any_bad:
        has_bad = _rolling_count(bad, n) > 0
        mean[n - 1 :][has_bad] = np.nan
        if var is not None:
            var[n - 1 :][has_bad] = np.nan
    return mean, var


def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Return the simple moving average of the last ``n`` values (NaN for the first ``n-1``).

    Matches pandas ``Series.rolling(n).mean()``, which backtesting.py's ``SMA`` uses, so crossover
    strategies reproduce its trades. Non-finite inputs make every window containing them NaN.
    """
    return _rolling_moments(x, n, with_var=False)[0]


def _smooth(x: np.ndarray, n: int, alpha: float) -> np.ndarray:
    """Exponential smoothing ``y[i] = y[i-1] + alpha * (x[i] - y[i-1])`` seeded with an SMA.

    The seed is the mean of the first ``n`` values after any leading NaNs (so an indicator of an
    indicator works); a NaN later in the series makes every later value NaN, like the recursion.

    The recursion is linear, so it is solved a block at a time with numpy instead of a Python loop
    over every bar: within a block of length ``L``, ``y[k] = d**k * y0 + sum_j alpha * x[j] *
    d**(k-j)`` with ``d = 1 - alpha``, computed as ``d**k * cumsum(alpha * x[j] * d**-j)``. ``L``
    is chosen so ``d**-L`` stays below 1e150 (no overflow for any sane price), capped at 4096;
    only the carried value crosses block boundaries, in a loop over blocks, not bars.
    """
    x = _as_float(x)
    n = _check_period(n)
    out = np.full(len(x), np.nan)
    finite = np.flatnonzero(~np.isnan(x))
    if len(finite) == 0:
        return out
    first = int(finite[0])
    if len(x) - first < n:
        return out
    seed_end = first + n - 1
    y0 = float(np.mean(x[first : seed_end + 1]))
    out[seed_end] = y0
    rest = x[seed_end + 1 :]
    if len(rest) == 0:
        return out
    d = 1.0 - alpha
    if d == 0.0:
        out[seed_end + 1 :] = rest
        return out
    # The block length depends on ``alpha`` only, never on the series length, so a prefix of the
    # series is computed with exactly the same float operations as the whole (bitwise causal).
    block = int(min(4096.0, max(1.0, np.floor(150.0 / -np.log10(d)))))
    k = np.arange(1, block + 1, dtype=np.float64)
    grow = d ** (-k)  # d**-k for k = 1..block
    decay = d**k
    nblocks = -(-len(rest) // block)
    padded = np.zeros(nblocks * block)
    padded[: len(rest)] = rest
    local = np.cumsum(alpha * padded.reshape(nblocks, block) * grow, axis=1) * decay
    # local[b, k-1] is block b's value at step k assuming it starts from 0; add the carry.
    ends = local[:, -1]
    carry = np.empty(nblocks)
    d_block = d**block
    c = y0
    for b in range(nblocks):  # one iteration per block of up to thousands of bars
        carry[b] = c
        c = ends[b] + d_block * c
    full = local + carry[:, None] * decay
    out[seed_end + 1 :] = full.reshape(-1)[: len(rest)]
    return out


def ema(x: np.ndarray, n: int) -> np.ndarray:
    """Return the exponential moving average with ``alpha = 2 / (n + 1)``.

    Seeded with the SMA of the first ``n`` values (NaN before), the TA-Lib convention, so the first
    value does not over-weight a single bar.
    """
    n = _check_period(n)
    return _smooth(x, n, 2.0 / (n + 1))


def rsi(close: np.ndarray, n: int) -> np.ndarray:
    """Return Wilder's relative strength index (0..100) over ``n`` periods.

    Gains and losses of ``close[i] - close[i-1]`` are averaged with Wilder's smoothing
    (``alpha = 1/n``, seeded with the simple average of the first ``n`` changes), so the first
    value is at index ``n``. Only gains give 100, only losses 0; if both averages are zero (a flat
    market) the RSI is 50, neutral, so a flat tape never looks oversold or overbought.
    """
    close = _as_float(close)
    n = _check_period(n)
    out = np.full(len(close), np.nan)
    if len(close) <= n:
        return out
    delta = np.diff(close)
    gain = _smooth(np.maximum(delta, 0.0), n, 1.0 / n)
    loss = _smooth(np.maximum(-delta, 0.0), n, 1.0 / n)
    total = gain + loss
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(total > 0, 100.0 * gain / total, 50.0)
    value[np.isnan(total)] = np.nan
    out[1:] = value
    return out


def bollinger(close: np.ndarray, n: int, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(middle, upper, lower)`` Bollinger bands: SMA ± ``width`` standard deviations.

    The deviation is the *population* one (ddof=0), as John Bollinger and TA-Lib define the bands;
    pandas' ``rolling().std()`` defaults to the sample one (ddof=1), which is wider by
    ``sqrt(n/(n-1))``. NaN for the first ``n-1`` bars.
    """
    mid, var = _rolling_moments(close, n, with_var=True)
    assert var is not None  # nosec B101 # type narrowing: with_var=True returns it
    spread = float(width) * np.sqrt(var)
    return mid, mid + spread, mid - spread


def _rolling_extreme(x: np.ndarray, n: int, ufunc: np.ufunc) -> np.ndarray:
    """Max/min over ``x[i-n+1..i]`` in O(N) (van Herk / Gil-Werman), NaN if the window has one.

    Blocks of ``n`` get a running extreme from the left and from the right; any window spans at
    most two blocks, so its extreme is one of each, whatever ``n`` is.
    """
    x = _as_float(x)
    n = _check_period(n)
    out = np.full(len(x), np.nan)
    if len(x) < n:
        return out
    nblocks = -(-len(x) // n)
    padded = np.full(nblocks * n, np.nan)
    padded[: len(x)] = x
    blocks = padded.reshape(nblocks, n)
    prefix = ufunc.accumulate(blocks, axis=1).reshape(-1)
    suffix = ufunc.accumulate(blocks[:, ::-1], axis=1)[:, ::-1].reshape(-1)
    m = len(x) - n + 1
    out[n - 1 :] = ufunc(suffix[:m], prefix[n - 1 : n - 1 + m])
    return out


def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Return the highest of the last ``n`` values, including the current one."""
    return _rolling_extreme(x, n, np.maximum)


def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Return the lowest of the last ``n`` values, including the current one."""
    return _rolling_extreme(x, n, np.minimum)


def donchian(high: np.ndarray, low: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(upper, lower)``: the highest high and lowest low of the *previous* ``n`` bars.

    The current bar is excluded so ``close > upper`` detects a breakout (including it, a close can
    never exceed the channel). NaN for the first ``n`` bars.
    """
    high = _as_float(high)
    low = _as_float(low)
    upper = np.full(len(high), np.nan)
    lower = np.full(len(low), np.nan)
    upper[1:] = rolling_max(high, n)[:-1]
    lower[1:] = rolling_min(low, n)[:-1]
    return upper, lower


def crossover(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Return where ``a`` crossed above ``b``: ``a[i-1] < b[i-1] and a[i] > b[i]``.

    Exactly backtesting.py's ``crossover`` applied at every bar: touching (equal) is not crossing,
    a cross needs the previous bar strictly below. False at index 0 and wherever a NaN is involved.
    Either side may be a scalar level (e.g. an RSI threshold).
    """
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    length = max(a_arr.size if a_arr.ndim else 0, b_arr.size if b_arr.ndim else 0)
    a_arr = np.broadcast_to(a_arr, (length,))
    b_arr = np.broadcast_to(b_arr, (length,))
    out = np.zeros(length, dtype=bool)
    if length > 1:
        out[1:] = (a_arr[:-1] < b_arr[:-1]) & (a_arr[1:] > b_arr[1:])
    return out
