"""Monte Carlo of a backtest's trades: is the result the order of the trades, or the trades?

Pure numpy, no Django. The trade P&Ls are resampled ``paths`` times: ``shuffle`` (the same
trades in a random order: final equity never changes, the drawdowns do) or ``bootstrap`` (drawn
with replacement: both change). Each path is an equity curve of closed trades, starting at the
capital; the report is the percentiles of final equity and max drawdown over the paths, and the
share of paths whose equity ever fell below the ruin level.

``bootstrap_returns`` resamples the equity curve's bar-to-bar returns instead (drawn with
replacement and compounded from the capital): it keeps the time in the market and the size of
each move, not the trades, so it also speaks for a strategy with few trades. Its equity is in
floats (a compounded product has no exact paisa); the same seed gives the same paths.

Money is counted in integer paise (cents) so that a shuffle's sums are exact: the final equity
of every shuffled path is the capital plus the sum of the P&Ls, to the paisa, not to within a
float's rounding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

TRADE_METHODS = ("shuffle", "bootstrap")
RETURNS_METHOD = "bootstrap_returns"
METHODS = (*TRADE_METHODS, RETURNS_METHOD)
PERCENTILES = (5, 25, 50, 75, 95)
# cells (paths x trades) resampled per numpy batch: ~8 MB per int64 array whatever the size
BATCH_CELLS = 1_000_000
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class Paths:
    """Per path: final equity and max drawdown (percent, positive) and whether it ruined."""

    final_equity: np.ndarray
    max_drawdown_pct: np.ndarray
    ruined: np.ndarray


def to_paise(values: Sequence[Decimal | float | int]) -> np.ndarray:
    """Money amounts as int64 paise (rounded half away from zero, as the database rounds)."""
    return np.asarray([int((Decimal(str(v)) * 100).to_integral_value()) for v in values], np.int64)


def _resample(pnl: np.ndarray, rng: np.random.Generator, rows: int, method: str) -> np.ndarray:
    n = len(pnl)
    if method == "shuffle":
        return rng.permuted(np.broadcast_to(pnl, (rows, n)), axis=1)
    return pnl[rng.integers(0, n, size=(rows, n))]


def simulate(
    *,
    pnl_paise: np.ndarray,
    capital_paise: int,
    paths: int,
    seed: int,
    method: str,
    ruin_paise: int,
) -> Paths:
    """Resample the trade P&Ls ``paths`` times and measure each path (vectorised per batch).

    A path is ruined when its equity, after any trade, is below ``ruin_paise``. The same seed,
    method and inputs give the same paths.
    """
    if method not in TRADE_METHODS:
        raise ValueError(f"unknown method {method!r}")
    pnl = np.asarray(pnl_paise, dtype=np.int64)
    rng = np.random.default_rng(seed)
    finals, dds, ruins = [], [], []
    batch = max(1, BATCH_CELLS // max(1, len(pnl)))  # depends on the inputs only: reproducible
    for first in range(0, paths, batch):
        rows = min(batch, paths - first)
        if len(pnl) == 0:
            equity = np.full((rows, 1), capital_paise, dtype=np.int64)
        else:
            equity = capital_paise + np.cumsum(_resample(pnl, rng, rows, method), axis=1)
        start = np.full((rows, 1), capital_paise, dtype=np.int64)
        peak = np.maximum.accumulate(np.concatenate((start, equity), axis=1), axis=1)[:, 1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            # a fall below zero is the whole account: drawdown is capped at 100 %
            dd = np.where(peak > 0, np.minimum((peak - equity) / peak, 1.0), 1.0)
        finals.append(equity[:, -1])
        dds.append(dd.max(axis=1) * 100.0)
        ruins.append(equity.min(axis=1) < ruin_paise)
    return Paths(
        final_equity=np.concatenate(finals) / 100.0,
        max_drawdown_pct=np.concatenate(dds),
        ruined=np.concatenate(ruins),
    )


def bar_returns(equity: Sequence[Decimal | float]) -> np.ndarray:
    """The simple returns between consecutive equity points (none from a single point)."""
    values = np.asarray([float(e) for e in equity], dtype=np.float64)
    if len(values) < 2:
        return np.zeros(0, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(values[:-1] > 0, values[1:] / values[:-1] - 1.0, 0.0)
    return returns


def simulate_returns(
    *, returns: np.ndarray, capital: float, paths: int, seed: int, ruin_equity: float
) -> Paths:
    """Bootstrap ``returns`` (with replacement, as many as there are) ``paths`` times and
    compound each path from ``capital``; a path ruins when its equity falls below
    ``ruin_equity`` after any bar. The same seed and inputs give the same paths."""
    returns = np.asarray(returns, dtype=np.float64)
    n = len(returns)
    rng = np.random.default_rng(seed)
    finals, dds, ruins = [], [], []
    batch = max(1, BATCH_CELLS // max(1, n))
    for first in range(0, paths, batch):
        rows = min(batch, paths - first)
        if n == 0:
            equity = np.full((rows, 1), capital, dtype=np.float64)
        else:
            # a return below -100 % cannot be compounded: the account is gone, not negative
            growth = np.maximum(1.0 + returns[rng.integers(0, n, size=(rows, n))], 0.0)
            equity = capital * np.cumprod(growth, axis=1)
        start = np.full((rows, 1), capital, dtype=np.float64)
        peak = np.maximum.accumulate(np.concatenate((start, equity), axis=1), axis=1)[:, 1:]
        with np.errstate(divide="ignore", invalid="ignore"):
            dd = np.where(peak > 0, np.minimum((peak - equity) / peak, 1.0), 1.0)
        finals.append(equity[:, -1])
        dds.append(dd.max(axis=1) * 100.0)
        ruins.append(equity.min(axis=1) < ruin_equity)
    return Paths(
        final_equity=np.concatenate(finals),
        max_drawdown_pct=np.concatenate(dds),
        ruined=np.concatenate(ruins),
    )


def monte_carlo_returns(
    *,
    equity: Sequence[Decimal | float],
    capital: Decimal | float,
    paths: int,
    seed: int,
    ruin_equity_pct: float = 50.0,
) -> dict[str, Any]:
    """The report of a bootstrap of the equity curve's bar returns (the trades' report shape,
    with ``bars`` instead of ``trades``)."""
    start = float(capital)
    ruin = start * ruin_equity_pct / 100.0
    returns = bar_returns(equity)
    result = simulate_returns(
        returns=returns, capital=start, paths=paths, seed=seed, ruin_equity=ruin
    )
    original = start * float(np.prod(1.0 + returns)) if len(returns) else start
    return {
        "method": RETURNS_METHOD,
        "paths": paths,
        "seed": seed,
        "bars": len(returns),
        "capital": start,
        "ruin_equity": round(ruin, 2),
        "original_final_equity": round(original, 2),
        "final_equity": _percentiles(result.final_equity),
        "max_drawdown_pct": _percentiles(result.max_drawdown_pct),
        "probability_of_ruin": float(result.ruined.mean()),
        "final_equity_histogram": _histogram(result.final_equity),
        "max_drawdown_histogram": _histogram(result.max_drawdown_pct),
    }


def _percentiles(values: np.ndarray) -> dict[str, float]:
    cut = np.percentile(values, PERCENTILES)
    return {f"p{p}": round(float(v), 4) for p, v in zip(PERCENTILES, cut, strict=True)}


def _histogram(values: np.ndarray) -> dict[str, list[float]]:
    low, high = float(values.min()), float(values.max())
    # paths equal up to float noise (compounded returns): one value's bins, not numpy's error
    span = None if high - low > 1e-9 * max(1.0, abs(high)) else (low - 0.5, high + 0.5)
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS, range=span)
    return {"edges": [round(float(e), 2) for e in edges], "counts": [int(c) for c in counts]}


def monte_carlo(
    *,
    pnl: Sequence[Decimal | float | int],
    capital: Decimal | float,
    paths: int,
    seed: int,
    method: str = "shuffle",
    ruin_equity_pct: float = 50.0,
) -> dict[str, Any]:
    """The report: percentiles of final equity and max drawdown, and the probability of ruin.

    ``ruin_equity_pct``: ruin is the equity falling below this percentage of the capital.
    """
    capital_paise = int(to_paise([capital])[0])
    ruin_paise = int(np.floor(capital_paise * ruin_equity_pct / 100.0))
    pnl_paise = to_paise(pnl)
    result = simulate(
        pnl_paise=pnl_paise,
        capital_paise=capital_paise,
        paths=paths,
        seed=seed,
        method=method,
        ruin_paise=ruin_paise,
    )
    return {
        "method": method,
        "paths": paths,
        "seed": seed,
        "trades": len(pnl_paise),
        "capital": capital_paise / 100.0,
        "ruin_equity": ruin_paise / 100.0,
        "original_final_equity": (capital_paise + int(pnl_paise.sum())) / 100.0,
        "final_equity": _percentiles(result.final_equity),
        "max_drawdown_pct": _percentiles(result.max_drawdown_pct),
        "probability_of_ruin": float(result.ruined.mean()),
        "final_equity_histogram": _histogram(result.final_equity),
        "max_drawdown_histogram": _histogram(result.max_drawdown_pct),
    }
