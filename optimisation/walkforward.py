"""Walk-forward analysis: optimise on the past, test the winner on what follows, step on.

No Django models. The bars (a ``markets.Market``: one instrument's, or a basket's members on
their common timeline) are cut into one in-sample stretch followed by ``windows`` out-of-sample
ones that partition the rest of the range. For window *i* the parameter sets are run over its
in-sample bars only (``runner.run_chunk``, the sweep's own inner loop, indicators memoised), the
best is run over its out-of-sample bars, and the next window starts with the equity that one
ended with: the stitched out-of-sample curve is the concatenation of those single backtests.

Boundaries, with ``n`` bars (a basket's timeline points), ``k = in_sample_ratio``, ``w = windows``:
``oos = n // (w + k)`` bars per out-of-sample window, ``is_len = n - w * oos`` (≥ k·oos); window
*i* tests ``[is_len + i·oos, is_len + (i+1)·oos)``; in-sample is ``[0, start)`` when anchored,
else the ``is_len`` bars before ``start`` (rolling). The last window ends at the last bar.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.config import EngineConfig
from optimisation.markets import InstrumentMarket, Market, Single, run_single
from optimisation.objectives import objective_value
from optimisation.runner import run_chunk

__all__ = [
    "MODES",
    "Single",
    "WindowsInvalid",
    "plan_windows",
    "run_single",
    "stitch",
    "walk_forward",
    "window_step",
    "winner",
]

MODES = ("rolling", "anchored")
# below this many bars an out-of-sample test says nothing (and indicators never warm up)
MIN_WINDOW_BARS = 2
# objectives that grow with the length of a run: their ratio is also given per bar
PER_BAR_OBJECTIVES = ("return", "return_max_dd")


class WindowsInvalid(ValueError):
    """The range is too short for the windows asked."""


@dataclass(frozen=True)
class Window:
    """Bar index ranges, half-open: in-sample ``[is_start, is_stop)``, out-of-sample after."""

    index: int
    is_start: int
    is_stop: int
    oos_start: int
    oos_stop: int


def plan_windows(n: int, *, windows: int, in_sample_ratio: float, mode: str) -> list[Window]:
    """The windows over ``n`` bars (module docstring); ``WindowsInvalid`` if they cannot fit."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}")
    oos = int(n // (windows + in_sample_ratio))
    if oos < MIN_WINDOW_BARS:
        raise WindowsInvalid(
            f"{n:,} bars cannot hold {windows} out-of-sample windows of at least "
            f"{MIN_WINDOW_BARS} bars after an in-sample stretch {in_sample_ratio}x as long."
        )
    is_len = n - windows * oos
    out = []
    for i in range(windows):
        start = is_len + i * oos
        out.append(
            Window(
                index=i,
                is_start=0 if mode == "anchored" else start - is_len,
                is_stop=start,
                oos_start=start,
                oos_stop=start + oos,
            )
        )
    return out


def winner(outcomes: Sequence[Any]) -> Any | None:
    """The best defined value; ties go to the earliest set (the space's order)."""
    best = None
    for o in outcomes:
        if o.value is not None and (best is None or o.value > best.value):
            best = o
    return best


def _mean(values: Sequence[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return sum(defined) / len(defined) if defined else None


def walk_forward(
    *,
    bars: BarSeries | None = None,
    make_config: Callable[[float], EngineConfig] | None = None,
    market: Market | None = None,
    stype: Any,
    param_sets: Sequence[dict[str, Any]],
    objective: str,
    capital: float,
    windows: int,
    in_sample_ratio: float,
    mode: str,
    max_drawdown_pct: float | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any] | None:
    """The walk-forward report (per window, stitched curve, ratio); None if stopped midway.

    ``make_config(capital)`` builds the engine configuration for a starting capital: in-sample
    runs start with ``capital``, each out-of-sample run with the equity the previous one ended
    with. A window whose in-sample has no defined objective value has no winner: its
    out-of-sample stretch is skipped (flat) and it counts as undefined.

    ``market`` (``markets.BasketMarket`` for a basket) replaces ``bars`` and ``make_config``
    (one instrument's, the original call).
    """
    if market is None:
        if bars is None or make_config is None:
            raise ValueError("walk_forward: give a market, or bars and make_config")
        market = InstrumentMarket(bars=bars, make_config=make_config)
    plan = plan_windows(len(market.ts), windows=windows, in_sample_ratio=in_sample_ratio, mode=mode)
    rows: list[dict[str, Any]] = []
    curves: list[Single | None] = []
    equity = capital
    for w in plan:
        stretch = market.in_sample(w.is_start, w.is_stop, capital)
        outcomes = []
        if stretch is not None:
            outcomes = run_chunk(
                bars=stretch[0],
                config=stretch[1],
                stype=stype,
                param_sets=param_sets,
                objective=objective,
                max_drawdown_pct=max_drawdown_pct,
                should_stop=should_stop,
            )
        if outcomes is None:
            return None
        row, oos, equity = window_step(
            market=market,
            window=w,
            best=winner(outcomes),
            equity=equity,
            stype=stype,
            objective=objective,
            max_drawdown_pct=max_drawdown_pct,
        )
        rows.append(row)
        curves.append(oos)
    return stitch(
        rows=rows,
        curves=[(c.ts, c.equity) for c in curves if c is not None],
        capital=capital,
        equity=equity,
        objective=objective,
    )


def window_step(
    *,
    market: Market,
    window: Window,
    best: Any | None,
    equity: float,
    stype: Any,
    objective: str,
    max_drawdown_pct: float | None,
) -> tuple[dict[str, Any], Single | None, float]:
    """Test a window's in-sample ``best`` out-of-sample on ``equity``: the report's row, the
    test (None: no winner, a wiped-out account or no bars) and the equity the next starts with.

    One window's step, whether a single task walks every window or each is its own task.
    """
    timeline = market.ts
    w = window
    row: dict[str, Any] = {
        "index": w.index,
        "in_sample": _span(timeline, w.is_start, w.is_stop),
        "out_of_sample": _span(timeline, w.oos_start, w.oos_stop),
        "params": None,
        "in_sample_value": None,
        "out_of_sample_value": None,
        "start_equity": round(equity, 2),
        "out_of_sample_stats": None,
    }
    absent = {
        "in_sample": market.absent(w.is_start, w.is_stop),
        "out_of_sample": market.absent(w.oos_start, w.oos_stop),
    }
    if absent["in_sample"] or absent["out_of_sample"]:
        row["absent"] = absent  # a basket's members with no bars there sat it out
    oos = None
    if best is not None and equity > 0:  # an account wiped out does not trade on
        oos = market.out_of_sample(
            w.oos_start, w.oos_stop, stype=stype, params=best.params, capital=equity
        )
    if best is not None and oos is not None:
        row.update(
            params=best.params,
            in_sample_value=best.value,
            out_of_sample_value=objective_value(
                oos.stats, objective, max_drawdown_pct=max_drawdown_pct
            ),
            out_of_sample_stats=oos.stats,
        )
        if oos.equity:  # to the paisa: the next window starts with what a user would see
            equity = round(oos.equity[-1], 2)
    else:
        oos = None
    return row, oos, equity


def stitch(
    *,
    rows: list[dict[str, Any]],
    curves: Sequence[tuple[Sequence[int], Sequence[float]]],
    capital: float,
    equity: float,
    objective: str,
) -> dict[str, Any]:
    """The report from the windows' rows and out-of-sample curves (in order) and the equity
    the last one ended with."""
    is_mean = _mean([r["in_sample_value"] for r in rows])
    oos_mean = _mean([r["out_of_sample_value"] for r in rows])
    curve_ts: list[int] = []
    curve_eq: list[float] = []
    for ts, eq in curves:
        curve_ts.extend(ts)
        curve_eq.extend(eq)
    return {
        "windows": rows,
        "in_sample_mean": is_mean,
        "out_of_sample_mean": oos_mean,
        "ratio": _ratio(oos_mean, is_mean),
        "ratio_per_bar": _per_bar_ratio(rows) if objective in PER_BAR_OBJECTIVES else None,
        "final_equity": round(equity, 2),
        "total_return_pct": (equity - capital) / capital * 100.0 if capital else None,
        "equity": {"ts": curve_ts, "equity": curve_eq},
    }


def _ratio(num: float | None, den: float | None) -> float | None:
    return num / den if num is not None and den else None


def _per_bar_ratio(rows: list[dict[str, Any]]) -> float | None:
    """Returns per bar, out-of-sample over in-sample: a return over 3x the bars is not 3x
    better, so this is the fair ratio for the return objectives."""

    def per_bar(row: dict[str, Any], key: str, span: str) -> float | None:
        value, bars = row[key], row[span]["stop_bar"] - row[span]["start_bar"]
        return None if value is None else value / bars

    return _ratio(
        _mean([per_bar(r, "out_of_sample_value", "out_of_sample") for r in rows]),
        _mean([per_bar(r, "in_sample_value", "in_sample") for r in rows]),
    )


def _span(timeline: np.ndarray, start: int, stop: int) -> dict[str, int]:
    """A window's bars as indexes and as first/last bar open times (epoch seconds)."""
    return {
        "start_bar": start,
        "stop_bar": stop,
        "first_ts": int(timeline[start]),
        "last_ts": int(timeline[stop - 1]),
    }
