"""Test helpers: bars from lists or CSV, and a scripted stand-in strategy."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from execution.engine.bars import BarSeries

DATA = Path(__file__).resolve().parents[3] / "data"
T0 = 1_700_000_040  # a minute boundary


def make_bars(closes, *, t0: int = T0, step: int = 60, spread: float = 0.5, volume=1e6):
    """Bars whose open is the previous close (first: the first close) and close is given."""
    c = np.asarray(closes, dtype=np.float64)
    o = np.concatenate(([c[0]], c[:-1]))
    h = np.maximum(o, c) + spread
    lo = np.minimum(o, c) - spread
    ts = t0 + step * np.arange(len(c), dtype=np.int64)
    v = np.full(len(c), float(volume))
    return BarSeries(ts, o, h, lo, c, v)


def ohlc_bars(rows, *, t0: int = T0, step: int = 60, volume=1e6):
    """Bars from (open, high, low, close) tuples."""
    a = np.asarray(rows, dtype=np.float64).reshape(-1, 4)
    ts = t0 + step * np.arange(len(a), dtype=np.int64)
    return BarSeries(ts, a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy(),
                     np.full(len(a), float(volume)))  # fmt: skip


def load_goog() -> BarSeries:
    rows = []
    with open(DATA / "GOOG.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            day = r.get("") or r.get("Date") or next(iter(r.values()))
            ts = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
            rows.append((ts, float(r["Open"]), float(r["High"]), float(r["Low"]),
                         float(r["Close"]), float(r["Volume"])))  # fmt: skip
    return BarSeries.from_rows(rows)


class Scripted:
    """A stand-in strategy: a fixed decision at given bar indices (NaN elsewhere).

    Causal by construction: the decision at bar ``i`` does not depend on later bars.
    """

    def __init__(self, decisions: dict[int, float]):
        self.decisions = dict(decisions)

    def signals(self, bars: BarSeries, params) -> np.ndarray:
        out = np.full(len(bars), np.nan)
        for i, v in self.decisions.items():
            if i < len(bars):
                out[i] = v
        return out


class HashedDecisions:
    """Pseudo-random but causal decisions: a function of each bar's own close and time."""

    def __init__(self, every: int = 7, long_short: bool = True, seed: int = 0):
        self.every = every
        self.long_short = long_short
        self.seed = seed

    def signals(self, bars: BarSeries, params) -> np.ndarray:
        h = bars.ts // 60 * 2654435761 + self.seed * 97 + (bars.close * 100).astype(np.int64)
        h = h % 1009
        out = np.full(len(bars), np.nan)
        act = h % self.every == 0
        choices = np.array([1.0, -1.0 if self.long_short else 0.0, 0.0])
        out[act] = choices[(h[act] // self.every) % 3]
        return out


def random_bars(seed: int, n: int = 400, step: int = 3600) -> BarSeries:
    """A seeded random walk of hourly bars on a 0.01 tick, with volume."""
    rng = np.random.default_rng(seed)
    close = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    open_ = np.round(np.concatenate(([100.0], close[:-1])) * (1 + rng.normal(0, 0.003, n)), 2)
    high = np.maximum(open_, close) + np.round(rng.uniform(0, 1, n), 2)
    low = np.minimum(open_, close) - np.round(rng.uniform(0, 1, n), 2)
    vol = np.round(rng.uniform(50, 500, n))
    ts = 1_704_067_200 + step * np.arange(n, dtype=np.int64)  # 2024-01-01 00:00 UTC, hourly
    return BarSeries(ts, open_, high, low, close, vol)
