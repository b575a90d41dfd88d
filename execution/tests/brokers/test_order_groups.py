"""Order groups (bracket legs) in the paper broker: one cancels the other, and both go when
the position they protect is closed by anything else (``BrokerAdapter``, "Order groups")."""

import json

from execution.brokers.base import OrderRequest
from execution.brokers.paper import PaperBroker
from execution.engine.charges import ZeroCharges
from execution.engine.config import InstrumentSpec
from execution.engine.orders import OrderStatus, OrderType, Product, Side

S = OrderStatus
SPEC = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)  # CNC: no short selling
T0 = 1_700_000_000


def bar(br, ts, o, h, lo, c, v=1e9):
    br.begin_bar("ACME", ts, o, h, lo, c, v)
    br.match_bar()


def req(cid, side, otype, qty=10, group="", **kw):
    return OrderRequest(cid, "ACME", Side(side), OrderType(otype), qty, Product.CNC, group=group,
                        **kw)  # fmt: skip


def long_with_bracket() -> PaperBroker:
    """Ten held at 100, protected by a stop at 98 and a target at 104 in group ``g``."""
    br = PaperBroker([SPEC], starting_cash=100_000.0, charges=ZeroCharges())
    bar(br, T0, 100, 100, 100, 100)
    br.submit(req("buy", "BUY", "MARKET"))
    bar(br, T0 + 60, 100, 100.5, 99.5, 100)
    assert br.account.qty("ACME") == 10
    br.submit(req("sl", "SELL", "SL-M", trigger_price=98.0, group="g"))
    br.submit(req("tp", "SELL", "LIMIT", price=104.0, group="g"))
    return br


def state(br, cid):
    return br.order_by_client_id(cid)


def test_legs_do_not_count_against_the_cnc_holding():
    br = long_with_bracket()
    assert (state(br, "sl").status, state(br, "tp").status) == (S.TRIGGER_PENDING, S.OPEN)
    # an exit of the holding is still accepted (the legs go when it fills) ...
    br.submit(req("exit", "SELL", "LIMIT", price=110.0))
    assert state(br, "exit").status == S.OPEN
    # ... but not a second ordinary sell of it: that would be a short sale
    br.submit(req("extra", "SELL", "LIMIT", price=111.0))
    assert state(br, "extra").status == S.REJECTED
    assert "insufficient holdings" in state(br, "extra").status_message


def test_the_stop_filling_cancels_the_target():
    br = long_with_bracket()
    bar(br, T0 + 120, 99, 99.5, 97, 98.5)
    assert (state(br, "sl").status, state(br, "sl").average_price) == (S.COMPLETE, 98.0)
    tp = state(br, "tp")
    assert tp.status == S.CANCELLED and tp.status_message == "one-cancels-other: sl filled"
    assert br.account.qty("ACME") == 0 and not br.has_working()


def test_the_target_filling_cancels_the_stop():
    br = long_with_bracket()
    bar(br, T0 + 120, 103, 105, 102, 104.5)
    assert (state(br, "tp").status, state(br, "tp").average_price) == (S.COMPLETE, 104.0)
    assert state(br, "sl").status == S.CANCELLED
    assert br.account.qty("ACME") == 0


def test_a_bar_through_both_legs_fills_only_the_first_placed():
    br = long_with_bracket()
    bar(br, T0 + 120, 100, 105, 97, 101)
    assert state(br, "sl").status == S.COMPLETE and state(br, "tp").status == S.CANCELLED
    assert [f.client_order_id for f in br.fills()] == ["buy", "sl"]


def test_closing_the_position_otherwise_cancels_both_legs():
    br = long_with_bracket()
    br.submit(req("exit", "SELL", "MARKET"))
    # an exit leg at the open: the position is flat before the legs meet the bar
    br.begin_bar("ACME", T0 + 120, 101, 106, 96, 101, 1e9)
    br.fill_open()
    br.match_bar()
    assert state(br, "exit").status == S.COMPLETE
    for cid in ("sl", "tp"):
        o = state(br, cid)
        assert (o.status, o.status_message, o.filled_quantity) == (
            S.CANCELLED,
            "position closed",
            0,
        )
    assert [f.client_order_id for f in br.fills()] == ["buy", "exit"]


def test_a_partial_reduction_cuts_the_legs_to_what_is_left():
    br = long_with_bracket()
    br.submit(req("half", "SELL", "MARKET", qty=4))
    bar(br, T0 + 120, 101, 101, 100, 101)
    sl, tp = state(br, "sl"), state(br, "tp")
    assert (sl.status, sl.quantity) == (S.TRIGGER_PENDING, 6)
    assert (tp.status, tp.quantity, tp.status_message) == (S.OPEN, 6, "cut to the position of 6")
    bar(br, T0 + 180, 99, 99, 97, 98)
    assert br.account.qty("ACME") == 0  # the stop sold the six left, no more


def test_groups_survive_the_state_round_trip():
    br = PaperBroker.from_state(json.loads(json.dumps(long_with_bracket().to_state())))
    bar(br, T0 + 120, 103, 105, 102, 104.5)
    assert state(br, "tp").status == S.COMPLETE and state(br, "sl").status == S.CANCELLED


def test_order_records_written_before_groups_still_load():
    br = long_with_bracket()
    st = json.loads(json.dumps(br.to_state()))
    assert {o.get("group") for o in st["orders"]} == {None, "g"}  # ungrouped: no key
    for o in st["orders"]:
        o.pop("group", None)
    old = PaperBroker.from_state(st)
    bar(old, T0 + 120, 103, 105, 102, 104.5)
    # without their group the legs are two independent orders again
    assert state(old, "tp").status == S.COMPLETE and state(old, "sl").status == S.TRIGGER_PENDING
