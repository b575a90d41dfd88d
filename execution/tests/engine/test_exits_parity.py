"""Stop-loss, target and trailing exits against backtesting.py 0.6.6 (issue #13).

The reference figure of the issue on GOOG (cash 10,000, commission 0.2 %, SMA 10 x 20 long-only
entries taken only when flat, exit on the opposite cross, stop 2 %, target 4 %, the last trade
closed at the last open): 47 trades, 22 closed by the stop and 21 by the target, final equity
14,015.20, max drawdown -8.51 %. The same strategy runs in backtesting.py
(``execution.tests.engine.bt_exits``) on GOOG and on random walks: same trades, exit prices and
final equity to 0.1 %; the trailing stop against backtesting.lib's ``TrailingStrategy``.
"""

from __future__ import annotations

import numpy as np
import pytest

from execution.engine.bars import BarSeries
from execution.engine.charges import FlatCommission
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.runner import Engine
from execution.engine.stats import compute_stats
from execution.tests.engine.bt_exits import run_reference
from execution.tests.engine.helpers import load_goog
from strategies.catalog import get


def sma_rules(fast: int = 10, slow: int = 20, **exits: float) -> dict:
    """The reference strategy as a rule document with ``exits``."""
    a, b = {"indicator": "sma", "period": fast}, {"indicator": "sma", "period": slow}
    return {
        "entry_long": {"left": a, "op": "crosses_above", "right": b},
        "exit_long": {"left": a, "op": "crosses_below", "right": b},
        "exits": exits,
    }


def config(tick: float = 1e-6) -> EngineConfig:
    """backtesting.py's settings: fills at the open without slippage, 0.2 % a side, all-in.

    A tick of 1e-6 leaves the legs' prices where the percentages put them (backtesting.py does
    not round); the GOOG test also runs on its real 0.01 tick.
    """
    return EngineConfig(
        instrument=InstrumentSpec("GOOG", "NASDAQ", tick_size=tick, lot_size=1,
                                  allow_short_cnc=True),
        starting_capital=10_000.0,
        allocation_pct=100.0,
        charges=FlatCommission(0.2),
        slippage_bps=0.0,
        close_at_end="last_open",
    )  # fmt: skip


def run_ours(bars: BarSeries, doc: dict, tick: float = 1e-6):
    result = Engine(config(tick), get("rules"), doc).run(bars)
    stats = compute_stats(
        ts=result.equity.ts,
        equity=result.equity.equity,
        trades=result.trades,
        starting_capital=10_000.0,
        total_charges=result.state.ledger.total_charges,
        position=result.equity.position,
    )
    return result, stats


def closed_by(result, leg: str) -> int:
    return sum(f.client_order_id.endswith(f"-{leg}") for f in result.fills)


def random_walk(n: int, seed: int) -> BarSeries:
    """Daily bars of a random walk whose opens gap away from the previous close."""
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.015, n)))
    open_ = np.concatenate(([100.0], close[:-1])) * np.exp(rng.normal(0, 0.006, n))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    ts = 1_600_000_000 - 1_600_000_000 % 86400 + 86400 * np.arange(n, dtype=np.int64)
    return BarSeries(ts, open_, high, low, close, np.full(n, 1e6))


def assert_same_as_reference(bars: BarSeries, doc: dict, ref, tick: float = 1e-6):
    result, stats = run_ours(bars, doc, tick)
    theirs = ref._trades
    assert len(result.trades) == len(theirs) == int(ref["# Trades"]) > 5
    entry_ts = (theirs.EntryTime.values.astype("datetime64[s]").astype(np.int64)).tolist()
    exit_ts = (theirs.ExitTime.values.astype("datetime64[s]").astype(np.int64)).tolist()
    assert [t.entry_ts for t in result.trades] == entry_ts
    assert [t.exit_ts for t in result.trades] == exit_ts
    assert [t.quantity for t in result.trades] == theirs.Size.tolist()
    np.testing.assert_allclose(
        [t.exit_price for t in result.trades],
        theirs.ExitPrice.values,
        rtol=1e-3 if tick > 1e-6 else 1e-6,
    )
    assert stats["final_equity"] == pytest.approx(ref["Equity Final [$]"], rel=1e-3)
    return result, stats


@pytest.fixture(scope="module")
def goog():
    return load_goog()


def test_goog_reference_figure(goog):
    result, stats = run_ours(goog, sma_rules(stop_loss_pct=2, target_pct=4))
    assert len(result.trades) == 47
    assert (closed_by(result, "sl"), closed_by(result, "tp")) == (22, 21)
    assert round(stats["final_equity"], 2) == 14_015.20
    assert round(stats["max_drawdown_pct"], 2) == -8.51


def test_goog_stop_and_target_match_backtesting_py(goog):
    ref = run_reference(goog, stop_pct=2, target_pct=4)
    # the figure is backtesting.py's own
    assert (int(ref["# Trades"]), round(ref["Equity Final [$]"], 2)) == (47, 14_015.20)
    assert round(ref["Max. Drawdown [%]"], 2) == -8.51
    # its trades closed by the stop and by the target (at the level, or beyond it on a gap)
    theirs = ref._trades
    assert (theirs.ExitPrice <= theirs.SL + 1e-9).sum() == 22
    assert (theirs.ExitPrice >= theirs.TP - 1e-9).sum() == 21
    assert_same_as_reference(goog, sma_rules(stop_loss_pct=2, target_pct=4), ref)
    # on GOOG's real tick the legs are rounded (in the position's favour): still within 0.1 %
    assert_same_as_reference(goog, sma_rules(stop_loss_pct=2, target_pct=4), ref, tick=0.01)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_walks_stop_and_target_match_backtesting_py(seed):
    bars = random_walk(1500, seed)
    ref = run_reference(bars, fast=5, slow=15, stop_pct=3, target_pct=5)
    result, _ = assert_same_as_reference(bars, sma_rules(5, 15, stop_loss_pct=3, target_pct=5), ref)
    assert closed_by(result, "sl") > 0 and closed_by(result, "tp") > 0


@pytest.mark.parametrize("seed", [None, 6, 7])
def test_an_entry_only_rule_enters_again_after_its_stop_or_target(goog, seed):
    """No exit condition: the legs alone end each trade, and the next cross opens another
    (backtesting.py's "buy on a cross when flat"), not one trade for the whole run."""
    bars = goog if seed is None else random_walk(1500, seed)
    ref = run_reference(bars, stop_pct=2, target_pct=4, exit_on_cross=False)
    doc = sma_rules(stop_loss_pct=2, target_pct=4)
    del doc["exit_long"]
    result, _ = assert_same_as_reference(bars, doc, ref)
    assert closed_by(result, "sl") > 1 and closed_by(result, "tp") > 1


@pytest.mark.parametrize("seed", [None, 4, 5])
def test_trailing_stop_matches_backtesting_lib_trailing_strategy(goog, seed):
    bars = goog if seed is None else random_walk(1500, seed)
    ref = run_reference(bars, fast=10, slow=20, stop_pct=None, target_pct=None, trailing_pct=3)
    result, _ = assert_same_as_reference(bars, sma_rules(10, 20, trailing_stop_pct=3), ref)
    stops = [o for o in result.orders if o.client_order_id.endswith("-sl")]
    # the stop was raised (modified) after some entries, and it closed some trades
    assert any(o.status == "COMPLETE" for o in stops)
    entries = {t.entry_ts: t.entry_price for t in result.trades}
    raised = [o for o in stops if o.trigger_price > entries[o.created_ts] * 0.97 + 1e-6]
    assert raised


def test_stop_target_and_trailing_together_match(goog):
    ref = run_reference(goog, stop_pct=4, target_pct=8, trailing_pct=2.5)
    doc = sma_rules(stop_loss_pct=4, target_pct=8, trailing_stop_pct=2.5)
    assert_same_as_reference(goog, doc, ref)


def test_built_in_types_take_the_same_exits(goog):
    from strategies.catalog.base import ParamsInvalid

    exits = {"stop_loss_pct": 2, "target_pct": 4}
    sma = {"fast": 10, "slow": 20, "mode": "long_only", "exits": exits}
    built_in = Engine(config(), get("sma_crossover"), sma).run(goog)
    rule, _ = run_ours(goog, sma_rules(**exits))
    assert [(f.client_order_id, f.price) for f in built_in.fills] == [
        (f.client_order_id, f.price) for f in rule.fills
    ]
    with pytest.raises(ParamsInvalid) as e:
        get("sma_crossover").validate_params({"exits": {"stop_loss_pct": -1, "stop": 2}})
    assert e.value.errors == {
        "exits.stop": ["Unknown exit."],
        "exits.stop_loss_pct": ["Must be at least 0.01."],
    }
