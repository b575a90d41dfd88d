"""Walk-forward on the engine alone (no database): windows, no look-ahead, the stitched curve."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from execution.engine.bars import BarSeries
from execution.engine.charges import FlatCommission
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.tests.engine.helpers import load_goog
from optimisation.markets import BasketMarket
from optimisation.runner import run_chunk
from optimisation.walkforward import WindowsInvalid, plan_windows, run_single, walk_forward
from strategies.catalog import get

STYPE = get("sma_crossover")
SETS = [{"fast": f, "slow": s, "mode": "long_short"} for f in (5, 10, 15) for s in (20, 30, 40)]


def make_config(capital: float) -> EngineConfig:
    return EngineConfig(
        instrument=InstrumentSpec("GOOG", "NASDAQ", tick_size=0.01, lot_size=1,
                                  allow_short_cnc=True),
        starting_capital=capital,
        allocation_pct=100.0,
        charges=FlatCommission(0.2),
        close_at_end="last_open",
    )  # fmt: skip


@pytest.fixture(scope="module")
def goog() -> BarSeries:
    return load_goog()


def run(bars: BarSeries, **kwargs):
    options = {"windows": 4, "in_sample_ratio": 3.0, "mode": "rolling", **kwargs}
    return walk_forward(
        bars=bars,
        make_config=make_config,
        stype=STYPE,
        param_sets=SETS,
        objective="return",
        capital=10_000.0,
        **options,
    )


@pytest.mark.parametrize("n", [100, 101, 997, 2148])
@pytest.mark.parametrize("windows", [1, 3, 7])
@pytest.mark.parametrize("ratio", [0.5, 3.0, 4.5])
def test_out_of_sample_windows_partition_the_range_after_the_in_sample(n, windows, ratio):
    rolling = plan_windows(n, windows=windows, in_sample_ratio=ratio, mode="rolling")
    anchored = plan_windows(n, windows=windows, in_sample_ratio=ratio, mode="anchored")
    for plan in (rolling, anchored):
        assert len(plan) == windows
        # out-of-sample stretches: contiguous, equal, disjoint, ending at the last bar
        assert plan[-1].oos_stop == n
        for a, b in itertools.pairwise(plan):
            assert a.oos_stop == b.oos_start
        lengths = {w.oos_stop - w.oos_start for w in plan}
        assert len(lengths) == 1 and lengths.pop() >= 2
        for w in plan:  # in-sample ends where its test begins: nothing after it is seen
            assert w.is_stop == w.oos_start and w.is_start < w.is_stop
    oos = rolling[0].oos_stop - rolling[0].oos_start
    first_is = rolling[0].is_stop - rolling[0].is_start
    assert first_is >= ratio * oos  # the in-sample is at least ratio x as long
    assert {w.is_stop - w.is_start for w in rolling} == {first_is}  # rolling: fixed length
    assert all(w.is_start == 0 for w in anchored)  # anchored: always from the first bar
    assert [w.oos_start for w in anchored] == [w.oos_start for w in rolling]


def test_a_range_too_short_for_the_windows_is_refused():
    with pytest.raises(WindowsInvalid):
        plan_windows(10, windows=5, in_sample_ratio=3.0, mode="rolling")


def test_each_winner_is_the_in_sample_best(goog):
    report = run(goog)
    plan = plan_windows(len(goog), windows=4, in_sample_ratio=3.0, mode="rolling")
    for w, row in zip(plan, report["windows"], strict=True):
        outcomes = run_chunk(
            bars=goog.slice(w.is_start, w.is_stop),
            config=make_config(10_000.0),
            stype=STYPE,
            param_sets=SETS,
            objective="return",
        )
        best = max(o.value for o in outcomes)
        assert row["in_sample_value"] == best
        winners = [o.params for o in outcomes if o.value == best]
        assert row["params"] == winners[0]


@pytest.mark.parametrize("mode", ["rolling", "anchored"])
def test_no_look_ahead_changing_out_of_sample_bars_leaves_the_choice_unchanged(goog, mode):
    """Window i's winner depends on bars before its test only: rewrite every bar from window
    i's test on, and windows 0..i choose exactly as before (and window i's test changes)."""
    base = run(goog, mode=mode)
    plan = plan_windows(len(goog), windows=4, in_sample_ratio=3.0, mode=mode)
    for i in (1, 2):
        cut = plan[i].oos_start
        rng = np.random.default_rng(i)
        scale = np.ones(len(goog))
        scale[cut:] = np.exp(np.cumsum(rng.normal(0, 0.03, len(goog) - cut)))
        changed = dataclasses.replace(
            goog,
            open=goog.open * scale,
            high=goog.high * scale * 1.01,
            low=goog.low * scale * 0.99,
            close=goog.close * scale,
        )
        other = run(changed, mode=mode)
        for w in range(i + 1):
            assert other["windows"][w]["params"] == base["windows"][w]["params"]
            assert other["windows"][w]["in_sample_value"] == base["windows"][w]["in_sample_value"]
        for w in range(i):  # tests entirely before the change are untouched too
            assert (
                other["windows"][w]["out_of_sample_stats"]
                == base["windows"][w]["out_of_sample_stats"]
            )
        assert (
            other["windows"][i]["out_of_sample_value"] != base["windows"][i]["out_of_sample_value"]
        )


def test_stitched_curve_is_the_concatenation_of_single_out_of_sample_backtests(goog):
    report = run(goog, mode="anchored")
    plan = plan_windows(len(goog), windows=4, in_sample_ratio=3.0, mode="anchored")
    ts: list[int] = []
    equity: list[float] = []
    capital = 10_000.0
    for w, row in zip(plan, report["windows"], strict=True):
        assert row["start_equity"] == capital
        single = run_single(
            bars=goog.slice(w.oos_start, w.oos_stop),
            config=make_config(capital),
            stype=STYPE,
            params=row["params"],
        )
        assert single.stats == row["out_of_sample_stats"]
        ts += single.ts
        equity += single.equity
        capital = round(single.equity[-1], 2)
    assert report["equity"] == {"ts": ts, "equity": equity}
    assert ts == goog.ts[plan[0].oos_start :].tolist()  # every out-of-sample bar, once, in order
    assert report["final_equity"] == capital
    values = [r["out_of_sample_value"] for r in report["windows"]]
    ins = [r["in_sample_value"] for r in report["windows"]]
    assert report["ratio"] == pytest.approx((sum(values) / 4) / (sum(ins) / 4))
    oos_bars = plan[0].oos_stop - plan[0].oos_start
    per_bar = [v / oos_bars for v in values]
    in_per_bar = [v / (w.is_stop - w.is_start) for v, w in zip(ins, plan, strict=True)]
    assert report["ratio_per_bar"] == pytest.approx(sum(per_bar) / sum(in_per_bar))


# --- a basket's market: the common timeline, members sitting a stretch out --------------------


def _member_config(capital: float, n: int) -> EngineConfig:
    return dataclasses.replace(make_config(capital * 0.5), client_order_prefix=f"m{n}")


def test_a_baskets_timeline_is_the_union_and_members_short_of_bars_sit_out(goog):
    early, late = goog.slice(0, 10), goog.slice(8, 21)  # overlapping at bars 8 and 9
    market = BasketMarket(members=[early, late], labels=["E", "L"], make_config=_member_config)
    assert list(market.ts) == list(goog.ts[:21])
    assert market.absent(0, 8) == ["L"]  # L's first bar is at 8
    assert market.absent(8, 10) == []  # both have bars 8 and 9
    assert market.absent(9, 11) == ["E"]  # E has one bar there (9): fewer than two
    inputs, config = market.in_sample(0, 8, 1000.0)
    assert config is None and inputs.capital == 1000.0
    [(cfg, bars)] = inputs.members
    assert cfg.starting_capital == 500.0 and cfg.client_order_prefix == "m0"
    assert list(bars.ts) == list(goog.ts[:8])
    # a stretch where no member has two bars runs nothing: no winner, no test
    apart = BasketMarket(
        members=[goog.slice(0, 2), goog.slice(2, 4)], labels=["A", "B"], make_config=_member_config
    )
    assert apart.in_sample(1, 3, 1000.0) is None
    assert apart.out_of_sample(1, 3, stype=STYPE, params=SETS[0], capital=1000.0) is None
    assert apart.absent(1, 3) == ["A", "B"]


def test_a_basket_of_one_walks_forward_as_that_instrument_on_its_cap(goog):
    """One member on half the capital: the same windows and winners as the instrument walked
    alone on that half, half its returns (the other half is cash in the total), and the first
    test's P&L the instrument's own."""
    basket = walk_forward(
        market=BasketMarket(members=[goog], labels=["GOOG"], make_config=_member_config),
        stype=STYPE, param_sets=SETS, objective="return", capital=20_000.0, windows=3,
        in_sample_ratio=2.0, mode="rolling",
    )  # fmt: skip
    alone = run(goog, windows=3, in_sample_ratio=2.0)
    for b, a in zip(basket["windows"], alone["windows"], strict=True):
        assert b["in_sample"] == a["in_sample"] and b["out_of_sample"] == a["out_of_sample"]
        assert b["params"] == a["params"]
        assert b["in_sample_value"] == pytest.approx(a["in_sample_value"] / 2)
        assert "absent" not in b
    b0, a0 = basket["windows"][0], alone["windows"][0]
    assert b0["out_of_sample_stats"]["trades"] == a0["out_of_sample_stats"]["trades"]
    assert b0["out_of_sample_stats"]["final_equity"] == pytest.approx(
        a0["out_of_sample_stats"]["final_equity"] + 10_000.0
    )
