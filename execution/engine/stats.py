"""Summary statistics of a run, following backtesting.py's definitions where they are sound.

Annualisation (as backtesting.py 0.6 does it):

- returns are *daily*: the last equity of each calendar day (UTC, or shifted by
  ``day_offset_seconds``), then day-over-day changes (sample variance, ddof=1);
- a year has 252 trading days, or 365 when more than 60 % of a 2/7 share of the bars fall on a
  weekend (a 24/7 market such as the synthetic feed);
- annual return = (1 + geometric mean daily return) ** days - 1; volatility is the matching
  compounded figure ``sqrt((var + (1+g)**2) ** days - (1+g) ** (2 days))``; Sharpe is annual return
  over volatility (risk-free rate 0); Sortino divides the annual return by the downside deviation
  of daily returns times ``sqrt(days)``;
- CAGR uses calendar time: ``(final / start) ** (365.25 days / elapsed) - 1``, and is ``None``
  for a span shorter than ``MIN_CAGR_SPAN_S`` (one day): compounding a few hours' move over a
  year turns a 0.5 % loss into about -100 %, which says nothing about the strategy.

Drawdown is measured on the equity at each bar's close with the starting capital as the first
peak; its duration runs from the peak to the recovery (or the last bar), in days. Profit factor is
the sum of winning trades' returns over the sum of losing trades' returns (per-trade % returns,
like backtesting.py); win rate counts trades with positive net P&L. Exposure is the share of bars
on which a position was held at the open or at the close (backtesting.py counts entry and exit
bars both). Every value is a plain ``float``/``int`` or ``None`` when undefined (no NaN, no inf),
so the dict is JSON-safe.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from execution.engine.state import ClosedTrade

STAT_KEYS = (
    "trades",
    "final_equity",
    "total_return_pct",
    "max_drawdown_pct",
    "max_drawdown_days",
    "cagr_pct",
    "volatility_pct",
    "sharpe",
    "sortino",
    "win_rate_pct",
    "avg_win",
    "avg_loss",
    "profit_factor",
    "exposure_pct",
    "total_charges",
)

_YEAR_S = 365.25 * 86400
MIN_CAGR_SPAN_S = 86400  # shorter runs are too short to annualise: their CAGR is None


def _num(x: float | None, digits: int = 6) -> float | None:
    if x is None:
        return None
    x = float(x)
    if not math.isfinite(x):
        return None
    return round(x, digits)


def compute_stats(
    *,
    ts: np.ndarray,
    equity: np.ndarray,
    trades: Sequence[ClosedTrade],
    starting_capital: float,
    total_charges: float,
    position: np.ndarray | None = None,
    day_offset_seconds: int = 0,
) -> dict[str, Any]:
    """Return the statistics of an equity curve and its closed trades (keys: ``STAT_KEYS``)."""
    ts = np.asarray(ts, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    out: dict[str, Any] = dict.fromkeys(STAT_KEYS)
    out["trades"] = len(trades)
    out["total_charges"] = _num(total_charges, 2)
    if len(eq) == 0 or not starting_capital > 0:
        return out
    final = float(eq[-1])
    out["final_equity"] = _num(final, 2)
    out["total_return_pct"] = _num((final - starting_capital) / starting_capital * 100.0)

    # drawdown, with the starting capital as the first peak
    peak = np.maximum.accumulate(np.concatenate(([starting_capital], eq)))[1:]
    dd = 1.0 - eq / peak
    out["max_drawdown_pct"] = _num(-float(dd.max()) * 100.0) if len(dd) else None
    out["max_drawdown_days"] = _num(_max_dd_days(ts, dd), 4)

    elapsed = float(ts[-1] - ts[0]) if len(ts) > 1 else 0.0
    if elapsed >= MIN_CAGR_SPAN_S and final > 0:
        out["cagr_pct"] = _num(((final / starting_capital) ** (_YEAR_S / elapsed) - 1) * 100.0)

    vol, sharpe, sortino = _risk_ratios(ts, eq, day_offset_seconds)
    out["volatility_pct"] = _num(vol)
    out["sharpe"] = _num(sharpe)
    out["sortino"] = _num(sortino)

    if trades:
        pnl = np.array([t.pnl for t in trades])
        rets = np.array([t.return_pct for t in trades])
        wins = pnl[pnl > 0]
        losses = pnl[pnl < 0]
        out["win_rate_pct"] = _num(len(wins) / len(pnl) * 100.0)
        out["avg_win"] = _num(wins.mean(), 2) if len(wins) else None
        out["avg_loss"] = _num(losses.mean(), 2) if len(losses) else None
        neg = abs(rets[rets < 0].sum())
        out["profit_factor"] = _num(rets[rets > 0].sum() / neg) if neg > 0 else None

    if position is not None and len(position):
        pos = np.asarray(position) != 0
        held = pos.copy()
        held[1:] |= pos[:-1]
        out["exposure_pct"] = _num(held.mean() * 100.0)
    return out


def _max_dd_days(ts: np.ndarray, dd: np.ndarray) -> float:
    """Longest time from an equity peak to its recovery (or to the last bar), in days."""
    if len(dd) == 0 or not (dd > 0).any():
        return 0.0
    at_peak = np.flatnonzero(dd <= 0)
    # the peaks and the last bar, sorted and distinct (``at_peak`` is already sorted)
    last = len(dd) - 1
    ends = at_peak if len(at_peak) and at_peak[-1] == last else np.append(at_peak, last)
    if len(at_peak) == 0 or at_peak[0] > 0:
        starts_ts = ts[0]  # underwater from the first bar: measure from it
        best = float(ts[ends[0]] - starts_ts)
    else:
        best = 0.0
    gaps = np.diff(ends)
    mask = gaps > 1
    if mask.any():
        best = max(best, float((ts[ends[1:][mask]] - ts[ends[:-1][mask]]).max()))
    return best / 86400.0


def _risk_ratios(
    ts: np.ndarray, eq: np.ndarray, day_offset_seconds: int
) -> tuple[float | None, float | None, float | None]:
    days = (ts + day_offset_seconds) // 86400
    if len(days) < 2:
        return None, None, None
    last_of_day = np.flatnonzero(days[1:] != days[:-1])
    daily = np.concatenate((eq[last_of_day], eq[-1:]))
    if len(daily) < 2 or (daily <= 0).any():
        return None, None, None
    rets = daily[1:] / daily[:-1] - 1.0
    g = math.exp(np.log1p(rets).sum() / len(rets)) - 1.0  # geometric mean daily return
    # the share of bars on a Saturday or Sunday, counted per run of bars of one day
    first = np.concatenate(([0], last_of_day + 1))
    weekday = (days[first] + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    bars_of_day = np.diff(first, append=len(days))
    weekend_share = int(bars_of_day[weekday >= 5].sum()) / len(days)
    year = 365.0 if weekend_share > 2 / 7 * 0.6 else 252.0
    annual = (1 + g) ** year - 1
    var = float(rets.var(ddof=1)) if len(rets) > 1 else float("nan")
    vol = math.sqrt(max((var + (1 + g) ** 2) ** year - (1 + g) ** (2 * year), 0.0)) * 100.0
    sharpe = (annual * 100.0) / vol if vol > 0 else None
    downside = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2))) * math.sqrt(year)
    sortino = annual / downside if downside > 0 else None
    return vol, sharpe, sortino
