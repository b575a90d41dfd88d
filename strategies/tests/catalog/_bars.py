"""Bar builders shared by the catalogue tests."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from execution.engine.bars import BarSeries


def bars_from_closes(closes: Sequence[float], spread: float = 0.0, interval: int = 60) -> BarSeries:
    """Return bars whose close is ``closes``, open = previous close, high/low = close ± spread."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.concatenate((close[:1], close[:-1]))
    return BarSeries(
        ts=np.arange(len(close), dtype=np.int64) * interval,
        open=open_,
        high=np.maximum(open_, close) + spread,
        low=np.minimum(open_, close) - spread,
        close=close,
        volume=np.full(len(close), 100.0),
    )


def decisions(signal: np.ndarray) -> dict[int, float]:
    """Return ``{bar index: decision}`` for every bar with a decision (not NaN)."""
    return {int(i): float(signal[i]) for i in np.flatnonzero(~np.isnan(signal))}
