"""The engine's per-bar rules: stop-and-reverse, sizing, risk, manual orders, results."""

import json

import numpy as np
import pytest

from execution.brokers.base import InvalidOrderState
from execution.engine.charges import FlatCommission, IndiaEquityCharges, ZeroCharges
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.orders import OrderStatus, Product
from execution.engine.risk import RiskLimits
from execution.engine.runner import Engine, RiskDenied
from execution.tests.engine.helpers import T0, Scripted, make_bars, ohlc_bars

S = OrderStatus
SPEC = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)
SHORTABLE = InstrumentSpec("ACME", "NASDAQ", tick_size=0.01, lot_size=1, allow_short_cnc=True)


def config(**kw) -> EngineConfig:
    kw.setdefault("instrument", SHORTABLE)
    kw.setdefault("starting_capital", 10_000.0)
    kw.setdefault("charges", ZeroCharges())
    if "quantity" not in kw:
        kw.setdefault("allocation_pct", 100.0)
    return EngineConfig(**kw)


def test_decision_at_a_close_trades_at_the_next_open():
    bars = make_bars([100, 101, 102, 103, 104, 105])
    r = Engine(config(quantity=10), Scripted({1: 1.0})).run(bars)
    (f,) = r.fills
    assert f.ts == bars.ts[2] and f.price == bars.open[2] == 101.0
    assert f.client_order_id == f"bt-{bars.ts[2]}-e"
    assert list(r.equity.position) == [0, 0, 10, 10, 10, 10]
    assert r.equity.equity[-1] == pytest.approx(10_000 + 10 * (105 - 101))


def test_stop_and_reverse_exits_then_enters_all_in_on_the_cash_left():
    bars = make_bars([100, 100, 110, 120, 120, 90, 90])
    cfg = config(charges=FlatCommission(0.2))
    r = Engine(cfg, Scripted({1: 1.0, 3: -1.0})).run(bars)
    entry, exit_, short = r.fills
    # all-in: floor(10,000 / (100 * 1.002)) = 99
    assert (entry.side, entry.quantity, entry.price) == ("BUY", 99, 100.0)
    cash_after_exit = 10_000 - 99 * 100 * 1.002 + 99 * 120 * 0.998
    assert (exit_.side, exit_.quantity, exit_.price) == ("SELL", 99, 120.0)
    assert short.quantity == int(cash_after_exit // (120 * 1.002))
    assert exit_.ts == short.ts == bars.ts[4]
    assert [o.client_order_id for o in r.orders] == [
        f"bt-{bars.ts[2]}-e",
        f"bt-{bars.ts[4]}-x",
        f"bt-{bars.ts[4]}-e",
    ]
    (t1,) = r.trades
    assert t1.quantity == 99 and t1.exit_price == 120.0
    assert t1.pnl == pytest.approx(99 * 20 - 99 * 100 * 0.002 - 99 * 120 * 0.002)


def test_a_run_without_order_records_trades_and_ends_exactly_the_same():
    """``orders=False`` (a sweep's runs) drops only the order records, nothing it computes."""
    bars = make_bars([100, 100, 110, 120, 120, 90, 90, 95, 80])
    cfg = config(charges=FlatCommission(0.2))
    script = {1: 1.0, 3: -1.0, 6: 1.0}
    full = Engine(cfg, Scripted(script)).run(bars)
    lean = Engine(cfg, Scripted(script), orders=False).run(bars)
    assert len(full.orders) == 5 and lean.orders == []
    assert lean.trades == full.trades and lean.fills == full.fills
    assert np.array_equal(lean.equity.equity, full.equity.equity)
    assert np.array_equal(lean.equity.position, full.equity.position)
    assert lean.state.ledger.total_charges == full.state.ledger.total_charges


def test_repeated_and_nan_decisions_do_nothing():
    bars = make_bars([100] * 8)
    r = Engine(config(quantity=1), Scripted({1: 1.0, 2: 1.0, 4: np.nan, 5: 1.0})).run(bars)
    assert len(r.fills) == 1


def test_long_only_flat_decision_exits():
    bars = make_bars([100, 100, 105, 106, 107])
    r = Engine(config(quantity=5), Scripted({0: 1.0, 2: 0.0})).run(bars)
    assert [(f.side, f.quantity) for f in r.fills] == [("BUY", 5), ("SELL", 5)]
    assert r.equity.position[-1] == 0 and len(r.trades) == 1


def test_cnc_short_entry_is_rejected_on_nse():
    bars = make_bars([100, 100, 100, 100])
    r = Engine(config(instrument=SPEC, quantity=5), Scripted({0: -1.0})).run(bars)
    (o,) = r.orders
    assert o.status == "REJECTED" and "no short selling" in o.message
    assert r.fills == []


def test_every_order_has_events_from_creation_to_its_final_status():
    bars = make_bars([100, 100, 110, 120, 120, 90, 90])
    r = Engine(config(quantity=3), Scripted({1: 1.0, 3: -1.0})).run(bars)
    by_order = {}
    for e in r.events:
        by_order.setdefault(e.client_order_id, []).append(e.status)
    assert set(by_order) == {o.client_order_id for o in r.orders}
    for statuses in by_order.values():
        assert statuses == [S.PENDING, S.OPEN, S.COMPLETE]


def test_risk_gate_denies_entries_with_the_rule():
    bars = make_bars([100] * 5)
    cfg = config(quantity=50, risk=RiskLimits(max_order_quantity=10))
    r = Engine(cfg, Scripted({0: 1.0})).run(bars)
    (o,) = r.orders
    assert (o.status, o.denial_rule, o.broker_order_id) == ("DENIED", "max_order_quantity", None)
    assert [e.status for e in r.events] == [S.DENIED]
    assert r.fills == []


def test_exits_are_never_denied_by_size_limits():
    bars = make_bars([100] * 6)
    first = Engine(config(quantity=50), Scripted({0: 1.0}))
    first.run(bars.slice(0, 3))
    strict = config(quantity=50, risk=RiskLimits(max_order_quantity=10, max_position_value=1.0))
    r = Engine(strict, Scripted({0: 1.0, 3: 0.0}), state=first.state.to_dict()).run(bars)
    assert [(o.client_order_id[-1], o.status) for o in r.orders] == [("x", "COMPLETE")]


def test_max_orders_per_minute_counts_in_bar_time():
    bars = make_bars([100] * 10, step=10)
    cfg = config(quantity=1, risk=RiskLimits(max_orders_per_minute=2))
    r = Engine(cfg, Scripted({0: 1.0, 1: 0.0, 2: 1.0, 3: 0.0, 4: 1.0})).run(bars)
    assert [o.status for o in r.orders][:3] == ["COMPLETE", "COMPLETE", "DENIED"]


def test_daily_loss_halts_the_run_cancels_orders_and_places_nothing_more():
    closes = [100, 100, 100, 90, 80, 70, 60, 120, 130]
    bars = make_bars(closes)
    cfg = config(quantity=10, risk=RiskLimits(max_daily_loss=250.0))
    eng = Engine(cfg, Scripted({0: 1.0, 7: 0.0}))
    eng.run(bars.slice(0, 2))
    eng.submit_order(
        client_order_id="manual-limit",
        side="BUY",
        order_type="LIMIT",
        quantity=1,
        price=50.0,
        now_ts=int(bars.ts[1]) + 30,
    )
    r = eng.run(bars)
    # equity 10,000 - 10*(100-80) = 9,800 at bar 4 (loss 200), 9,700 at bar 5 (loss 300)
    assert r.halted_reason.startswith("max_daily_loss")
    assert eng.state.pending is False
    assert [e.status for e in r.events if e.client_order_id == "manual-limit"] == [S.CANCELLED]
    assert not any(o.client_order_id.endswith("-x") for o in r.orders)  # decision 0 at bar 7
    assert r.equity.position[-1] == 10  # the position is kept; the Django layer decides
    again = eng.submit_order(
        client_order_id="after", side="BUY", order_type="MARKET", quantity=1, now_ts=T0 + 9999
    )
    assert again.order.status == "DENIED" and again.order.denial_rule == "halted"


def test_manual_orders_go_through_the_gate_and_the_broker():
    bars = make_bars([100, 100, 99, 98, 97])
    cfg = config(quantity=1, risk=RiskLimits(price_band_pct=5.0))
    eng = Engine(cfg, Scripted({}))
    eng.run(bars.slice(0, 2))
    now = int(bars.ts[1]) + 30
    res = eng.submit_order(
        client_order_id="u1", side="BUY", order_type="LIMIT", quantity=2, price=97.5, now_ts=now
    )
    assert res.order.status == "OPEN" and [e.ts for e in res.events] == [now, now]
    same = eng.submit_order(
        client_order_id="u1", side="BUY", order_type="LIMIT", quantity=9, price=90.0, now_ts=now
    )
    assert same.order.broker_order_id == res.order.broker_order_id and same.events == []
    far = eng.submit_order(
        client_order_id="u2", side="BUY", order_type="LIMIT", quantity=1, price=80.0, now_ts=now
    )
    assert far.order.status == "DENIED" and far.order.denial_rule == "price_band_pct"
    with pytest.raises(RiskDenied):
        eng.modify_order("u1", price=50.0, now_ts=now)
    mod = eng.modify_order("u1", price=98.0, now_ts=now)
    assert mod.order.price == 98.0
    r = eng.run(bars)
    assert [f.client_order_id for f in r.fills] == ["u1"]
    assert r.fills[0].price == 98.0  # bar 2 opens at 100, trades down to 98.5 -> no; bar 3
    assert eng.state.ledger.qty("ACME") == 2
    with pytest.raises(InvalidOrderState):
        eng.cancel_order("u1", now_ts=now)


def test_manual_cancel():
    eng = Engine(config(quantity=1), Scripted({}))
    eng.run(make_bars([100, 100]))
    eng.submit_order(
        client_order_id="c", side="SELL", order_type="LIMIT", quantity=1, price=120.0,
        product=Product.MIS, now_ts=T0 + 500,
    )  # fmt: skip
    res = eng.cancel_order("c", now_ts=T0 + 600)
    assert res.order.status == "CANCELLED" and res.events[0].ts == T0 + 600


@pytest.mark.parametrize(("mode", "price"), [("close", 130.0), ("last_open", 120.0)])
def test_close_at_end(mode, price):
    bars = make_bars([100, 100, 110, 120, 130])
    r = Engine(config(quantity=10, close_at_end=mode), Scripted({0: 1.0})).run(bars)
    assert r.fills[-1].price == price and r.fills[-1].client_order_id.endswith("-sq")
    assert r.equity.position[-1] == 0
    assert r.equity.equity[-1] == pytest.approx(10_000 + 10 * (price - 100))
    assert len(r.trades) == 1 and r.trades[0].exit_price == price


def test_exit_partially_filled_by_volume_enters_only_once_flat():
    rows = [(100, 101, 99, 100)] * 8
    bars = ohlc_bars(rows, volume=100)
    cfg = config(quantity=30, volume_share=0.2)  # 20 per bar
    r = Engine(cfg, Scripted({0: 1.0, 2: -1.0})).run(bars)
    fills = [(f.client_order_id.split("-")[-1], f.quantity, f.ts) for f in r.fills]
    # entry 20 + 10 over bars 1-2; exit 20 at bar 3 then 10 at bar 4; entry then at bar 4
    assert [(leg, q) for leg, q, _ in fills] == [
        ("e", 20), ("e", 10), ("x", 20), ("x", 10), ("e", 10), ("e", 20)
    ]  # fmt: skip
    assert list(r.equity.position) == [0, 20, 30, 10, -10, -30, -30, -30]


def test_progress_is_reported_a_bounded_number_of_times():
    bars = make_bars(100 + np.sin(np.arange(10_000) / 20) * 5)
    seen = []
    Engine(config(quantity=1), Scripted({i: (-1) ** i for i in range(0, 10_000, 37)})).run(
        bars, progress=seen.append
    )
    assert 2 <= len(seen) <= 102
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_equity_curve_is_cash_plus_position_at_the_close():
    rng = np.random.default_rng(1)
    closes = np.round(100 * np.exp(np.cumsum(rng.normal(0, 0.01, 500))), 2)
    bars = make_bars(closes)
    dec = {int(i): float(rng.choice([-1, 0, 1])) for i in rng.choice(500, 60, replace=False)}
    cfg = config(instrument=SHORTABLE, charges=IndiaEquityCharges(), product=Product.MIS)
    r = Engine(cfg, Scripted(dec)).run(bars)
    eq = r.equity
    assert len(eq) == 500
    np.testing.assert_allclose(eq.equity, eq.cash + eq.position * bars.close, rtol=0, atol=1e-6)
    assert np.all(np.diff(eq.ts) > 0)
    led = r.state.ledger
    assert eq.equity[-1] == pytest.approx(led.equity)


def test_nothing_is_processed_twice():
    bars = make_bars([100, 100, 101, 102])
    eng = Engine(config(quantity=1), Scripted({0: 1.0}))
    first = eng.run(bars)
    again = eng.run(bars)
    assert first.bars_processed == 4 and again.bars_processed == 0
    assert again.orders == [] and again.fills == [] and len(again.equity) == 0


def test_state_is_json_safe():
    bars = make_bars([100, 100, 101, 102])
    eng = Engine(config(quantity=1, charges=IndiaEquityCharges()), Scripted({0: 1.0}))
    r = eng.run(bars)
    text = json.dumps(r.state.to_dict(), allow_nan=False)
    again = Engine(eng.config, Scripted({}), state=json.loads(text))
    assert again.state.to_dict() == r.state.to_dict()
    assert json.dumps([o.to_dict() for o in r.orders], allow_nan=False)


def test_config_validation_and_round_trip():
    with pytest.raises(ValueError):
        EngineConfig(instrument=SPEC)  # neither sizing
    with pytest.raises(ValueError):
        EngineConfig(instrument=SPEC, quantity=1, allocation_pct=10)
    with pytest.raises(ValueError):
        EngineConfig(instrument=InstrumentSpec("X", lot_size=5), quantity=7)
    cfg = config(risk=RiskLimits(max_daily_loss=5.0), charges=FlatCommission(0.1))
    again = EngineConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again.to_dict() == cfg.to_dict()


# ---------------------------------------------------------------- manual orders between steps

# Bar 3 closed and bar 4 was in progress when the manual orders below are placed: a live step
# that lags processes both after the order exists, yet both opened before it did.
_LAGGED = [
    (100, 101, 99, 100),
    (100, 101, 99, 100),
    (100, 101, 99, 100),
    (94, 95, 90, 93),  # closed, not yet processed: opens at 94, trades down to 90
    (93, 99, 92, 98),  # in progress: trades down to 92
    (99, 100, 98, 99),  # the first bar that opens after the orders
    (99, 99.5, 94, 95),  # trades through 95 and 96
]


def _between_steps(place) -> tuple[Engine, object]:
    """Process bars 0-2, call ``place(engine, now)`` mid-bar 4, then bars 3-6 (via JSON)."""
    bars = ohlc_bars(_LAGGED)
    eng = Engine(config(quantity=1), Scripted({}))
    eng.run(bars.slice(0, 3))
    place(eng, int(bars.ts[4]) + 30)
    state = json.loads(json.dumps(eng.state.to_dict()))  # what a live deployment stores
    return bars, Engine(eng.config, Scripted({}), state=state).run(bars)


def test_a_manual_market_order_fills_at_the_first_open_after_it_was_placed():
    def place(eng, now):
        eng.submit_order(client_order_id="m", side="BUY", order_type="MARKET", quantity=5,
                         now_ts=now)  # fmt: skip

    bars, r = _between_steps(place)
    (f,) = r.fills
    assert (f.ts, f.price) == (bars.ts[5], 99.0)  # not bar 3's open (94), nor bar 4's (93)
    assert list(r.equity.position) == [0, 0, 5, 5]


def test_manual_limit_and_stop_orders_meet_only_bars_that_open_after_them():
    def place(eng, now):
        eng.submit_order(client_order_id="lim", side="BUY", order_type="LIMIT", quantity=5,
                         price=95.0, now_ts=now)  # fmt: skip
        eng.submit_order(client_order_id="slm", side="SELL", order_type="SL-M", quantity=5,
                         trigger_price=96.0, now_ts=now)  # fmt: skip

    bars, r = _between_steps(place)
    fills = {f.client_order_id: (f.ts, f.price) for f in r.fills}
    # bars 3 and 4 traded through both prices, but before the orders existed
    assert fills == {"lim": (bars.ts[6], 95.0), "slm": (bars.ts[6], 96.0)}
    triggered = [e for e in r.events if e.client_order_id == "slm" and e.trigger == "TRIGGER"]
    assert [e.ts for e in triggered] == [bars.ts[6]]


def test_a_modified_order_meets_only_bars_that_open_after_the_change():
    bars = ohlc_bars(_LAGGED)
    eng = Engine(config(quantity=1), Scripted({}))
    eng.run(bars.slice(0, 3))
    eng.submit_order(client_order_id="lim", side="BUY", order_type="LIMIT", quantity=5,
                     price=80.0, now_ts=int(bars.ts[2]) + 30)  # fmt: skip
    eng.modify_order("lim", price=95.0, now_ts=int(bars.ts[4]) + 30)
    r = eng.run(bars)
    assert [(f.ts, f.price) for f in r.fills] == [(bars.ts[6], 95.0)]


def test_feed_ts_is_the_feeds_clock_when_it_differs_from_the_wall_clock():
    """A replay: bars keep their historical times, the order is placed years later."""

    def place(eng, now):
        eng.submit_order(client_order_id="m", side="BUY", order_type="MARKET", quantity=5,
                         now_ts=now + 10**8, feed_ts=now)  # fmt: skip

    bars, r = _between_steps(place)
    assert [(f.ts, f.price) for f in r.fills] == [(bars.ts[5], 99.0)]
    assert r.orders[0].created_ts == int(bars.ts[4]) + 30 + 10**8


def test_strategy_orders_still_fill_at_the_open_after_the_decision():
    bars = ohlc_bars(_LAGGED)
    eng = Engine(config(quantity=5), Scripted({3: 1.0}))
    eng.run(bars.slice(0, 3))
    r = eng.run(bars)
    assert [(f.ts, f.price) for f in r.fills] == [(bars.ts[4], 93.0)]


def test_an_exit_capped_by_volume_is_not_sent_again_on_top_of_its_remainder():
    bars = ohlc_bars([(100, 101, 99, 100)] * 12, volume=100)
    cfg = config(quantity=30, volume_share=0.1)  # 10 per bar
    r = Engine(cfg, Scripted({0: 1.0, 5: 0.0})).run(bars)  # long_only: in, then out
    # entry 10 + 10 + 10 over bars 1-3; the exit sells 10 at bars 6, 7 and 8, one order
    assert list(r.equity.position) == [0, 10, 20, 30, 30, 30, 20, 10, 0, 0, 0, 0]
    assert [o.client_order_id[-1] for o in r.orders] == ["e", "x"]
    assert (r.orders[1].quantity, r.orders[1].status) == (30, S.COMPLETE)


def test_a_reversal_cancels_the_entry_remainder_before_exiting():
    bars = ohlc_bars([(100, 101, 99, 100)] * 7, volume=100)
    cfg = config(quantity=30, volume_share=0.1)
    r = Engine(cfg, Scripted({0: 1.0, 1: -1.0})).run(bars)
    # bar 1 buys 10 of 30; at bar 2 the rest is cancelled, those 10 sold, then 30 short
    assert list(r.equity.position) == [0, 10, 0, -10, -20, -30, -30]
    entry, exit_, short = r.orders
    assert (entry.status, entry.filled_quantity) == (S.CANCELLED, 10)
    assert (exit_.side, exit_.quantity, exit_.status) == ("SELL", 10, S.COMPLETE)
    assert (short.side, short.quantity, short.status) == ("SELL", 30, S.COMPLETE)
