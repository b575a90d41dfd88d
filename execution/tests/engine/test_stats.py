"""Statistics: definitions on hand-made curves, JSON safety."""

import json
import math

import numpy as np
import pytest

from execution.engine.state import ClosedTrade
from execution.engine.stats import MIN_CAGR_SPAN_S, STAT_KEYS, compute_stats

DAY = 86_400
T0 = 1_704_067_200  # Monday 2024-01-01


def trade(pnl, ret):
    return ClosedTrade("X", 1, T0, T0 + DAY, 100.0, 100.0 + pnl, pnl, 0.0, pnl, ret)


def test_exact_keys_and_simple_values():
    ts = T0 + DAY * np.arange(5)
    eq = np.array([100.0, 110.0, 99.0, 120.0, 108.0])
    pos = np.array([0, 1, 1, 0, 0])
    trades = [trade(10.0, 10.0), trade(-5.0, -5.0), trade(15.0, 12.0)]
    s = compute_stats(
        ts=ts, equity=eq, trades=trades, starting_capital=100.0, total_charges=1.234, position=pos
    )
    assert tuple(s) == STAT_KEYS
    assert s["trades"] == 3
    assert s["final_equity"] == 108.0
    assert s["total_return_pct"] == pytest.approx(8.0)
    assert s["max_drawdown_pct"] == pytest.approx(-10.0)  # 110 -> 99
    assert s["max_drawdown_days"] == 2.0  # peak day 1, recovered day 3
    assert s["win_rate_pct"] == pytest.approx(200 / 3)
    assert s["avg_win"] == 12.5 and s["avg_loss"] == -5.0
    assert s["profit_factor"] == pytest.approx(22 / 5)
    assert s["exposure_pct"] == pytest.approx(60.0)  # bars 1, 2 held, bar 3 exited
    assert s["total_charges"] == 1.23
    assert s["cagr_pct"] == pytest.approx(((1.08) ** (365.25 / 4) - 1) * 100, rel=1e-6)
    assert s["sharpe"] is not None and s["sortino"] is not None


def test_unrecovered_drawdown_runs_to_the_last_bar():
    ts = T0 + DAY * np.arange(4)
    s = compute_stats(
        ts=ts,
        equity=np.array([100.0, 90.0, 95.0, 97.0]),
        trades=[],
        starting_capital=100.0,
        total_charges=0.0,
    )
    assert s["max_drawdown_days"] == 3.0
    assert s["max_drawdown_pct"] == pytest.approx(-10.0)


def test_undefined_values_are_none_never_nan():
    flat = compute_stats(
        ts=np.array([T0]),
        equity=np.array([100.0]),
        trades=[],
        starting_capital=100.0,
        total_charges=0.0,
    )
    for key in ("cagr_pct", "volatility_pct", "sharpe", "sortino", "win_rate_pct",
                "profit_factor", "avg_win", "avg_loss"):  # fmt: skip
        assert flat[key] is None, key
    assert flat["max_drawdown_pct"] == 0.0
    only_wins = compute_stats(
        ts=T0 + DAY * np.arange(3),
        equity=np.array([100.0, 100.0, 100.0]),
        trades=[trade(1.0, 1.0)],
        starting_capital=100.0,
        total_charges=0.0,
    )
    assert only_wins["profit_factor"] is None and only_wins["sharpe"] is None
    for s in (flat, only_wins):
        text = json.dumps(s, allow_nan=False)
        assert all(v is None or math.isfinite(v) for v in json.loads(text).values())


def test_empty_curve():
    s = compute_stats(ts=np.zeros(0), equity=np.zeros(0), trades=[], starting_capital=1.0,
                      total_charges=0.0)  # fmt: skip
    assert s["trades"] == 0 and s["final_equity"] is None


def test_weekend_bars_switch_to_a_365_day_year():
    rng = np.random.default_rng(0)
    eq = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 60)))
    daily = compute_stats(ts=T0 + DAY * np.arange(60), equity=eq, trades=[],
                          starting_capital=100.0, total_charges=0.0)  # fmt: skip
    weekdays = [d for d in range(90) if (d % 7) < 5][:60]
    trading = compute_stats(ts=T0 + DAY * np.array(weekdays), equity=eq, trades=[],
                            starting_capital=100.0, total_charges=0.0)  # fmt: skip
    assert daily["volatility_pct"] > trading["volatility_pct"]  # 365 vs 252 periods


def test_cagr_is_none_when_the_run_is_too_short_to_annualise():
    """Six hours of 5 s bars losing 0.5 % would compound to about -100 % a year: no figure."""
    ts = T0 + 5 * np.arange(6 * 720)
    eq = np.linspace(100_000.0, 99_500.0, len(ts))
    s = compute_stats(ts=ts, equity=eq, trades=[], starting_capital=100_000.0, total_charges=0.0)
    assert s["cagr_pct"] is None
    assert s["total_return_pct"] == pytest.approx(-0.5)  # the rest is still reported
    assert s["max_drawdown_pct"] == pytest.approx(-0.5)


def test_cagr_is_reported_from_one_day_on():
    just_short = compute_stats(ts=np.array([T0, T0 + MIN_CAGR_SPAN_S - 1]),
                               equity=np.array([100.0, 101.0]), trades=[],
                               starting_capital=100.0, total_charges=0.0)  # fmt: skip
    one_day = compute_stats(ts=np.array([T0, T0 + MIN_CAGR_SPAN_S]),
                            equity=np.array([100.0, 101.0]), trades=[],
                            starting_capital=100.0, total_charges=0.0)  # fmt: skip
    assert MIN_CAGR_SPAN_S == DAY
    assert just_short["cagr_pct"] is None
    assert one_day["cagr_pct"] == pytest.approx((1.01**365.25 - 1) * 100, rel=1e-6)
