"""The paper broker's fill rules, case by case."""

import json
from datetime import UTC, datetime

import pytest

from execution.brokers.base import (
    InsufficientFunds,
    InvalidOrderState,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
)
from execution.brokers.paper import PaperBroker
from execution.engine.charges import IndiaEquityCharges, ZeroCharges
from execution.engine.config import InstrumentSpec, SessionCalendar
from execution.engine.orders import OrderStatus, OrderType, Product, Side, Validity

S = OrderStatus
SPEC = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)
T0 = 1_700_000_000


def make(**kw) -> PaperBroker:
    kw.setdefault("starting_cash", 1_000_000.0)
    kw.setdefault("charges", ZeroCharges())
    instruments = kw.pop("instruments", [SPEC])
    return PaperBroker(instruments, **kw)


def bar(br, ts, o, h, lo, c, v=1e9, symbol="ACME"):
    br.begin_bar(symbol, ts, o, h, lo, c, v)
    br.match_bar()


def req(cid, side="BUY", otype="MARKET", qty=10, **kw):
    kw.setdefault("product", Product.MIS)
    return OrderRequest(cid, kw.pop("symbol", "ACME"), Side(side), OrderType(otype), qty, **kw)


def status(br, cid):
    return br.order_by_client_id(cid)


def fills_of(br, cid):
    return [f for f in br.fills() if f.client_order_id == cid]


@pytest.fixture
def br():
    b = make()
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)  # a last price for market orders
    return b


# ---------------------------------------------------------------- market orders


def test_market_fills_at_next_open_with_slippage_rounded_against_the_taker():
    b = make(slippage_bps=10)
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    b.place_order(req("buy"))
    b.place_order(req("sell", "SELL"))
    assert status(b, "buy").status is S.OPEN  # waits for the next bar
    bar(b, T0 + 60, 100.02, 101.0, 99.0, 100.5)
    # 100.02 * 1.001 = 100.12002 -> up to the tick: 100.15; 100.02 * 0.999 = 99.91998 -> 99.90
    assert fills_of(b, "buy")[0].price == 100.15
    assert fills_of(b, "sell")[0].price == 99.90
    assert status(b, "buy").status is S.COMPLETE
    assert status(b, "buy").average_price == 100.15


def test_market_order_events_pending_open_complete(br):
    br.drain_events()
    br.place_order(req("m"))
    bar(br, T0 + 60, 101.0, 102.0, 100.0, 101.5)
    events = [e for e in br.drain_events() if e.client_order_id == "m"]
    assert [e.status for e in events] == [S.PENDING, S.OPEN, S.COMPLETE]
    assert [e.raw_status for e in events] == ["PUT ORDER REQ RECEIVED", "OPEN", "COMPLETE"]
    assert events[-1].ts == T0 + 60
    assert all(e.broker_order_id == events[0].broker_order_id for e in events)


def test_order_placed_during_the_open_phase_fills_at_this_open(br):
    br.market_protection_pct = None  # a 3 % gap: market protection has its own tests
    br.begin_bar("ACME", T0 + 60, 103.0, 104.0, 102.0, 103.5, 1e9)
    br.place_order(req("now"))
    br.fill_open()
    assert fills_of(br, "now")[0].price == 103.0
    br.match_bar()
    assert len(fills_of(br, "now")) == 1


def test_market_order_without_any_price_is_rejected():
    b = make()
    o = b.place_order(req("m"))
    assert o.status is S.REJECTED and "no market price" in o.status_message


# ---------------------------------------------------------------- limit orders


def test_limit_buy_fills_when_the_bar_trades_through_at_the_limit(br):
    br.place_order(req("l", otype="LIMIT", price=99.0))
    bar(br, T0 + 60, 100.0, 100.5, 99.0, 100.0)  # touches 99.00 only: not through
    assert status(br, "l").status is S.OPEN
    bar(br, T0 + 120, 100.0, 100.5, 98.5, 99.5)
    assert fills_of(br, "l")[0].price == 99.0
    assert status(br, "l").status is S.COMPLETE


def test_limit_buy_gapping_through_fills_at_the_open(br):
    br.place_order(req("l", otype="LIMIT", price=99.0))
    bar(br, T0 + 60, 97.0, 98.0, 96.0, 97.5)
    assert fills_of(br, "l")[0].price == 97.0


def test_limit_sell_trade_through_and_gap(br):
    br.place_order(req("s1", "SELL", "LIMIT", price=101.0))
    br.place_order(req("s2", "SELL", "LIMIT", price=102.0))
    bar(br, T0 + 60, 100.0, 101.5, 99.0, 101.0)
    assert fills_of(br, "s1")[0].price == 101.0
    assert status(br, "s2").status is S.OPEN
    bar(br, T0 + 120, 103.0, 104.0, 102.5, 103.0)  # gaps above 102: at the open
    assert fills_of(br, "s2")[0].price == 103.0


# ---------------------------------------------------------------- stop orders


def test_slm_sell_triggers_at_the_trigger_then_fills_as_market(br):
    br.place_order(req("stop", "SELL", "SL-M", trigger_price=95.0))
    assert status(br, "stop").status is S.TRIGGER_PENDING
    bar(br, T0 + 60, 97.0, 98.0, 95.5, 96.0)
    assert status(br, "stop").status is S.TRIGGER_PENDING
    br.drain_events()
    bar(br, T0 + 120, 97.0, 98.0, 94.0, 96.0)
    assert fills_of(br, "stop")[0].price == 95.0
    assert [e.status for e in br.drain_events()] == [S.OPEN, S.COMPLETE]


def test_slm_gap_through_the_trigger_fills_at_the_open_with_slippage():
    b = make(slippage_bps=20, market_protection_pct=None)  # protection: test_market_protection
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    b.place_order(req("stop", "SELL", "SL-M", trigger_price=95.0))
    b.place_order(req("bstop", "BUY", "SL-M", trigger_price=105.0))
    bar(b, T0 + 60, 93.0, 94.0, 92.0, 93.5)
    # 93 * 0.998 = 92.814 -> down to 92.80
    assert fills_of(b, "stop")[0].price == 92.80
    bar(b, T0 + 120, 104.0, 106.0, 103.0, 105.0)
    # triggered at 105 -> 105 * 1.002 = 105.21 -> up to 105.25
    assert fills_of(b, "bstop")[0].price == 105.25


def test_sl_buy_triggers_then_acts_as_a_limit(br):
    br.place_order(req("sl", "BUY", "SL", price=106.0, trigger_price=105.0))
    bar(br, T0 + 60, 103.0, 107.0, 102.0, 106.0)  # trigger 105 reached inside the bar
    assert fills_of(br, "sl")[0].price == 105.0


def test_sl_buy_gapping_above_its_limit_rests_as_a_limit(br):
    br.place_order(req("sl", "BUY", "SL", price=106.0, trigger_price=105.0))
    bar(br, T0 + 60, 108.0, 109.0, 107.0, 108.5)
    o = status(br, "sl")
    assert o.status is S.OPEN and o.filled_quantity == 0  # triggered, limit not reachable
    bar(br, T0 + 120, 107.0, 107.5, 105.5, 106.0)
    assert fills_of(br, "sl")[0].price == 106.0


def test_sl_limit_must_be_on_the_right_side_of_its_trigger(br):
    o = br.place_order(req("bad", "BUY", "SL", price=104.0, trigger_price=105.0))
    assert o.status is S.REJECTED and "trigger" in o.status_message


# ---------------------------------------------------------------- validity


def test_ioc_remainder_expires_after_the_first_bar(br):
    br.place_order(req("ioc", otype="LIMIT", price=90.0, validity=Validity.IOC))
    bar(br, T0 + 60, 100.0, 101.0, 99.0, 100.0)
    o = status(br, "ioc")
    assert o.status is S.EXPIRED and o.filled_quantity == 0 and o.pending_quantity == 0


def test_ioc_market_partial_fill_then_expiry():
    b = make(volume_share=0.1)
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    b.place_order(req("ioc", qty=100, validity=Validity.IOC))
    bar(b, T0 + 60, 100.0, 101.0, 99.0, 100.0, v=400)  # 10% of 400 = 40
    o = status(b, "ioc")
    assert o.filled_quantity == 40 and o.status is S.EXPIRED


IST = SessionCalendar("Asia/Kolkata", "09:15", "15:30")


def ist(y, m, d, hh, mm):
    from zoneinfo import ZoneInfo

    return int(datetime(y, m, d, hh, mm, tzinfo=ZoneInfo("Asia/Kolkata")).timestamp())


def test_day_order_expires_at_the_session_close_with_a_calendar():
    b = make(calendar=IST)
    bar(b, ist(2024, 1, 2, 9, 15), 100.0, 100.5, 99.5, 100.0)
    b.place_order(req("day", otype="LIMIT", price=90.0))
    bar(b, ist(2024, 1, 2, 15, 29), 100.0, 100.5, 99.5, 100.0)
    assert status(b, "day").status is S.OPEN
    b.drain_events()
    bar(b, ist(2024, 1, 3, 9, 15), 100.0, 100.5, 89.0, 100.0)  # would fill, but too late
    o = status(b, "day")
    assert o.status is S.EXPIRED and o.filled_quantity == 0
    (ev,) = [e for e in b.drain_events() if e.client_order_id == "day"]
    assert ev.ts == ist(2024, 1, 2, 15, 30)


def test_day_order_never_expires_on_the_24h_synthetic_market(br):
    br.place_order(req("day", otype="LIMIT", price=90.0))
    for k in range(1, 5):
        bar(br, T0 + k * 86_400, 100.0, 100.5, 99.5, 100.0)
    assert status(br, "day").status is S.OPEN
    bar(br, T0 + 9 * 86_400, 100.0, 100.5, 89.0, 95.0)
    assert status(br, "day").status is S.COMPLETE


# ---------------------------------------------------------------- checks


def test_quantity_must_be_a_multiple_of_the_lot_size():
    b = make(instruments=[InstrumentSpec("NIFTYFUT", "NSE", 0.05, lot_size=25)])
    bar(b, T0, 100.0, 100.5, 99.5, 100.0, symbol="NIFTYFUT")
    o = b.place_order(req("lot", qty=30, symbol="NIFTYFUT"))
    assert o.status is S.REJECTED and "lot size 25" in o.status_message
    assert b.place_order(req("ok", qty=50, symbol="NIFTYFUT")).status is S.OPEN
    assert b.place_order(req("zero", qty=0, symbol="NIFTYFUT")).status is S.REJECTED


def test_prices_must_be_multiples_of_the_tick_size(br):
    o = br.place_order(req("tick", otype="LIMIT", price=100.03))
    assert o.status is S.REJECTED and "tick size" in o.status_message
    o = br.place_order(req("trig", "SELL", "SL-M", trigger_price=95.01))
    assert o.status is S.REJECTED and "tick size" in o.status_message
    assert br.place_order(req("fine", otype="LIMIT", price=100.05)).status is S.OPEN


def test_insufficient_funds_is_a_rejection_with_the_reason():
    b = make(starting_cash=1_000.0, charges=IndiaEquityCharges())
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    o = b.place_order(req("big", qty=10, product=Product.CNC))  # 1,000 + charges
    assert o.status is S.REJECTED and o.status_message.startswith("insufficient funds")
    assert b.place_order(req("fits", qty=9, product=Product.CNC)).status is S.OPEN
    # the working buy reserves its funds
    assert b.place_order(req("more", qty=1, product=Product.CNC)).status is S.REJECTED


def test_cnc_short_sale_is_refused_on_nse_but_mis_short_is_fine(br):
    o = br.place_order(req("short", "SELL", product=Product.CNC))
    assert o.status is S.REJECTED and "no short selling" in o.status_message
    assert br.place_order(req("mis", "SELL", product=Product.MIS)).status is S.OPEN


def test_cnc_sell_of_a_holding_is_fine_and_an_instrument_may_allow_shorts(br):
    br.place_order(req("buy", product=Product.CNC))
    bar(br, T0 + 60, 100.0, 100.5, 99.5, 100.0)
    assert br.place_order(req("sell", "SELL", qty=10, product=Product.CNC)).status is S.OPEN
    assert br.place_order(req("more", "SELL", qty=1, product=Product.CNC)).status is S.REJECTED
    b = make(instruments=[InstrumentSpec("GOOG", "NASDAQ", 0.01, 1, allow_short_cnc=True)])
    bar(b, T0, 100.0, 100.5, 99.5, 100.0, symbol="GOOG")
    o = b.place_order(req("s", "SELL", product=Product.CNC, symbol="GOOG"))
    assert o.status is S.OPEN


def test_unknown_instrument_is_rejected(br):
    assert br.place_order(req("x", symbol="NOPE")).status is S.REJECTED


# ---------------------------------------------------------------- partial fills


def test_partial_fills_capped_by_volume_share_across_bars():
    b = make(volume_share=0.1)
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    b.place_order(req("big", qty=120))
    bar(b, T0 + 60, 100.0, 100.5, 99.5, 100.0, v=500)  # 50
    o = status(b, "big")
    assert (o.status, o.filled_quantity, o.pending_quantity) == (S.PARTIALLY_FILLED, 50, 70)
    assert o.raw_status == "OPEN"
    bar(b, T0 + 120, 101.0, 101.5, 100.5, 101.0, v=500)  # 50 more at the next open
    bar(b, T0 + 180, 102.0, 102.5, 101.5, 102.0, v=500)  # the last 20
    o = status(b, "big")
    assert o.status is S.COMPLETE and o.filled_quantity == 120
    assert [f.quantity for f in fills_of(b, "big")] == [50, 50, 20]
    assert o.average_price == pytest.approx((50 * 100 + 50 * 101 + 20 * 102) / 120)
    assert b.positions()[0].quantity == 120


def test_volume_budget_is_shared_by_all_orders_of_a_bar():
    b = make(volume_share=0.5)
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    b.place_order(req("a", qty=30))
    b.place_order(req("b", qty=30))
    bar(b, T0 + 60, 100.0, 100.5, 99.5, 100.0, v=100)
    assert status(b, "a").filled_quantity == 30
    assert status(b, "b").filled_quantity == 20


# ---------------------------------------------------------------- idempotency, cancel, modify


def test_same_client_order_id_returns_the_first_order_and_creates_nothing(br):
    first = br.place_order(req("dup", otype="LIMIT", price=95.0))
    n_events = len(br.drain_events())
    again = br.place_order(req("dup", otype="LIMIT", price=96.0, qty=99))
    assert again == first
    assert br.drain_events() == []
    assert len([o for o in br.orders() if o.client_order_id == "dup"]) == 1
    assert n_events == 2


def test_cancel_and_modify(br):
    o = br.place_order(req("l", otype="LIMIT", price=95.0))
    m = br.modify_order(o.broker_order_id, price=96.0, quantity=20)
    assert (m.price, m.quantity, m.status) == (96.0, 20, S.OPEN)
    with pytest.raises(OrderRejected):
        br.modify_order(o.broker_order_id, price=96.03)
    assert br.order_status(o.broker_order_id).price == 96.0
    c = br.cancel_order(o.broker_order_id)
    assert c.status is S.CANCELLED and c.pending_quantity == 0
    with pytest.raises(InvalidOrderState):
        br.cancel_order(o.broker_order_id)
    with pytest.raises(InvalidOrderState):
        br.modify_order(o.broker_order_id, price=97.0)
    with pytest.raises(OrderNotFound):
        br.cancel_order("nope")


def test_modify_cannot_go_below_the_filled_quantity_or_beyond_funds():
    b = make(volume_share=0.1, starting_cash=20_000.0)
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    o = b.place_order(req("p", qty=100))
    bar(b, T0 + 60, 100.0, 100.5, 99.5, 100.0, v=300)
    assert b.order_status(o.broker_order_id).filled_quantity == 30
    with pytest.raises(OrderRejected):
        b.modify_order(o.broker_order_id, quantity=30)
    with pytest.raises(InsufficientFunds):
        b.modify_order(o.broker_order_id, quantity=1_000)
    assert b.modify_order(o.broker_order_id, quantity=40).status is S.PARTIALLY_FILLED


# ---------------------------------------------------------------- money, state, randomness


def test_fills_carry_charges_and_the_account_pays_them():
    b = make(charges=IndiaEquityCharges())
    bar(b, T0, 1000.0, 1000.0, 1000.0, 1000.0)
    b.place_order(req("b", qty=100, product=Product.MIS))
    bar(b, T0 + 60, 1000.0, 1001.0, 999.0, 1000.0)
    (f,) = b.fills()
    assert f.charges.brokerage == 20.0 and f.charges.total == 30.55
    assert b.funds().cash == pytest.approx(1_000_000.0 - 100_000.0 - 30.55)
    assert b.positions()[0].quantity == 100


def test_state_round_trips_through_json_mid_flight():
    def script(b, stop_at=None):
        bar(b, T0, 100.0, 100.5, 99.5, 100.0)
        b.place_order(req("l", otype="LIMIT", price=98.0, qty=50))
        b.place_order(req("s", "SELL", "SL-M", qty=5, trigger_price=97.0))
        b.place_order(req("m", qty=80))
        for k in range(1, 6):
            if k == stop_at:
                b = PaperBroker.from_state(json.loads(json.dumps(b.to_state())))
            bar(b, T0 + 60 * k, 100.0 - k, 100.5 - k, 99.0 - k, 99.5 - k, v=300)
        return b

    plain = script(make(volume_share=0.1))
    for stop in (1, 3, 5):
        resumed = script(make(volume_share=0.1), stop_at=stop)
        assert resumed.orders() == plain.orders()
        assert resumed.funds() == plain.funds()
        assert resumed.positions() == plain.positions()


def test_random_slippage_is_reproducible_and_bounded():
    def run(seed):
        b = make(slippage_bps=50, slippage_random=True, seed=seed)
        bar(b, T0, 100.0, 100.5, 99.5, 100.0)
        for k in range(20):
            b.place_order(req(f"o{k}", "BUY" if k % 2 else "SELL"))
        bar(b, T0 + 60, 100.0, 101.0, 99.0, 100.0)
        return [f.price for f in b.fills()]

    a, again, other = run(1), run(1), run(2)
    assert a == again and a != other
    assert all(99.5 - 1e-9 <= p <= 100.5 + 1e-9 for p in a)


def test_event_timestamps_follow_the_clock_between_bars(br):
    br.clock = T0 + 30
    br.drain_events()
    br.place_order(req("l", otype="LIMIT", price=95.0))
    assert {e.ts for e in br.drain_events()} == {T0 + 30}
    assert datetime.fromtimestamp(T0, UTC).year == 2023


# ---------------------------------------------------------------- orders placed between bars


def test_an_order_placed_between_bars_meets_only_bars_that_open_after_it(br):
    # A live step may still have to show bars that opened before the order existed: one that
    # closed since the last step (T0 + 60) and the one in progress when it was placed (T0 + 120).
    br.feed_clock = T0 + 150
    br.place_order(req("m"))
    br.place_order(req("lim", otype="LIMIT", price=95.0))
    br.place_order(req("slm", "SELL", "SL-M", trigger_price=96.0))
    br.feed_clock = None
    bar(br, T0 + 60, 94.0, 95.0, 90.0, 93.0)
    bar(br, T0 + 120, 93.0, 99.0, 92.0, 98.0)
    assert br.fills() == []
    assert [status(br, c).status for c in ("m", "lim", "slm")] == [S.OPEN, S.OPEN,
                                                                   S.TRIGGER_PENDING]  # fmt: skip

    bar(br, T0 + 180, 99.0, 100.0, 98.0, 99.0)
    assert [(f.client_order_id, f.ts, f.price) for f in br.fills()] == [("m", T0 + 180, 99.0)]
    bar(br, T0 + 240, 99.0, 99.5, 94.0, 95.0)
    assert {f.client_order_id: f.price for f in br.fills()} == {"m": 99.0, "lim": 95.0,
                                                                "slm": 96.0}  # fmt: skip


def test_without_a_feed_clock_an_order_waits_for_a_bar_after_the_last_one_shown(br):
    br.place_order(req("m"))
    bar(br, T0, 90.0, 90.5, 89.5, 90.0)  # the last bar shown again (a backtest's final square-off)
    assert br.fills() == []
    bar(br, T0 + 60, 101.0, 102.0, 100.0, 101.5)
    assert [(f.ts, f.price) for f in br.fills()] == [(T0 + 60, 101.0)]


def test_a_modification_between_bars_applies_only_to_bars_after_it(br):
    br.place_order(req("lim", otype="LIMIT", price=80.0))
    bar(br, T0 + 60, 100.0, 100.5, 99.5, 100.0)
    br.feed_clock = T0 + 150
    br.modify_order(status(br, "lim").broker_order_id, price=95.0)
    br.feed_clock = None
    bar(br, T0 + 120, 93.0, 99.0, 92.0, 98.0)  # in progress when the price changed
    assert status(br, "lim").status is S.OPEN
    bar(br, T0 + 180, 99.0, 99.5, 94.0, 95.0)
    assert [(f.ts, f.price) for f in br.fills()] == [(T0 + 180, 95.0)]


def test_the_wait_survives_a_json_round_trip_and_leaves_no_trace_after(br):
    plain = br.to_state()
    assert "after" not in plain
    br.feed_clock = T0 + 150
    br.place_order(req("m"))
    br.feed_clock = None
    b = PaperBroker.from_state(json.loads(json.dumps(br.to_state())))
    bar(b, T0 + 120, 93.0, 99.0, 92.0, 98.0)
    assert b.fills() == []
    bar(b, T0 + 180, 99.0, 100.0, 98.0, 99.0)
    assert [(f.ts, f.price) for f in b.fills()] == [(T0 + 180, 99.0)]
    assert "after" not in b.to_state()


# ---------------------------------------------------------------- the book stored by order


def _stored(b):
    """``b`` as a driver storing each order apart keeps it: state and records (JSON)."""
    state = json.loads(json.dumps(b.to_state(book=False)))
    records = json.loads(json.dumps(b.changed_records()))
    return state, records


def test_a_partial_load_counts_the_orders_it_did_not_load():
    b = make(instruments=[SPEC], starting_cash=10_000.0)
    bar(b, T0, 100.0, 100.5, 99.5, 100.0)
    b.submit(req("long", qty=30))
    bar(b, T0 + 60, 100.0, 100.5, 99.5, 100.0)  # 30 held
    for k in range(5):
        b.submit(req(f"r{k}", otype="LIMIT", qty=10, price=90.0))
    b.submit(req("s", side="SELL", otype="LIMIT", qty=20, price=120.0, product=Product.CNC))
    state, records = _stored(b)
    assert "orders" not in state and state["book"]["working"] == 6

    one = [r for r in records if r["cid"] == "r0"]
    p = PaperBroker.from_state(state, one, partial=True)
    full = PaperBroker.from_state(state, [r for r in records if r["status"] == "OPEN"])

    assert p.working_count() == full.working_count() == b.working_count() == 6
    assert p.available_funds() == pytest.approx(b.available_funds(), abs=1e-6)
    assert full.available_funds() == b.available_funds()
    # the CNC sell check sees the 20 the unloaded order already sells of the 30 held
    p.clock = T0 + 90
    assert status_of(p.place_order(req("s2", side="SELL", otype="LIMIT", qty=20, price=120.0,
                                       product=Product.CNC))) == S.REJECTED  # fmt: skip
    # funds: the unloaded orders' reservations still count
    too_much = int(p.available_funds() // 90.0) + 10
    assert status_of(p.place_order(req("big", otype="LIMIT", qty=too_much, price=90.0))) == (
        S.REJECTED
    )
    # only what the partial load created or changed is written back; the summary follows
    p.cancel_order(p.order_by_client_id("r0").broker_order_id)
    state2, written = _stored(p)
    assert sorted(r["cid"] for r in written) == ["big", "r0", "s2"]
    assert state2["book"]["working"] == 5
    assert state2["book"]["cnc_selling"] == {"ACME": 20}


def status_of(order):
    return order.status


def test_event_messages_keep_every_digit_of_a_six_figure_price():
    """MRF trades above ₹1,00,000: a six-significant-digit format would log 131234 for 131234.45."""
    b = make(starting_cash=10_000_000.0)
    bar(b, T0, 131_234.45, 131_300.0, 131_200.0, 131_250.0)
    b.drain_events()
    b.place_order(req("mrf", qty=1))
    b.place_order(req("stop", "SELL", "SL-M", qty=1, trigger_price=131_210.35))
    bar(b, T0 + 60, 131_234.45, 131_300.0, 131_200.0, 131_250.0)
    messages = {(e.client_order_id, e.message) for e in b.drain_events()}
    assert ("mrf", "filled 1 @ 131234.45") in messages
    assert ("stop", "triggered at 131210.35") in messages
