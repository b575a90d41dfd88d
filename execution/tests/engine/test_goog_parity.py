"""GOOG parity: our engine against backtesting.py 0.6.6's SMA-crossover results.

The reference numbers are read from data/GOOG-reference.json; nothing in the engine knows about
GOOG. The settings are the library's: fills at the next open without slippage, 0.2 % commission
per side, all-in sizing, shorts allowed, the position left open at the end closed the way its
``finalize_trades=True`` does (at the last bar's open).
"""

import json
from datetime import UTC, datetime

import pytest

from execution.engine.charges import FlatCommission
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.runner import Engine
from execution.engine.stats import compute_stats
from execution.tests.engine.helpers import DATA, load_goog
from strategies.catalog import get

REFERENCE = json.loads((DATA / "GOOG-reference.json").read_text())


def day(text: str) -> int:
    return int(datetime.strptime(text[:10], "%Y-%m-%d").replace(tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def goog():
    return load_goog()


def run(goog, mode):
    ref = REFERENCE[f"GOOG/{mode}"]
    cfg = EngineConfig(
        instrument=InstrumentSpec("GOOG", "NASDAQ", tick_size=0.01, lot_size=1,
                                  allow_short_cnc=True),
        starting_capital=float(ref["cash"]),
        allocation_pct=100.0,
        charges=FlatCommission(ref["commission"] * 100),
        slippage_bps=0.0,
        close_at_end="last_open",
    )  # fmt: skip
    params = {"fast": 10, "slow": 20, "mode": mode}
    result = Engine(cfg, get("sma_crossover"), params).run(goog)
    stats = compute_stats(
        ts=result.equity.ts,
        equity=result.equity.equity,
        trades=result.trades,
        starting_capital=cfg.starting_capital,
        total_charges=result.state.ledger.total_charges,
        position=result.equity.position,
    )
    return ref, result, stats


@pytest.mark.parametrize("mode", ["long_short", "long_only"])
def test_goog_parity(goog, mode):
    ref, result, stats = run(goog, mode)
    want = ref["stats"]
    assert len(goog) == ref["bars"]
    assert stats["trades"] == len(result.trades) == int(want["# Trades"])
    assert stats["final_equity"] == pytest.approx(want["Equity Final [$]"], rel=1e-3)
    assert stats["total_return_pct"] == pytest.approx(want["Return [%]"], rel=1e-3)
    assert stats["max_drawdown_pct"] == pytest.approx(want["Max. Drawdown [%]"], rel=1e-3)
    assert stats["total_charges"] == pytest.approx(want["Commissions [$]"], rel=1e-3)


@pytest.mark.parametrize("mode", ["long_short", "long_only"])
def test_goog_trades_match_one_by_one(goog, mode):
    ref, result, _ = run(goog, mode)
    for ours, theirs in zip(result.trades, ref["trades"], strict=True):
        assert ours.quantity == theirs["size"]
        assert ours.entry_ts == day(theirs["entry_time"])
        assert ours.exit_ts == day(theirs["exit_time"])
        assert ours.entry_price == pytest.approx(theirs["entry_price"], abs=1e-9)
        assert ours.exit_price == pytest.approx(theirs["exit_price"], abs=1e-9)
        assert ours.pnl == pytest.approx(theirs["pnl"], abs=1e-3)
        assert ours.charges == pytest.approx(theirs["commission"], abs=1e-3)


@pytest.mark.parametrize("mode", ["long_short", "long_only"])
def test_goog_other_statistics_follow_the_same_definitions(goog, mode):
    """Not part of parity (annualisation conventions), but we follow the library's."""
    ref, _, stats = run(goog, mode)
    want = ref["stats"]
    assert stats["win_rate_pct"] == pytest.approx(want["Win Rate [%]"], rel=1e-6)
    assert stats["exposure_pct"] == pytest.approx(want["Exposure Time [%]"], rel=1e-6)
    assert stats["profit_factor"] == pytest.approx(want["Profit Factor"], rel=1e-6)
    assert stats["cagr_pct"] == pytest.approx(want["CAGR [%]"], rel=1e-6)
    assert stats["volatility_pct"] == pytest.approx(want["Volatility (Ann.) [%]"], rel=1e-5)
    assert stats["sharpe"] == pytest.approx(want["Sharpe Ratio"], rel=1e-5)
    assert stats["sortino"] == pytest.approx(want["Sortino Ratio"], rel=1e-5)
