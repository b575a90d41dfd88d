"""OHLCV bars as numpy arrays: the only market-data shape the engine and the catalogue see."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class BarSeries:
    """Bars of one instrument and timeframe, oldest first.

    ``ts`` holds each bar's *open* time as int64 seconds since the epoch (UTC); a bar closes at
    ``ts + interval``. Prices and volume are float64: inside the engine floats are fine, money is
    rounded to the instrument's tick and to paise at the database boundary (ARCHITECTURE §2).
    """

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ts)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} has {len(getattr(self, name))} values, ts has {n}")

    def __len__(self) -> int:
        return len(self.ts)

    def slice(self, start: int, stop: int | None = None) -> BarSeries:
        """Return bars ``[start:stop]`` as views, without copying."""
        s = slice(start, stop)
        return BarSeries(
            self.ts[s], self.open[s], self.high[s], self.low[s], self.close[s], self.volume[s]
        )

    @classmethod
    def from_rows(cls, rows: Iterable[Sequence[float]]) -> BarSeries:
        """Build from ``(ts, open, high, low, close, volume)`` tuples."""
        arr = np.asarray(list(rows), dtype=np.float64).reshape(-1, 6)
        return cls(
            ts=arr[:, 0].astype(np.int64),
            open=np.ascontiguousarray(arr[:, 1]),
            high=np.ascontiguousarray(arr[:, 2]),
            low=np.ascontiguousarray(arr[:, 3]),
            close=np.ascontiguousarray(arr[:, 4]),
            volume=np.ascontiguousarray(arr[:, 5]),
        )

    @classmethod
    def empty(cls) -> BarSeries:
        z = np.zeros(0, dtype=np.float64)
        return cls(np.zeros(0, dtype=np.int64), z, z, z, z, z)
