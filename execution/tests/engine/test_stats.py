"""Statistics: definitions on hand-made curves, JSON safety."""

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.engine.state import ClosedTrade
from execution.engine.stats import (
    MIN_CAGR_SPAN_S,
    MIN_DAILY_RETURNS,
    MIN_RATIO_SPAN_S,
    MIN_VOLATILITY_PCT,
    STAT_KEYS,
    compute_stats,
)

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
    assert tuple(s) == (*STAT_KEYS, "notes")
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
    # four days of returns: nothing to annualise, and the page says why
    assert s["cagr_pct"] is None and "4.0 days" in s["notes"]["cagr_pct"]
    for key in ("volatility_pct", "sharpe", "sortino"):
        assert s[key] is None
        assert (
            s["notes"][key] == f"Needs at least {MIN_DAILY_RETURNS} daily returns; this run has 4."
        )


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
        values = json.loads(text)
        assert all(isinstance(v, str) for v in values.pop("notes").values())
        assert all(v is None or math.isfinite(v) for v in values.values())


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


def test_cagr_is_reported_from_thirty_days_on():
    just_short = compute_stats(ts=np.array([T0, T0 + MIN_CAGR_SPAN_S - 1]),
                               equity=np.array([100.0, 101.0]), trades=[],
                               starting_capital=100.0, total_charges=0.0)  # fmt: skip
    thirty_days = compute_stats(ts=np.array([T0, T0 + MIN_CAGR_SPAN_S]),
                                equity=np.array([100.0, 101.0]), trades=[],
                                starting_capital=100.0, total_charges=0.0)  # fmt: skip
    assert MIN_CAGR_SPAN_S == 30 * DAY
    assert just_short["cagr_pct"] is None and "cagr_pct" in just_short["notes"]
    assert thirty_days["cagr_pct"] == pytest.approx((1.01 ** (365.25 / 30) - 1) * 100, rel=1e-6)
    assert "cagr_pct" not in thirty_days["notes"]


def test_short_one_minute_run_annualises_bar_returns_not_three_daily_ones():
    """The newcomer's 3.5 days of 1-minute bars (24/7, over a weekend): bar returns at 1,440 a
    day and 365 days a year, not three daily returns compounded."""
    rng = np.random.default_rng(3)
    rets = rng.normal(-2e-6, 4e-4, 5000)
    rets[rng.random(5000) < 0.5] = 0.0  # flat half the time, as a strategy is
    eq = 1_000_000 * np.cumprod(1 + rets)
    friday = T0 + 4 * DAY
    s = compute_stats(ts=friday + 60 * np.arange(5000), equity=eq, trades=[],
                      starting_capital=1_000_000.0, total_charges=0.0)  # fmt: skip
    bar = eq[1:] / eq[:-1] - 1
    periods = 1440 * 365
    assert s["volatility_pct"] == pytest.approx(bar.std(ddof=1) * math.sqrt(periods) * 100)
    assert s["sharpe"] == pytest.approx(bar.mean() / bar.std(ddof=1) * math.sqrt(periods))
    assert 5 < s["volatility_pct"] < 50  # about 0.03 % a minute, not 0.00 % nor 2,000 %
    assert abs(s["sharpe"]) < 20
    assert s["cagr_pct"] is None  # 3.5 days do not compound into a year


def test_near_zero_volatility_is_never_divided_by():
    """Equity sliding by the same step every bar: a ratio over ~0 volatility is noise, not 1e16."""
    n = 5000
    eq = 1_000_000 * (1 - 0.0000021 * np.arange(n)) + np.round(np.sin(np.arange(n)) * 0.01, 2)
    s = compute_stats(ts=T0 + 60 * np.arange(n), equity=eq, trades=[],
                      starting_capital=1_000_000.0, total_charges=0.0)  # fmt: skip
    assert s["volatility_pct"] < MIN_VOLATILITY_PCT
    assert s["sharpe"] is None and s["sortino"] is None
    assert "Volatility below" in s["notes"]["sharpe"]


_SPACINGS = st.sampled_from([5, 60, 300, 3600, DAY])


@settings(max_examples=300, deadline=None)
@given(
    spacing=_SPACINGS,
    rets=st.lists(
        st.one_of(st.just(0.0), st.floats(-0.2, 0.2, allow_nan=False)), min_size=1, max_size=3000
    ),
    flat_share=st.floats(0, 1),
)
def test_every_statistic_of_a_short_curve_is_finite_and_sane_or_none(spacing, rets, flat_share):
    rets = np.asarray(rets)
    rets[: int(len(rets) * flat_share)] = 0.0
    eq = 100_000 * np.cumprod(1 + rets)
    ts = T0 + spacing * np.arange(len(eq))
    s = compute_stats(ts=ts, equity=eq, trades=[], starting_capital=100_000.0, total_charges=0.0)
    notes = s.pop("notes")
    assert all(v is None or math.isfinite(v) for v in s.values())
    assert -100 <= s["max_drawdown_pct"] <= 0
    span = ts[-1] - ts[0]
    if span < MIN_RATIO_SPAN_S:
        assert s["volatility_pct"] is None and s["sharpe"] is None and s["sortino"] is None
    if span < MIN_CAGR_SPAN_S:
        assert s["cagr_pct"] is None
    if s["volatility_pct"] is not None:
        assert s["volatility_pct"] >= 0
    for key in ("sharpe", "sortino"):
        if s[key] is not None:
            assert s["volatility_pct"] >= MIN_VOLATILITY_PCT
            # a ratio carries the sign of the run's drift and no more than its size allows
            assert abs(s[key]) < 1e7
    for key in ("volatility_pct", "sharpe", "sortino", "cagr_pct"):
        if s[key] is None and s["final_equity"] and len(eq) > 1:
            assert notes.get(key), key  # the page can say why it shows "—"
