"""Baskets in the engine: N members on capital that is not binding equal N single runs; an
allocation cap binds when the shared capital is short; bars align by timestamp."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from execution.engine.bars import BarSeries
from execution.engine.basket import run_basket
from execution.engine.charges import FlatCommission
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.runner import Engine
from execution.tests.engine.helpers import T0, Scripted, load_goog, make_bars
from strategies.catalog import get


def walk(seed: int, n: int, *, step: int = 60, t0: int = T0, gaps: bool = False) -> BarSeries:
    rng = np.random.default_rng(seed)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    bars = make_bars(closes, t0=t0, step=step)
    if gaps:  # this instrument has no bar at some of the basket's times
        keep = rng.random(n) > 0.2
        bars = BarSeries(*(a[keep] for a in (bars.ts, bars.open, bars.high, bars.low,
                                             bars.close, bars.volume)))  # fmt: skip
    return bars


def config(symbol: str, cash: float, *, prefix: str = "bt", **kw) -> EngineConfig:
    return EngineConfig(
        instrument=InstrumentSpec(symbol, "NASDAQ", tick_size=0.01, allow_short_cnc=True),
        starting_capital=cash,
        charges=FlatCommission(0.2),
        client_order_prefix=prefix,
        close_at_end=kw.pop("close_at_end", "close"),
        **({"allocation_pct": 100.0} | kw),
    )


def trade_rows(trades):
    return [
        (t.symbol, t.quantity, t.entry_ts, t.exit_ts, t.entry_price, t.exit_price, t.pnl)
        for t in trades
    ]


MEMBERS = [
    ("GOOG", None),
    ("AAA", dict(seed=1, n=3000, step=86_400)),
    ("BBB", dict(seed=2, n=2500, step=86_400, gaps=True)),
    ("CCC", dict(seed=3, n=1500, step=2 * 86_400)),
]


def member_bars(goog):
    out = []
    for sym, spec in MEMBERS:
        if spec is None:
            out.append((sym, goog))
        else:  # daily walks over the GOOG years, some days apart from its own
            out.append((sym, walk(t0=int(goog.ts[0]) + 86_400 * spec["seed"], **spec)))
    return out


@pytest.fixture(scope="module")
def goog():
    return load_goog()


@pytest.mark.parametrize(
    ("params", "sizing"),
    [
        ({"fast": 10, "slow": 20, "mode": "long_short"}, {}),
        ({"fast": 5, "slow": 30, "mode": "long_only"}, {"allocation_pct": 50.0}),
        (
            {
                "fast": 10,
                "slow": 20,
                "mode": "long_only",
                "exits": {"stop_loss_pct": 2, "target_pct": 4},
            },
            {},
        ),
        ({"fast": 10, "slow": 20, "mode": "long_short"}, {"quantity": 7, "allocation_pct": None}),
    ],
)
@pytest.mark.parametrize("aligned", [None, True], ids=["auto", "aligned"])
def test_basket_equals_single_runs_when_capital_is_not_binding(goog, params, sizing, aligned):
    stype = get("sma_crossover")
    cap = 10_000.0
    members = member_bars(goog)
    # not binding: each member's cap is a quarter of the capital, and half of it stays idle, so
    # even a short under water (its margin beyond its own book) never drains the pool
    capital = 2 * cap * len(members)
    basket = run_basket(
        [(config(s, cap, prefix=f"b-{s}", **sizing), b) for s, b in members],
        stype,
        params,
        capital=capital,
        aligned=aligned,
    )
    total_trades = 0
    finals = 0.0
    for (sym, bars), got in zip(members, basket.members, strict=True):
        alone = Engine(config(sym, cap, prefix=f"b-{sym}", **sizing), stype, params).run(bars)
        assert len(alone.trades) > 5
        assert trade_rows(got.trades) == trade_rows(alone.trades)
        np.testing.assert_array_equal(got.equity.ts, alone.equity.ts)
        np.testing.assert_array_equal(got.equity.equity, alone.equity.equity)
        np.testing.assert_array_equal(got.equity.position, alone.equity.position)
        assert [o.client_order_id for o in got.orders] == [o.client_order_id for o in alone.orders]
        assert got.state.ledger.total_charges == alone.state.ledger.total_charges
        total_trades += len(alone.trades)
        finals += float(alone.equity.equity[-1])
    assert len(basket.trades) == total_trades
    idle = capital - cap * len(members)
    assert basket.equity.equity[-1] == pytest.approx(idle + finals, abs=1e-6)
    assert sum(t.pnl for t in basket.trades) == pytest.approx(finals - cap * len(members))
    # the total curve covers every member's bars
    assert len(basket.equity.ts) == len(np.unique(np.concatenate([b.ts for _, b in members])))


def test_equal_split_of_a_larger_capital_leaves_the_rest_idle(goog):
    stype = get("sma_crossover")
    params = {"fast": 10, "slow": 20, "mode": "long_only"}
    members = member_bars(goog)[:2]
    basket = run_basket(
        [(config(s, 5_000.0, prefix=s), b) for s, b in members], stype, params, capital=25_000
    )
    finals = [float(m.equity.equity[-1]) for m in basket.members]
    assert basket.equity.equity[-1] == pytest.approx(15_000 + sum(finals))
    assert basket.equity.equity[0] == pytest.approx(25_000, rel=0.01)


def two_members(entries_a: dict[int, float], entries_b: dict[int, float], n: int = 40):
    bars = make_bars(np.full(n, 100.0), spread=0.0)
    return bars, Scripted(entries_a), Scripted(entries_b)


class PerSymbol:
    """Scripted decisions per member, told apart by their first close."""

    def __init__(self, by_first_close: dict[float, dict[int, float]]):
        self.by = {k: Scripted(v) for k, v in by_first_close.items()}

    def signals(self, bars, params):
        return self.by[float(bars.close[0])].signals(bars, params)


def test_allocation_cap_binds_when_the_capital_is_short():
    """Two members capped at 60 % each of 10,000: the first to enter takes its 6,000, the
    second gets only the 4,000 left, and together they never spend more than the capital."""
    a = make_bars(np.full(30, 100.0), spread=0.0)
    b = make_bars(np.full(30, 50.0), spread=0.0)
    strat = PerSymbol({100.0: {3: 1.0}, 50.0: {8: 1.0, 20: 0.0}})
    res = run_basket(
        [(config("A", 6_000.0, prefix="a"), a), (config("B", 6_000.0, prefix="b"), b)],
        strat,
        {},
        capital=10_000,
    )
    ta, tb = (m.trades[0] for m in res.members)
    # A enters at bar 4 all-in on its 6,000 cap: 6000 / (100 * 1.002) -> 59 units
    assert ta.quantity == 59 and ta.entry_ts == int(a.ts[4])
    # B enters at bar 9 with what is left of the pool: 10,000 - 59 * 100 * 1.002 = 4,088.2
    pool = 10_000 - 59 * 100 * 1.002
    assert tb.entry_ts == int(b.ts[9])
    assert tb.quantity == int(pool // (50 * 1.002)) < int(6_000 // (50 * 1.002))
    assert float(np.min(res.equity.cash)) >= 0.0
    # alone on its cap, B would have bought 119
    alone = Engine(config("B", 6_000.0, prefix="b"), strat, {}).run(b)
    assert alone.trades[0].quantity == 119


def test_the_cap_freed_by_an_exit_is_usable_again():
    """B exits at bar 20; A's later re-entry (bar 26) finds the pool's cash back."""
    a = make_bars(np.full(40, 100.0), spread=0.0)
    b = make_bars(np.full(40, 50.0), spread=0.0)
    strat = PerSymbol({100.0: {3: 1.0, 10: 0.0, 25: 1.0}, 50.0: {8: 1.0, 20: 0.0}})
    res = run_basket(
        [(config("A", 6_000.0, prefix="a"), a), (config("B", 6_000.0, prefix="b"), b)],
        strat,
        {},
        capital=10_000,
    )
    a_trades = res.members[0].trades
    assert [t.entry_ts for t in a_trades] == [int(a.ts[4]), int(a.ts[26])]
    # A's second entry is limited by its own (cap) book only: B is flat again by then
    assert a_trades[1].quantity == int((6_000 + a_trades[0].pnl) // (100 * 1.002))


def test_a_member_without_a_bar_at_a_time_does_not_trade_then():
    """B has no bar at A's entry times; its entries happen at its own bars only."""
    a = make_bars(np.full(30, 100.0), spread=0.0)  # every minute
    b = make_bars(np.full(15, 50.0), spread=0.0, step=120)  # every other minute
    strat = PerSymbol({100.0: {3: 1.0}, 50.0: {2: 1.0}})
    res = run_basket(
        [(config("A", 5_000.0, prefix="a"), a), (config("B", 5_000.0, prefix="b"), b)],
        strat,
        {},
        capital=10_000,
    )
    assert res.members[1].trades[0].entry_ts == int(b.ts[3])
    assert set(res.members[1].equity.ts) == set(b.ts)
    assert len(res.equity.ts) == len(np.union1d(a.ts, b.ts))


def test_members_keep_their_own_order_ids(goog):
    stype = get("sma_crossover")
    members = member_bars(goog)[:2]
    res = run_basket(
        [(replace(config(s, 5_000.0), client_order_prefix=f"bt-{n}"), b)
         for n, (s, b) in enumerate(members)],
        stype,
        {"fast": 10, "slow": 20, "mode": "long_only"},
        capital=10_000,
    )  # fmt: skip
    for n, m in enumerate(res.members):
        assert m.orders and all(o.client_order_id.startswith(f"bt-{n}-") for o in m.orders)


@pytest.mark.parametrize("aligned", [None, True], ids=["auto", "aligned"])
def test_long_only_equal_split_equals_single_runs_on_their_share(goog, aligned):
    """Caps adding up to exactly the capital: long-only members never compete for it."""
    stype = get("sma_crossover")
    params = {"fast": 10, "slow": 20, "mode": "long_only"}
    members = member_bars(goog)
    share = 40_000.0 / len(members)
    basket = run_basket(
        [(config(s, share, prefix=s), b) for s, b in members],
        stype,
        params,
        capital=40_000,
        aligned=aligned,
    )
    for (sym, bars), got in zip(members, basket.members, strict=True):
        alone = Engine(config(sym, share, prefix=sym), stype, params).run(bars)
        assert trade_rows(got.trades) == trade_rows(alone.trades)
        np.testing.assert_array_equal(got.equity.equity, alone.equity.equity)
    finals = sum(float(m.equity.equity[-1]) for m in basket.members)
    assert basket.equity.equity[-1] == pytest.approx(finals)


def test_shortcut_falls_back_to_stepping_in_time_when_a_member_goes_short(goog):
    """Equal split, long-short: a short under water can drain the pool, so the shortcut is
    not taken and the result is the time-stepped one."""
    stype = get("sma_crossover")
    params = {"fast": 10, "slow": 20, "mode": "long_short"}
    members = member_bars(goog)
    share = 40_000.0 / len(members)
    runs = [
        run_basket(
            [(config(s, share, prefix=s), b) for s, b in members],
            stype,
            params,
            capital=40_000,
            aligned=aligned,
        )
        for aligned in (None, True)
    ]
    for auto, stepped in zip(runs[0].members, runs[1].members, strict=True):
        assert trade_rows(auto.trades) == trade_rows(stepped.trades)
    np.testing.assert_array_equal(runs[0].equity.equity, runs[1].equity.equity)
