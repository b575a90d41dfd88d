"""Technical indicators over numpy arrays, vectorised and causal.

Every function takes float arrays (one value per bar, oldest first) and returns float64 arrays of
the same length, with NaN where the indicator is not defined yet. Output at index ``i`` depends
only on inputs ``<= i``, which is what lets a strategy's signals on a prefix of the bars equal its
signals on the whole series (see ``strategies.catalog.base.StrategyType``).

Conventions, chosen to match backtesting.py / pandas where the strategies are checked against it:

* ``sma`` (and the middle Bollinger band) *is* pandas ``rolling(n).mean()``, computed by pandas,
  so it equals backtesting.py's ``SMA`` bit for bit: NaN until ``n`` values are in the window,
  NaN whenever the window holds a NaN, exactly the value itself over a constant window. Its
  running sum makes the last ulp depend on where the series starts, as ``ema``'s values do.
* ``ema`` and the Wilder smoothing inside ``rsi`` are seeded with the SMA of the first ``n``
  values (TA-Lib's convention), so values depend on where the series starts.
* ``crossing`` is a change of sign of ``a - b`` across any run of exactly equal bars, counted on
  the bar where the new sign appears (backtesting.py's strict ``crossover`` misses a cross through
  an exact tie; everywhere else the two agree). See ``crossing`` for the whole rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "atr",
    "bollinger",
    "crosses_above",
    "crosses_below",
    "crossing",
    "donchian",
    "ema",
    "indicator_memo",
    "macd",
    "rolling_max",
    "rolling_min",
    "rsi",
    "shift",
    "sma",
    "vwap",
]


def _as_float(x: np.ndarray) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-d array, got shape {arr.shape}")
    return arr


def _check_period(n: int) -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"period must be a positive integer, got {n!r}")
    return int(n)


def _rolling(x: np.ndarray, n: int) -> Any:
    """Return pandas' fixed ``n``-bar window over ``x`` (``min_periods=n``).

    pandas is imported here, not at module level: it costs ~0.3 s and only processes that compute
    indicators need it (the web workers import the catalogue for its schemas alone).
    """
    import pandas as pd

    return pd.Series(_as_float(x), copy=False).rolling(_check_period(n))


# --- memo: one computation per indicator series within a parameter sweep's chunk ------------

_F = TypeVar("_F", bound=Callable[..., Any])
_Memo = dict[tuple, tuple[tuple, Any]]
_MEMO: ContextVar[_Memo | None] = ContextVar("indicator_memo", default=None)


@contextmanager
def indicator_memo(memo: _Memo | None = None) -> Iterator[_Memo]:
    """Within the block, each indicator call on the same input arrays is computed once.

    A sweep runs hundreds of parameter sets over the same bars; SMA(20) of the close is then
    asked for by every set with ``slow=20``. Calls are keyed on the *identity* of their array
    arguments (the chunk's bars are loaded once and never change) and the value of the others,
    and the cached arrays are made read-only so no caller can alter what the next one reads.
    Outside the block nothing is cached: results are bit for bit those of a fresh call.
    Passing the ``memo`` a previous block yielded carries its entries over (a sweep worker
    running the next chunk over the same bars objects).
    """
    token = _MEMO.set({} if memo is None else memo)
    try:
        yield _MEMO.get()
    finally:
        _MEMO.reset(token)


def _read_only(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        value.flags.writeable = False
    elif isinstance(value, tuple):
        for v in value:
            _read_only(v)
    return value


def _memoised(fn: _F) -> _F:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        memo = _MEMO.get()
        if memo is None or kwargs:
            return fn(*args, **kwargs)
        arrays = tuple(a for a in args if isinstance(a, np.ndarray))
        key = (fn.__name__, *(("#", id(a)) if isinstance(a, np.ndarray) else a for a in args))
        hit = memo.get(key)
        # the inputs are kept in the entry, so an id cannot be reused by another array
        if hit is not None and all(x is y for x, y in zip(hit[0], arrays, strict=True)):
            return hit[1]
        value = _read_only(fn(*args))
        memo[key] = (arrays, value)
        return value

    return wrapper  # type: ignore[return-value]


@_memoised
def sma(x: np.ndarray, n: int) -> np.ndarray:
    """Return the simple moving average of the last ``n`` values (NaN for the first ``n-1``).

    *Is* pandas ``Series.rolling(n).mean()``, which backtesting.py's ``SMA`` uses, bit for bit:
    its running Kahan sum rounds differently from any other summation, and on prices with few
    decimals two SMAs are often exactly equal in one formula and an ulp apart in the other, which
    decides whether a cross happens on that bar. Non-finite inputs make every window holding one
    NaN; a constant window gives the value itself, exactly.
    """
    return _rolling(x, n).mean().to_numpy(dtype=np.float64)


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
    if len(x) == 0:
        return out
    nan = np.isnan(x)
    first = int(nan.argmin())  # the first finite value (argmin of a bool array: first False)
    if nan[first]:
        return out
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
    # One padded work array, updated in place: each step is the same element-wise float
    # operation as ``cumsum(alpha * x * grow, axis=1) * decay`` spelled with temporaries, so
    # the same bits, without allocating (and page-faulting) a fresh array per step.
    local = np.zeros((nblocks, block))
    flat = local.reshape(-1)
    np.multiply(rest, alpha, out=flat[: len(rest)])
    local *= grow
    np.cumsum(local, axis=1, out=local)
    local *= decay
    # local[b, k-1] is block b's value at step k assuming it starts from 0; add the carry.
    ends = local[:, -1].copy()
    carry = np.empty(nblocks)
    d_block = d**block
    c = y0
    for b in range(nblocks):  # one iteration per block of up to thousands of bars
        carry[b] = c
        c = ends[b] + d_block * c
    np.add(local, np.multiply.outer(carry, decay), out=local)
    out[seed_end + 1 :] = flat[: len(rest)]
    return out


@_memoised
def ema(x: np.ndarray, n: int) -> np.ndarray:
    """Return the exponential moving average with ``alpha = 2 / (n + 1)``.

    Seeded with the SMA of the first ``n`` values (NaN before), the TA-Lib convention, so the first
    value does not over-weight a single bar.
    """
    n = _check_period(n)
    return _smooth(x, n, 2.0 / (n + 1))


@_memoised
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
    np.negative(delta, out=delta)
    loss = _smooth(np.maximum(delta, 0.0, out=delta), n, 1.0 / n)
    # ``where(total > 0, 100 * gain / total, 50)`` with NaN kept where ``total`` is NaN, in
    # place (the same element-wise operations, without a fresh array per step)
    total = np.add(gain, loss, out=loss)
    value = np.multiply(gain, 100.0, out=gain)
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(value, total, out=value)
    value[total <= 0] = 50.0  # not ``total > 0``, and not NaN (NaN compares neither way)
    out[1:] = value
    return out


@_memoised
def bollinger(close: np.ndarray, n: int, width: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(middle, upper, lower)`` Bollinger bands: SMA ± ``width`` standard deviations.

    The deviation is the *population* one (ddof=0), as John Bollinger and TA-Lib define the bands;
    pandas' ``rolling().std()`` defaults to the sample one (ddof=1), which is wider by
    ``sqrt(n/(n-1))``, so it is asked for ``ddof=0``. The middle band is ``sma`` (pandas' rolling
    mean) and the deviation pandas' rolling variance. NaN for the first ``n-1`` bars.
    """
    window = _rolling(close, n)
    mid = window.mean().to_numpy(dtype=np.float64)
    # pandas' Welford variance: exactly 0 over a constant window, never negative.
    spread = float(width) * np.sqrt(window.var(ddof=0).to_numpy(dtype=np.float64))
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


@_memoised
def rolling_max(x: np.ndarray, n: int) -> np.ndarray:
    """Return the highest of the last ``n`` values, including the current one."""
    return _rolling_extreme(x, n, np.maximum)


@_memoised
def rolling_min(x: np.ndarray, n: int) -> np.ndarray:
    """Return the lowest of the last ``n`` values, including the current one."""
    return _rolling_extreme(x, n, np.minimum)


@_memoised
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


def crossing(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Return, per bar, ``+1`` where ``a`` crossed above ``b``, ``-1`` where below, else ``0``.

    **The crossing rule** (the one place it is decided; ``crosses_above``/``crosses_below``, the
    catalogue and rule strategies all read it from here): a cross is a change of sign of
    ``a - b`` across any run of bars where ``a == b`` exactly, counted on the bar where the new
    sign appears. So ``+, -`` and ``+, 0, 0, -`` are both a cross below, on the ``-`` bar;
    ``+, 0, +`` (a touch) is no cross, and neither is ``0, -`` with no sign before the tie.
    A NaN on either side breaks the chain: the first signed bar after a NaN has no previous sign
    and is not a cross. Causal: bar ``i`` depends on bars ``<= i`` only.

    Why not backtesting.py's ``a[i-1] < b[i-1] and a[i] > b[i]``: on prices with few decimals
    two averages are often *exactly* equal on a bar, and the strict rule then never sees the cross
    at all, so a position that should have been closed stays open. Where no bar ties exactly, the
    two rules agree bar for bar. Either side may be a scalar level (e.g. an RSI threshold).
    """
    a_arr = np.asarray(a, dtype=np.float64)
    b_arr = np.asarray(b, dtype=np.float64)
    length = max(a_arr.size if a_arr.ndim else 0, b_arr.size if b_arr.ndim else 0)
    a_arr = np.broadcast_to(a_arr, (length,))
    b_arr = np.broadcast_to(b_arr, (length,))
    out = np.zeros(length, dtype=np.int8)
    if length < 2:
        return out
    above = a_arr > b_arr
    below = a_arr < b_arr
    # The last bar before i that is not an exact tie: signed, or NaN (which compares neither way).
    not_tie = ~(a_arr == b_arr)
    idx = np.arange(length)
    last = np.maximum.accumulate(np.where(not_tie, idx, -1))
    prev = np.maximum(last[:-1], 0)
    seen = last[:-1] >= 0
    out[1:][above[1:] & seen & below[prev]] = 1
    out[1:][below[1:] & seen & above[prev]] = -1
    return out


def crosses_above(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Return where ``a`` crossed above ``b``, by ``crossing``'s rule (ties are see-through)."""
    return crossing(a, b) > 0


def crosses_below(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """Return where ``a`` crossed below ``b``, by ``crossing``'s rule (ties are see-through)."""
    return crossing(a, b) < 0


def shift(x: np.ndarray, n: int) -> np.ndarray:
    """Return ``x`` delayed by ``n`` bars: ``out[i] = x[i-n]``, NaN for the first ``n``.

    The rule language's previous-bar offset (``close[1]``); ``n = 0`` returns a copy.
    """
    x = _as_float(x)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise ValueError(f"offset must be a non-negative integer, got {n!r}")
    n = int(n)
    out = np.full(len(x), np.nan)
    if n == 0:
        out[:] = x
    elif n < len(x):
        out[n:] = x[:-n]
    return out


@_memoised
def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, n: int) -> np.ndarray:
    """Return Wilder's average true range over ``n`` bars (NaN for the first ``n``).

    The true range of bar ``i >= 1`` is ``max(high-low, |high-close[i-1]|, |low-close[i-1]|)``;
    it is averaged with Wilder's smoothing (``alpha = 1/n``) seeded with the simple average of
    the first ``n`` true ranges, TA-Lib's convention, so the first value is at index ``n``.
    """
    high, low, close = _as_float(high), _as_float(low), _as_float(close)
    n = _check_period(n)
    out = np.full(len(close), np.nan)
    if len(close) <= n:
        return out
    prev = close[:-1]
    tr = np.maximum(high[1:] - low[1:], np.maximum(np.abs(high[1:] - prev), np.abs(low[1:] - prev)))
    out[1:] = _smooth(tr, n, 1.0 / n)
    return out


@_memoised
def macd(close: np.ndarray, fast: int, slow: int, signal: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(line, signal)``: ``ema(fast) - ema(slow)`` and the ``signal``-bar EMA of it.

    Both EMAs are ``ema``'s (SMA-seeded); the signal line is seeded with the mean of the first
    ``signal`` values of the line, so it starts at index ``slow + signal - 2``.
    """
    line = ema(close, fast) - ema(close, slow)
    return line, ema(line, signal)


def vwap(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    session: np.ndarray,
) -> np.ndarray:
    """Return the volume-weighted average of the typical price since the session's first bar.

    ``session`` labels each bar's trading session (e.g. its exchange-local date); the sums restart
    when it changes. The typical price is ``(high + low + close) / 3``. NaN while the session has
    traded no volume. Sums run per session (pandas' grouped cumulative sum), so a long history
    never makes one session's value lose precision, and a prefix gives a prefix.
    """
    import pandas as pd

    high, low, close, volume = _as_float(high), _as_float(low), _as_float(close), _as_float(volume)
    labels = pd.Series(np.asarray(session), copy=False)
    group = (labels != labels.shift()).cumsum().to_numpy()
    typical = (high + low + close) / 3.0
    pv = pd.Series(typical * volume, copy=False).groupby(group).cumsum().to_numpy(np.float64)
    vol = pd.Series(volume, copy=False).groupby(group).cumsum().to_numpy(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(vol > 0, pv / vol, np.nan)
