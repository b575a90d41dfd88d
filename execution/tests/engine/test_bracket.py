"""The engine's bracket legs, case by case: the semantics the dashboard's help text states.

Percentages from the entry's fill price; both legs live from the entry bar; the stop first when
both fall in one bar; a gap through either fills at the open; an exit signal closes at the next
open and cancels both legs; a time limit closes at the open after the N-th bar; the trailing
stop follows the closes; the legs' state resumes between live steps.
"""

from __future__ import annotations

import json

import pytest

from execution.engine.charges import ZeroCharges
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.legs import OrderRole, order_role
from execution.engine.runner import Engine
from execution.tests.engine.helpers import T0, Scripted, ohlc_bars

CNC_ONLY = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)  # no short selling
SHORTABLE = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1, allow_short_cnc=True)
QUIET = (100, 100.5, 99.5, 100)


def run(rows, decisions, exits, instrument=CNC_ONLY, **kw):
    cfg = EngineConfig(instrument=instrument, starting_capital=100_000.0, quantity=10,
                       charges=ZeroCharges(), **kw)  # fmt: skip
    return Engine(cfg, Scripted(decisions), {"exits": exits}).run(ohlc_bars(rows))


def ts(i: int) -> int:
    return T0 + 60 * i


def legs(result) -> dict[str, object]:
    return {o.client_order_id.rsplit("-", 2)[2]: o for o in result.orders}


def fills(result) -> list[tuple[str, float]]:
    return [(f.client_order_id.rsplit("-", 1)[1], f.price) for f in result.fills]


SL_TP = {"stop_loss_pct": 2, "target_pct": 4}


def test_the_legs_are_placed_after_the_entry_fills_priced_from_its_fill():
    r = run([QUIET, (101, 101.5, 100.5, 101), QUIET], {0: 1}, SL_TP)
    o = legs(r)
    assert (o["e"].average_price, o["e"].created_ts) == (101.0, ts(1))
    sl, tp = o["sl"], o["tp"]
    assert (sl.order_type, sl.side, sl.trigger_price, sl.quantity) == ("SL-M", "SELL", 99.0, 10)
    assert (tp.order_type, tp.side, tp.price, tp.quantity) == ("LIMIT", "SELL", 105.05, 10)
    assert sl.created_ts == tp.created_ts == ts(1)
    assert order_role(sl.client_order_id) == OrderRole.STOP
    assert order_role(tp.client_order_id) == OrderRole.TARGET
    assert (sl.status, tp.status) == ("TRIGGER_PENDING", "OPEN")  # still protecting


def test_the_legs_meet_the_entry_bar_itself():
    r = run([QUIET, (100, 101, 97, 99)], {0: 1}, SL_TP)
    assert fills(r) == [("e", 100.0), ("sl", 98.0)]
    assert r.trades[0].exit_ts == ts(1)
    assert legs(r)["tp"].status == "CANCELLED"


def test_stop_first_when_both_fall_in_one_bar():
    r = run([QUIET, QUIET, (100, 105, 97, 101)], {0: 1}, SL_TP)
    assert fills(r) == [("e", 100.0), ("sl", 98.0)]


def test_the_target_fills_at_its_price_and_cancels_the_stop():
    r = run([QUIET, QUIET, (100, 104.5, 99, 104)], {0: 1}, SL_TP)
    assert fills(r) == [("e", 100.0), ("tp", 104.0)]
    assert legs(r)["sl"].status == "CANCELLED"


@pytest.mark.parametrize(
    ("bar", "leg", "price"), [((95, 96, 94, 95), "sl", 95.0), ((106, 107, 105, 106), "tp", 106.0)]
)
def test_a_gap_through_a_leg_fills_at_the_open(bar, leg, price):
    r = run([QUIET, QUIET, bar], {0: 1}, SL_TP)
    assert fills(r) == [("e", 100.0), (leg, price)]


def test_an_exit_signal_closes_at_the_next_open_and_cancels_both_legs():
    r = run([QUIET, QUIET, QUIET, (100.2, 106, 96, 101)], {0: 1, 2: 0}, SL_TP)
    assert fills(r) == [("e", 100.0), ("x", 100.2)]
    o = legs(r)
    assert (o["sl"].status, o["sl"].message) == ("CANCELLED", "position closed")
    assert (o["tp"].status, o["tp"].message) == ("CANCELLED", "position closed")


def test_a_short_is_protected_above_and_taken_profit_below():
    r = run([QUIET, QUIET, (100, 102.5, 99, 101)], {0: -1}, SL_TP, instrument=SHORTABLE)
    o = legs(r)
    assert (o["sl"].side, o["sl"].trigger_price, o["tp"].price) == ("BUY", 102.0, 96.0)
    assert fills(r) == [("e", 100.0), ("sl", 102.0)]


def test_max_bars_in_trade_closes_at_the_open_after_the_nth_bar():
    rows = [QUIET, QUIET, QUIET, QUIET, (100.4, 100.5, 99.5, 100), QUIET]
    r = run(rows, {0: 1}, {"max_bars_in_trade": 3})
    assert fills(r) == [("e", 100.0), ("x", 100.4)]
    assert (r.trades[0].entry_ts, r.trades[0].exit_ts) == (ts(1), ts(4))
    # flat again, the target stays long: no new entry until a new decision
    assert r.state.ledger.qty("ACME") == 0 and r.state.bracket is None


def test_the_trailing_stop_follows_the_closes_and_never_loosens():
    rows = [QUIET, QUIET, (100, 106, 100, 105), (105, 105, 103, 103), (103, 103.5, 103, 103)]
    r = run(rows, {0: 1}, {"trailing_stop_pct": 2})
    sl = legs(r)["sl"]
    # 98 at the entry, 102.9 after the close at 105, kept after the close at 103
    assert (sl.trigger_price, sl.status) == (102.9, "TRIGGER_PENDING")
    modified = [e for e in r.events if e.client_order_id == sl.client_order_id]
    assert [e.message for e in modified].count("modified") == 1  # raised once, at 105
    r2 = run([*rows, (103, 103, 102, 102.5)], {0: 1}, {"trailing_stop_pct": 2})
    assert fills(r2)[-1] == ("sl", 102.9)


def test_the_bracket_resumes_between_live_steps():
    rows = [QUIET, QUIET, (100, 106, 100, 105), (105, 105, 103, 103), (103, 103.5, 103, 103),
            (103, 103, 99, 99)]  # fmt: skip
    exits = {"trailing_stop_pct": 2, "target_pct": 10, "max_bars_in_trade": 20}
    whole = run(rows, {0: 1}, exits)
    cfg = EngineConfig(instrument=CNC_ONLY, starting_capital=100_000.0, quantity=10,
                       charges=ZeroCharges())  # fmt: skip
    bars = ohlc_bars(rows)
    state, stepped, mid = None, [], []
    for k in (2, 3, 4, 6):  # a step per bar or two, the state through JSON in between
        part = Engine(cfg, Scripted({0: 1}), {"exits": exits}, state=state).run(bars.slice(0, k))
        state = json.loads(json.dumps(part.state.to_dict()))
        stepped += [(f.client_order_id, f.price) for f in part.fills]
        mid.append(state.get("bracket"))
    assert [(f.client_order_id, f.price) for f in whole.fills] == stepped
    assert fills(whole) == [("e", 100.0), ("sl", 102.9)]
    # the bracket travelled in the state while the position was open, and is gone after
    assert [b and (b["bars"], b["stop"]) for b in mid] == [(1, 98.0), (2, 102.9), (3, 102.9), None]


@pytest.mark.parametrize(
    "exits",
    [
        {"stop_loss_pct": 1, "target_pct": 2},
        {"trailing_stop_pct": 0.8, "target_pct": 3, "max_bars_in_trade": 40},
        {"stop_loss_pct": 2, "trailing_stop_pct": 1},
    ],
)
def test_skipping_quiet_bracket_bars_changes_nothing(monkeypatch, exits):
    """The numpy skip over bars no leg can fill on gives the bar-by-bar run's orders exactly."""
    from execution.engine.bracket import Brackets
    from execution.tests.engine.test_exits_parity import random_walk, sma_rules
    from strategies.catalog import get

    bars = random_walk(3000, 7)
    cfg = EngineConfig(instrument=SHORTABLE, starting_capital=100_000.0, allocation_pct=100.0,
                       charges=ZeroCharges())  # fmt: skip
    doc = sma_rules(5, 15, **exits)
    doc["entry_short"], doc["exit_short"] = doc["exit_long"], doc["entry_long"]

    def snapshot(r):
        orders = [(o.client_order_id, o.status, o.trigger_price, o.price, o.filled_quantity,
                   o.average_price, o.created_ts, o.updated_ts) for o in r.orders]  # fmt: skip
        return orders, [(f.client_order_id, f.price, f.ts) for f in r.fills], r.equity.equity

    fast = snapshot(Engine(cfg, get("rules"), doc).run(bars))
    monkeypatch.setattr(Brackets, "_bracket_skip", lambda self, i, end, bars: i)
    slow = snapshot(Engine(cfg, get("rules"), doc).run(bars))
    assert fast[0] == slow[0] and fast[1] == slow[1]
    assert (fast[2] == slow[2]).all()
    roles = {cid.rsplit("-", 1)[1] for cid, *_ in fast[0]}
    assert {"e", "sl"} <= roles and len(fast[1]) > 40


@pytest.mark.parametrize("chunks", [(1, 2, 3, 50, 51, 700, 1400, 3000), tuple(range(1, 3001, 97))])
def test_a_run_in_steps_equals_the_whole_run_with_trailing_and_time_exits(chunks):
    """Live steps of any size (the skip stops at each step's end) give the backtest's orders."""
    from execution.tests.engine.test_exits_parity import random_walk, sma_rules
    from strategies.catalog import get

    bars = random_walk(3000, 11)
    cfg = EngineConfig(instrument=SHORTABLE, starting_capital=100_000.0, allocation_pct=100.0,
                       charges=ZeroCharges())  # fmt: skip
    doc = sma_rules(5, 15, trailing_stop_pct=0.8, target_pct=3, max_bars_in_trade=30)
    whole = Engine(cfg, get("rules"), doc).run(bars)
    state, fills = None, []
    for k in (*chunks, 3000):
        part = Engine(cfg, get("rules"), doc, state=state).run(bars.slice(0, k))
        state = json.loads(json.dumps(part.state.to_dict()))
        fills += [(f.client_order_id, f.price, f.ts) for f in part.fills]
    assert fills == [(f.client_order_id, f.price, f.ts) for f in whole.fills]
    final = {o.client_order_id: o for o in part.state.broker.orders()}
    assert {
        o.client_order_id: (o.status.value, o.trigger_price, o.price, o.filled_quantity)
        for o in final.values()
    } == {
        o.client_order_id: (o.status, o.trigger_price, o.price, o.filled_quantity)
        for o in whole.orders
    }
    assert len(fills) > 40 and any(cid.endswith("-x") for cid, _, _ in fills)


def test_the_legs_pass_the_risk_gate_before_the_broker():
    """A leg is an order like any other: a target beyond the price band is DENIED with the
    rule (the position keeps its stop), and the legs count towards the per-minute rate."""
    from execution.engine.risk import RiskLimits

    wide = {"stop_loss_pct": 2, "target_pct": 10}
    r = run([QUIET, QUIET, QUIET], {0: 1}, wide, risk=RiskLimits(price_band_pct=5))
    o = legs(r)
    assert (o["tp"].status, o["tp"].denial_rule) == ("DENIED", "price_band_pct")
    assert "band 5%" in o["tp"].message
    assert o["sl"].status == "TRIGGER_PENDING"  # SL-M: no limit price, the band cannot refuse it
    assert not any(e.client_order_id == o["tp"].client_order_id and e.trigger for e in r.events)

    # the legs are counted by the per-minute rate as the entry is
    r = run([QUIET, QUIET, QUIET], {0: 1}, SL_TP, risk=RiskLimits(max_orders_per_minute=10))
    assert r.state.risk_recent == [ts(1)] * 3  # entry, stop, target
