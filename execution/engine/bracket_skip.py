"""Skipping the bars a live bracket cannot trade on, with numpy (the engine's speed, §2).

While a position is protected by its legs and nothing else can happen (no pending decision,
no other working order, no session expiry, no volume cap, no MIS square-off, no daily-loss
limit), a bar only matters if one of its legs can fill on it. ``skip_to`` finds the first bar
that *may* touch a leg with a bound that never misses one (the trailing stop's level is taken a
tick above its exact, rounded value), so the engine steps that bar the ordinary way and jumps
over the others: cash and position are constant there and the equity curve fills them in.

What the skipped bars would have done is then applied at once: the bars are counted, and the
trailing stop is raised to the level the closes gave it, computed with the same float
operations and rounding as ``Brackets._bracket_close`` and modified once, timed at the bar
whose close last raised it, as bar-by-bar stepping leaves it. (Only the number of ``MODIFY``
events can differ: one per skipped stretch instead of one per raise.)

Most stretches are short (half end at their first bar: a 0.1 % trailing stop on one-minute
bars), where numpy's cost per call outweighs its speed per bar: the first ``SCAN`` bars are
checked one by one in plain floats, with the same IEEE operations in the same order (so the
same answer), and numpy takes the rest.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.exits import ExitRules, to_tick

# Bars checked one by one before numpy takes over: replaying the bench's 30,858 stretches,
# 16 cost 0.175 s, 128 0.122 s, plain Python throughout 0.118 s; the bound keeps a stretch of
# thousands of bars (a wide stop, no trailing) on numpy.
SCAN = 128


Views = tuple[memoryview, memoryview, memoryview]


def bar_views(bars: BarSeries) -> Views:
    """The lows, highs and closes whose items are Python floats (``_scan``'s reads), no copy."""
    return tuple(
        memoryview(np.ascontiguousarray(a, dtype=np.float64))
        for a in (bars.low, bars.high, bars.close)
    )  # type: ignore[return-value]


def skip_to(
    b: dict[str, Any],
    ex: ExitRules,
    bars: BarSeries,
    i: int,
    end: int,
    tick: float,
    views: Views | None = None,
) -> tuple[int, int | None]:
    """The first bar in ``[i, end)`` a leg may fill on (``end`` if none), and the index of
    the last close in the skipped bars that raises the trailing stop (``None`` if none).

    ``views`` is ``bar_views(bars)``, made once per run by the caller."""
    limit = ex.max_bars_in_trade
    if limit is not None:
        end = min(end, i + limit - b["bars"] - 1)  # the bar that makes it due is stepped
    if end <= i:
        return i, None
    found = _scan(b, ex, views or bar_views(bars), i, min(end, i + SCAN), end, tick)
    if found is not None:
        return found
    return _skip_numpy(b, ex, bars, i, end, tick)


def _scan(
    b: dict[str, Any], ex: ExitRules, views: Views, i: int, upto: int, end: int, tick: float
) -> tuple[int, int | None] | None:
    """``skip_to`` over ``[i, upto)`` bar by bar; ``None`` if no leg may fill there and the
    stretch goes on past ``upto`` (numpy then looks at the whole of it).

    Each float operation is ``_skip_numpy``'s on one element (numpy's float64 arithmetic and
    comparisons are IEEE's, as Python's), and the running extreme propagates a NaN as
    ``np.maximum.accumulate`` does. One loop per direction, the tests a leg that is not there
    would skip taken out of it.
    """
    long = b["long"]
    stop, target = b["stop"], b["target"]
    pct = ex.trailing_stop_pct if stop is not None else None
    lows, highs, closes = views
    if pct is None:
        # fixed legs: the first bar that reaches either
        lo_level = stop if long else target
        hi_level = target if long else stop
        for j in range(i, upto):
            if (lo_level is not None and lows[j] <= lo_level) or (
                hi_level is not None and highs[j] >= hi_level
            ):
                return j, None
        return (upto, None) if upto >= end else None
    margin = 1.001 * tick
    # the running level: (bar offset, level) where it changed; between them it is constant
    raises: list[tuple[int, float]] = []
    if long:
        factor = 1 - pct / 100
        prev = 0.0
        for k in range(upto - i):
            lo = lows[i + k]
            if lo <= stop or (target is not None and highs[i + k] >= target):
                break
            if k and lo <= prev + margin:
                break
            raw = closes[i + k] * factor
            if k == 0 or raw != raw or raw > prev:
                prev = raw
                raises.append((k, raw))
        else:
            if upto < end:
                return None
            k = upto - i
    else:
        factor = 1 + pct / 100
        prev = 0.0
        for k in range(upto - i):
            hi = highs[i + k]
            if hi >= stop or (target is not None and lows[i + k] <= target):
                break
            if k and hi >= prev - margin:
                break
            raw = closes[i + k] * factor
            if k == 0 or raw != raw or raw < prev:
                prev = raw
                raises.append((k, raw))
        else:
            if upto < end:
                return None
            k = upto - i
    if k == 0:
        return i, None
    return i + k, _last_raise_list(raises, stop, long, i, tick)


def _last_raise_list(
    raises: list[tuple[int, float]], stop: float, long: bool, i: int, tick: float
) -> int | None:
    """``_last_raise`` over the running level's changes (offset, level): the first bar whose
    level rounds to the final one. The level is constant between changes, so the first bar
    with a given level is a change."""
    final = to_tick(raises[-1][1], tick, long)
    if not ((final > stop) if long else (final < stop)):
        return None
    bound = final - 1.001 * tick if long else final + 1.001 * tick
    for k, r in raises:
        if ((r > bound) if long else (r < bound)) and to_tick(r, tick, long) == final:
            return i + k
    return None


def _skip_numpy(
    b: dict[str, Any], ex: ExitRules, bars: BarSeries, i: int, end: int, tick: float
) -> tuple[int, int | None]:
    """``skip_to`` with whole-array numpy operations (``end > i``)."""
    long = b["long"]
    lo, hi = bars.low, bars.high
    stop, target = b["stop"], b["target"]
    hit = None
    run = None
    if stop is not None:
        hit = (lo[i:end] <= stop) if long else (hi[i:end] >= stop)
        pct = ex.trailing_stop_pct
        if pct is not None:
            raw = bars.close[i:end] * ((1 - pct / 100) if long else (1 + pct / 100))
            run = np.maximum.accumulate(raw) if long else np.minimum.accumulate(raw)
            margin = 1.001 * tick  # the rounding to the tick moves a level by less
            # during bar k the level is the closes' before k, rounded: at most a tick away
            if long:
                hit[1:] |= lo[i + 1 : end] <= run[:-1] + margin
            else:
                hit[1:] |= hi[i + 1 : end] >= run[:-1] - margin
    if target is not None:
        t_hit = (hi[i:end] >= target) if long else (lo[i:end] <= target)
        hit = t_hit if hit is None else hit | t_hit
    first = end - i
    if hit is not None:
        k = int(hit.argmax())
        if hit[k]:
            first = k
    j = i + first
    if run is None or first == 0:
        return j, None
    return j, _last_raise(run[:first], stop, long, i, tick)


def _last_raise(run: np.ndarray, stop: float, long: bool, i: int, tick: float) -> int | None:
    """Index of the close that set the final trailing level (first to reach it), or None."""
    final = to_tick(float(run[-1]), tick, long)
    if not ((final > stop) if long else (final < stop)):
        return None
    # the first close whose rounding is final raised it last: a new running extreme within a
    # tick of the final level (usually one or two to check)
    near = run > final - 1.001 * tick if long else run < final + 1.001 * tick
    for k in np.flatnonzero(near):
        if to_tick(float(run[k]), tick, long) == final:
            return i + int(k)
    return None
