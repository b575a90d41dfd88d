"""Summary statistics of a run, following backtesting.py's definitions where they are sound.

Annualisation of daily bars (as backtesting.py 0.6 does it):

- returns are *daily*: the last equity of each calendar day (UTC, or shifted by
  ``day_offset_seconds``), then day-over-day changes (sample variance, ddof=1);
- a year has 252 trading days, or 365 when more than 60 % of a 2/7 share of the bars fall on a
  weekend (a 24/7 market such as the synthetic feed);
- annual return = (1 + geometric mean daily return) ** days - 1; volatility is the matching
  compounded figure ``sqrt((var + (1+g)**2) ** days - (1+g) ** (2 days))``; Sharpe is annual
  return over volatility (risk-free rate 0); Sortino divides the annual return by the downside
  deviation of daily returns times ``sqrt(days)``;
- CAGR uses calendar time: ``(final / start) ** (365.25 days / elapsed) - 1``, and is ``None``
  for a span shorter than ``MIN_CAGR_SPAN_S`` (30 days): compounding a few days' move over a
  year turns a 3 % loss into about -100 %, which says nothing about the strategy.

Intraday bars (bars closer together than ``INTRADAY_SPACING_S``) are annualised from their own
returns at their own frequency, not from a handful of daily ones: bar returns, ``periods`` = bars
in a typical day (the median over the run's days) times the days of a year; volatility =
``std * sqrt(periods)``, Sharpe = ``mean / std * sqrt(periods)``, Sortino = ``mean * periods /
(downside deviation * sqrt(periods))``.

A ratio needs a denominator that means something. Volatility, Sharpe and Sortino are ``None``,
with the reason under ``notes`` (as for CAGR), when the run spans less than a day, has fewer than
``MIN_DAILY_RETURNS`` daily returns (daily bars) or ``MIN_BAR_RETURNS`` bar returns (intraday),
or when the annualised volatility is below ``MIN_VOLATILITY_PCT`` (Sharpe and Sortino only):
dividing by a denominator that is almost zero is how 3.5 days of 1-minute bars once showed a
Sharpe of -1.9e16.

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
MIN_CAGR_SPAN_S = 30 * 86400  # shorter runs are too short to compound: their CAGR is None
MIN_RATIO_SPAN_S = 86400  # shorter runs have no volatility, Sharpe or Sortino
MIN_DAILY_RETURNS = 20  # about a trading month of daily returns before a ratio means anything
MIN_BAR_RETURNS = 30
MIN_VOLATILITY_PCT = 0.01  # annualised; below it Sharpe and Sortino divide by rounding noise
INTRADAY_SPACING_S = 6 * 3600  # median bar spacing below this: annualise from bar returns
RATIO_KEYS = ("volatility_pct", "sharpe", "sortino")


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
    """Return the statistics of an equity curve and its closed trades (``STAT_KEYS``), and under
    ``notes`` the reason for each figure left ``None`` that a reader would expect."""
    ts = np.asarray(ts, dtype=np.int64)
    eq = np.asarray(equity, dtype=np.float64)
    out: dict[str, Any] = dict.fromkeys(STAT_KEYS)  # the figures, then ``notes`` on them
    out["trades"] = len(trades)
    out["total_charges"] = _num(total_charges, 2)
    out["notes"] = {}
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
    notes: dict[str, str] = {}
    if elapsed >= MIN_CAGR_SPAN_S and final > 0:
        out["cagr_pct"] = _num(((final / starting_capital) ** (_YEAR_S / elapsed) - 1) * 100.0)
    elif final > 0:
        notes["cagr_pct"] = (
            f"The run spans {elapsed / 86400:.1f} days; compounding it over a year needs "
            f"{MIN_CAGR_SPAN_S // 86400}."
        )

    ratios, why = _risk_ratios(ts, eq, day_offset_seconds, elapsed)
    for key, value in zip(RATIO_KEYS, ratios, strict=True):
        out[key] = _num(value)
        if value is None and why.get(key):
            notes[key] = why[key]
    out["notes"] = notes

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


_Ratios = tuple[float | None, float | None, float | None]


def _undefined(why: str) -> tuple[_Ratios, dict[str, str]]:
    return (None, None, None), dict.fromkeys(RATIO_KEYS, why)


def _risk_ratios(
    ts: np.ndarray, eq: np.ndarray, day_offset_seconds: int, elapsed: float
) -> tuple[_Ratios, dict[str, str]]:
    """Volatility, Sharpe and Sortino, or ``None`` for each with the reason (by key) why not."""
    if elapsed < MIN_RATIO_SPAN_S:
        return _undefined("The run spans less than a day: too short to annualise.")
    if (eq <= 0).any():
        return _undefined("Equity reached zero: returns are undefined after it.")
    days = (ts + day_offset_seconds) // 86400
    last_of_day = np.flatnonzero(days[1:] != days[:-1])
    first = np.concatenate(([0], last_of_day + 1))
    # the share of bars on a Saturday or Sunday, counted per run of bars of one day
    weekday = (days[first] + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    bars_of_day = np.diff(first, append=len(days))
    weekend_share = int(bars_of_day[weekday >= 5].sum()) / len(days)
    year = 365.0 if weekend_share > 2 / 7 * 0.6 else 252.0
    if float(np.median(np.diff(ts))) < INTRADAY_SPACING_S:
        return _intraday_ratios(eq, periods=float(np.median(bars_of_day)) * year)
    daily = np.concatenate((eq[last_of_day], eq[-1:]))
    rets = daily[1:] / daily[:-1] - 1.0
    if len(rets) < MIN_DAILY_RETURNS:
        return _undefined(
            f"Needs at least {MIN_DAILY_RETURNS} daily returns; this run has {len(rets)}."
        )
    g = math.exp(np.log1p(rets).sum() / len(rets)) - 1.0  # geometric mean daily return
    annual = (1 + g) ** year - 1
    var = float(rets.var(ddof=1))
    vol = math.sqrt(max((var + (1 + g) ** 2) ** year - (1 + g) ** (2 * year), 0.0)) * 100.0
    downside = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2))) * math.sqrt(year)
    return _guarded(
        vol, annual * 100.0 / vol if vol else None, annual / downside if downside else None
    )


def _intraday_ratios(eq: np.ndarray, *, periods: float) -> tuple[_Ratios, dict[str, str]]:
    rets = eq[1:] / eq[:-1] - 1.0
    if len(rets) < MIN_BAR_RETURNS:
        return _undefined(
            f"Needs at least {MIN_BAR_RETURNS} bar returns; this run has {len(rets)}."
        )
    mean = float(rets.mean())
    std = float(rets.std(ddof=1))
    vol = std * math.sqrt(periods) * 100.0
    downside = math.sqrt(float(np.mean(np.minimum(rets, 0.0) ** 2)))
    sharpe = mean / std * math.sqrt(periods) if std else None
    sortino = mean * math.sqrt(periods) / downside if downside else None
    return _guarded(vol, sharpe, sortino)


def _guarded(
    vol: float, sharpe: float | None, sortino: float | None
) -> tuple[_Ratios, dict[str, str]]:
    if not vol >= MIN_VOLATILITY_PCT:
        why = f"Volatility below {MIN_VOLATILITY_PCT} % a year: a ratio over it means nothing."
        return (vol, None, None), {"sharpe": why, "sortino": why}
    if sortino is None:
        return (vol, sharpe, None), {"sortino": "No losing period: no downside to divide by."}
    return (vol, sharpe, sortino), {}
