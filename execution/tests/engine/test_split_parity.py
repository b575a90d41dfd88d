"""Backtest / paper parity (ARCHITECTURE §2): one run over n bars gives exactly the orders,
fills, events and equity of k successive runs with the state round-tripped through JSON."""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execution.engine.charges import FlatCommission, IndiaEquityCharges, ZeroCharges
from execution.engine.config import EngineConfig, InstrumentSpec, SessionCalendar
from execution.engine.orders import Product
from execution.engine.risk import RiskLimits
from execution.engine.runner import Engine
from execution.tests.engine.helpers import HashedDecisions, random_bars
from strategies.catalog import get

N = 400


CONFIGS = [
    dict(charges=FlatCommission(0.2), allocation_pct=100.0),
    dict(charges=IndiaEquityCharges(), product=Product.MIS, allocation_pct=50.0, slippage_bps=5),
    dict(charges=IndiaEquityCharges(), quantity=60, volume_share=0.2, slippage_bps=10,
         slippage_random=True, seed=3),
    dict(charges=ZeroCharges(), quantity=5, calendar=SessionCalendar(),
         risk=RiskLimits(max_daily_loss=40.0, max_orders_per_minute=1)),
    dict(charges=IndiaEquityCharges(), allocation_pct=90.0, volume_share=0.05,
         risk=RiskLimits(max_position_value=8_000.0)),
]  # fmt: skip


def strategy(kind: int):
    if kind == 0:
        return get("sma_crossover"), {"fast": 5, "slow": 12, "mode": "long_short"}
    if kind == 1:
        return get("sma_crossover"), {"fast": 3, "slow": 8, "mode": "long_only"}
    return HashedDecisions(every=5, seed=kind), {}


def collect(results):
    orders = {}
    for r in results:
        for o in r.orders:
            orders[o.client_order_id] = o.to_dict()
    return {
        "events": [e for r in results for e in r.events],
        "fills": [f for r in results for f in r.fills],
        "trades": [t for r in results for t in r.trades],
        "orders": orders,
        "equity": {
            k: np.concatenate([getattr(r.equity, k) for r in results])
            for k in ("ts", "cash", "position", "equity")
        },
        "state": results[-1].state.to_dict(),
    }


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    cfg_i=st.integers(0, len(CONFIGS) - 1),
    kind=st.integers(0, 3),
    cuts=st.lists(st.integers(1, N - 1), min_size=1, max_size=6, unique=True),
    close_at_end=st.sampled_from(["none", "close", "last_open"]),
)
def test_split_runs_equal_one_run(seed, cfg_i, kind, cuts, close_at_end):
    bars = random_bars(seed)
    cfg = EngineConfig(
        instrument=InstrumentSpec("SYN", "NASDAQ", 0.01, 1, allow_short_cnc=True),
        starting_capital=10_000.0,
        **CONFIGS[cfg_i],
    )
    strat, params = strategy(kind)

    one = collect([Engine(cfg, strat, params).run(bars, close_at_end=close_at_end)])

    results = []
    state = None
    ends = [*sorted(cuts), N]
    for k, end in enumerate(ends):
        if state is not None:
            state = json.loads(json.dumps(state, allow_nan=False))
        eng = Engine(cfg, strat, params, state=state)
        last = k == len(ends) - 1
        results.append(eng.run(bars.slice(0, end), close_at_end=close_at_end if last else "none"))
        state = eng.state.to_dict()
    many = collect(results)

    assert many["events"] == one["events"]
    assert many["fills"] == one["fills"]
    assert many["trades"] == one["trades"]
    assert many["orders"] == one["orders"]
    for key, arr in one["equity"].items():
        np.testing.assert_array_equal(many["equity"][key], arr, err_msg=key)
    assert many["state"] == one["state"]


def test_a_live_step_per_bar_equals_the_backtest():
    """The deployment's shape: one step per closed bar, state saved in between."""
    bars = random_bars(7, n=150)
    cfg = EngineConfig(
        instrument=InstrumentSpec("SYN", "NSE", 0.01, 1),
        starting_capital=50_000.0,
        allocation_pct=100.0,
        charges=IndiaEquityCharges(),
        volume_share=0.3,
    )
    strat, params = get("sma_crossover"), {"fast": 4, "slow": 9, "mode": "long_only"}
    one = collect([Engine(cfg, strat, params).run(bars)])
    state = None
    results = []
    for end in range(1, len(bars) + 1):
        eng = Engine(cfg, strat, params, state=state and json.loads(json.dumps(state)))
        results.append(eng.run(bars.slice(0, end)))
        state = eng.state.to_dict()
    many = collect(results)
    assert len(one["fills"]) > 4
    assert many["fills"] == one["fills"] and many["events"] == one["events"]
    np.testing.assert_array_equal(many["equity"]["equity"], one["equity"]["equity"])
    assert many["state"] == one["state"]
