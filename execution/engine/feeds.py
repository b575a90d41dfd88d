"""The synthetic market: a seeded random walk whose bar at any time is a pure function.

Every worker must compute the same bar for the same instrument and time with no shared state, and
a bar far in the future must not cost a walk from some origin (ARCHITECTURE §6). So the log-price
is not a cumulative sum but a *multi-resolution* sum: at each level ``k`` there are knots every
``4**k`` seconds (1 s up to ~8.5 years) carrying a random value from a counter-based hash of
``(instrument, seed, level, knot index)``; the path at time ``t`` is the sum over levels of the
linear interpolation between the two knots around ``t``, with knot values scaled by
``sqrt(4**k)``. Differences over ``Δ`` seconds then have variance roughly proportional to ``Δ`` at
every scale (a random walk), while the level itself stays within a band around ``base_price``
over decades (levels stop at ~8.5 years). Evaluating one time costs 15 levels x 2 hashes: O(1).

The path is a function of absolute time only, so bars of different intervals agree where their
boundaries coincide (a 5-minute bar opens where its first 1-minute bar opens). A bar's open and
close are the path at its open and close times, so consecutive bars connect exactly; its high and
low are drawn from the exact distribution of a Brownian bridge's maximum/minimum between them,
using a per-bar hash. Prices are rounded to the tick; volume is positive and rises with the move.

The hash is splitmix64 on numpy uint64 (wrap-around arithmetic), keyed by a blake2b digest of the
instrument key and seed — never Python's per-process randomised ``hash()``.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import NamedTuple

import numpy as np

from execution.engine.bars import BarSeries

__all__ = ["SyntheticBar", "synthetic_bar_at", "synthetic_bars"]

_BASE = 4
_LEVELS = 15  # knot spacings 4**0 .. 4**14 seconds: 1 s .. ~8.5 years
_SPACINGS = [_BASE**k for k in range(_LEVELS)]
# Makes the variance of a path increment over Δ seconds ≈ Δ sigma². Measured for this
# construction: the raw variance is ~2.05 Δ from Δ = 10 s to 30 days (2.7 Δ at 1 s; it falls
# off beyond ~60 days, where the walk starts to revert to its band), so scale by 1/sqrt(2.05).
_CALIBRATION = 0.70
_SECONDS_PER_YEAR = 365 * 86_400
_MAX_BARS = 20_000_000

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)


class SyntheticBar(NamedTuple):
    """One synthetic bar: open time (epoch seconds, UTC), OHLC prices and volume."""

    ts: int
    open: float
    high: float
    low: float
    close: float
    volume: float


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: a bijective, well-avalanched uint64 → uint64 mix."""
    z = (z ^ (z >> np.uint64(30))) * _MUL1
    z = (z ^ (z >> np.uint64(27))) * _MUL2
    return z ^ (z >> np.uint64(31))


def _stream(salt: int, counter: np.ndarray) -> np.ndarray:
    """Return the ``counter``-th outputs of the splitmix64 stream keyed by ``salt``."""
    with np.errstate(over="ignore"):
        return _mix(np.uint64(salt) + counter.astype(np.int64).view(np.uint64) * _GOLDEN)


def _normal(bits: np.ndarray) -> np.ndarray:
    """Approximately standard normal values from 64 random bits (sum of four 16-bit uniforms).

    Irwin-Hall(4) is bell-shaped with bounded tails, is far cheaper than Box-Muller, and summing
    15 levels of it makes the path's increments Gaussian to the eye anyway.
    """
    mask = np.uint64(0xFFFF)
    total = (
        (bits & mask)
        + ((bits >> np.uint64(16)) & mask)
        + ((bits >> np.uint64(32)) & mask)
        + (bits >> np.uint64(48))
    )
    return (total.astype(np.float64) - 131_070.0) * (np.sqrt(3.0) / 65_536.0)


def _uniform(bits: np.ndarray) -> np.ndarray:
    """Uniform values in the open interval (0, 1) from the low 32 bits."""
    return ((bits & np.uint64(0xFFFFFFFF)).astype(np.float64) + 0.5) / 4_294_967_296.0


class _Instrument(NamedTuple):
    level_salts: tuple[int, ...]
    bar_salt: int
    volume_salt: int
    sigma_per_sqrt_s: float  # log-price volatility per sqrt(second)
    volume_per_minute: float


def _instrument(instrument_key: str, seed: int) -> _Instrument:
    """Derive the instrument's stream salts and its own volatility and typical volume."""
    digest = hashlib.blake2b(
        f"{int(seed)}\x00{instrument_key}".encode(), digest_size=8, person=b"algosaas-feed"
    ).digest()
    root = int.from_bytes(digest, "little")
    derived = _stream(root, np.arange(_LEVELS + 4)).tolist()
    annual_vol = 0.20 + 0.25 * (derived[_LEVELS + 2] >> 11) / 2.0**53  # 20%..45% a year
    volume = 500.0 * 10.0 ** ((derived[_LEVELS + 3] >> 11) / 2.0**53)  # 500..5,000 a minute
    return _Instrument(
        level_salts=tuple(derived[:_LEVELS]),
        bar_salt=derived[_LEVELS],
        volume_salt=derived[_LEVELS + 1],
        sigma_per_sqrt_s=annual_vol / np.sqrt(_SECONDS_PER_YEAR),
        volume_per_minute=volume,
    )


def _log_path(inst: _Instrument, t: np.ndarray) -> np.ndarray:
    """Return the un-scaled log-price path at the sorted int64 times ``t``.

    Spacings are powers of two, so ``(t - origin) / spacing`` and its fractional part are exact
    in float64: each level's value depends only on ``t`` and the two knots around it, with the
    same float operations whichever branch runs, so any subset of times (a long range or a single
    bar) gives bit-identical values.
    """
    total = np.zeros(len(t))
    if len(t) == 0:
        return total
    t_min, t_max = int(t[0]), int(t[-1])
    rel = (t - t_min).astype(np.float64)  # exact: ranges are far below 2**53 seconds
    for salt, spacing in zip(inst.level_salts, _SPACINGS, strict=True):
        first = t_min // spacing
        count = t_max // spacing - first + 2
        # Position in knots from knot ``first``: exact (power-of-two spacing).
        x = rel * (1.0 / spacing) + (t_min - first * spacing) * (1.0 / spacing)
        if count <= len(t):  # coarse level: hash each knot in range once, then interpolate
            values = _normal(_stream(salt, np.arange(first, first + count, dtype=np.int64)))
            # np.interp at unit-spaced knots computes (z1 - z0) * frac + z0, like the branch below.
            level = np.interp(x, np.arange(count, dtype=np.float64), values)
        else:  # fine level: more knots than points, so hash the two knots of each point
            below = np.floor(x)
            knot = below.astype(np.int64) + first
            frac = x - below
            z0 = _normal(_stream(salt, knot))
            level = z0  # if every point sits on a knot, (z1 - z0) * 0 + z0 is z0 exactly
            if frac.any():
                level = (_normal(_stream(salt, knot + 1)) - z0) * frac + z0
        total += np.sqrt(float(spacing)) * level
    return total


def _tick_grid(tick_size: float) -> tuple[int, float]:
    """Return ``(m, 10**d)`` with ``tick_size == m / 10**d`` exactly in decimal (0.05 → 5, 100)."""
    tick = Decimal(repr(float(tick_size))).normalize()
    exponent = int(tick.as_tuple().exponent)
    scale = 10 ** max(0, -exponent)
    return int(tick * scale), float(scale)


def synthetic_bars(
    *,
    instrument_key: str,
    interval_s: int,
    start_ts: int,
    end_ts: int,
    base_price: float = 1000.0,
    tick_size: float = 0.05,
    seed: int = 0,
) -> BarSeries:
    """Return the synthetic bars whose open time is in ``[start_ts, end_ts)``.

    Bars open at multiples of ``interval_s`` (epoch seconds, UTC). Each bar is a pure function of
    ``(instrument_key, seed, interval_s, bar open time)`` (and the price scale), so any worker, and
    any range containing the bar, computes exactly the same values. Prices are the float nearest
    to a multiple of ``tick_size`` (so ``Decimal(repr(p))`` is on the tick grid).
    """
    if isinstance(interval_s, bool) or int(interval_s) != interval_s or interval_s < 1:
        raise ValueError(f"interval_s must be a positive integer, got {interval_s!r}")
    if not (base_price > 0 and tick_size > 0):
        raise ValueError("base_price and tick_size must be positive")
    interval = int(interval_s)
    first = -(-int(start_ts) // interval) * interval
    count = max(0, -(-(int(end_ts) - first) // interval))
    if count > _MAX_BARS:
        raise ValueError(f"{count} bars requested; at most {_MAX_BARS} per call")
    if count == 0:
        return BarSeries.empty()
    inst = _instrument(instrument_key, seed)
    scale = _CALIBRATION * inst.sigma_per_sqrt_s

    # Path at every bar boundary: bar i opens at edges[i] and closes at edges[i + 1].
    edges = first + interval * np.arange(count + 1, dtype=np.int64)
    log_price = _log_path(inst, edges)
    log_price *= scale
    a, b = log_price[:-1], log_price[1:]
    ts = edges[:-1]

    # High/low: the max/min of a Brownian bridge from a to b with variance ``var`` over the bar:
    # P(max >= m) = exp(-2 (m - a)(m - b) / var), inverted at a hashed uniform (same for min).
    bar_counter = ts // interval
    var = scale * scale * interval
    bits = _stream(inst.bar_salt ^ interval, bar_counter)
    move2 = np.square(b - a)
    mid = a + b
    high_log = np.log(_uniform(bits))
    high_log *= -2.0 * var
    high_log += move2
    np.sqrt(high_log, out=high_log)
    low_log = np.log(_uniform(bits >> np.uint64(32)))
    low_log *= -2.0 * var
    low_log += move2
    np.sqrt(low_log, out=low_log)
    np.subtract(mid, low_log, out=low_log)
    high_log += mid
    high_log *= 0.5
    low_log *= 0.5

    # Round to the tick: (whole ticks * m) / 10**d is the float nearest the decimal price.
    m, tenths = _tick_grid(tick_size)
    per_tick = base_price / tick_size
    min_price = m / tenths

    def to_price(x: np.ndarray) -> np.ndarray:
        p = np.exp(x)
        p *= per_tick
        np.rint(p, out=p)
        p *= m
        p /= tenths
        return p

    boundary = np.maximum(to_price(log_price), min_price)
    open_, close = boundary[:-1], boundary[1:]
    high = np.maximum(to_price(high_log), np.maximum(open_, close))
    low = np.minimum(to_price(low_log), np.minimum(open_, close))
    np.maximum(low, min_price, out=low)

    # Volume: typical size for the interval, lognormal noise, and more on bigger moves.
    noise = _normal(_stream(inst.volume_salt ^ interval, bar_counter))
    noise *= 0.5
    noise -= 0.125
    volume = np.exp(noise)
    volume *= inst.volume_per_minute * interval / 60.0
    volume *= 1.0 + np.sqrt(move2 / var)
    np.rint(volume, out=volume)
    np.maximum(volume, 1.0, out=volume)
    return BarSeries(ts=ts, open=open_, high=high, low=low, close=close, volume=volume)


def synthetic_bar_at(
    *,
    instrument_key: str,
    interval_s: int,
    ts: int,
    base_price: float = 1000.0,
    tick_size: float = 0.05,
    seed: int = 0,
) -> SyntheticBar:
    """Return the synthetic bar containing time ``ts`` (it opens at ``ts`` floored to the interval).

    O(1) whatever ``ts`` is; identical to that bar inside any ``synthetic_bars`` range.
    """
    interval = int(interval_s)
    if interval < 1:
        raise ValueError(f"interval_s must be a positive integer, got {interval_s!r}")
    opened = int(ts) // interval * interval
    bars = synthetic_bars(
        instrument_key=instrument_key,
        interval_s=interval,
        start_ts=opened,
        end_ts=opened + interval,
        base_price=base_price,
        tick_size=tick_size,
        seed=seed,
    )
    return SyntheticBar(
        ts=int(bars.ts[0]),
        open=float(bars.open[0]),
        high=float(bars.high[0]),
        low=float(bars.low[0]),
        close=float(bars.close[0]),
        volume=float(bars.volume[0]),
    )
