"""Market protection in the paper broker (SEBI: API market orders become protected limits).

On by default at 2 %: a MARKET order fills no worse than the last price at placement ± 2 %,
an SL-M no worse than its trigger ± 2 %; beyond that it becomes a LIMIT at the band, fills on
the bar if the bar trades through it, else rests there.
"""

from __future__ import annotations

import json

import pytest

from execution.brokers.base import OrderRequest
from execution.brokers.paper import DEFAULT_MARKET_PROTECTION_PCT, PaperBroker
from execution.engine.charges import ZeroCharges
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.orders import OrderStatus, OrderType, Product, Side
from execution.engine.runner import Engine
from execution.tests.engine.helpers import Scripted, ohlc_bars

SPEC = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)
T0 = 1_700_000_000


def make(**kw) -> PaperBroker:
    b = PaperBroker([SPEC], starting_cash=1_000_000.0, charges=ZeroCharges(), **kw)
    bar(b, 0, 100.0, 100.5, 99.5, 100.0)  # the last price is 100
    return b


def bar(b, k, o, h, lo, c):
    b.begin_bar("ACME", T0 + 60 * k, o, h, lo, c, 1e9)
    b.match_bar()


def market(b, cid, side="BUY", otype="MARKET", **kw):
    r = OrderRequest(cid, "ACME", Side(side), OrderType(otype), 10, Product.MIS, **kw)
    return b.place_order(r).broker_order_id


def prices(b, oid):
    return [f.price for f in b.fills() if f.broker_order_id == oid]


def test_it_is_on_by_default_at_two_percent():
    assert DEFAULT_MARKET_PROTECTION_PCT == 2.0
    assert make().market_protection_pct == 2.0


def test_a_market_order_within_the_band_fills_at_the_open():
    b = make()
    oid = market(b, "m")
    bar(b, 1, 101.5, 102.0, 101.0, 101.5)
    assert prices(b, oid) == [101.5]
    assert b.order_status(oid).order_type is OrderType.MARKET


@pytest.mark.parametrize(
    ("side", "gap", "band"),
    [("BUY", (105.0, 106.0, 101.0, 105.0), 102.0), ("SELL", (95.0, 99.0, 94.0, 95.0), 98.0)],
)
def test_beyond_the_band_it_fills_at_the_band_when_the_bar_trades_through(side, gap, band):
    b = make()
    oid = market(b, "m", side)
    bar(b, 1, *gap)
    assert prices(b, oid) == [band]  # never the gapped open (105 / 95)
    o = b.order_status(oid)
    assert (o.status, o.order_type, o.price) == (OrderStatus.COMPLETE, OrderType.LIMIT, band)
    events = [e for e in b.drain_events() if e.broker_order_id == oid]
    assert any("market protection: converted to a limit at" in e.message for e in events)


def test_the_converted_limit_rests_until_the_market_comes_back_and_survives_a_restart():
    b = make()
    oid = market(b, "m")
    bar(b, 1, 105.0, 106.0, 104.0, 105.0)  # never at or below 102
    o = b.order_status(oid)
    assert (o.status, o.order_type, o.price, o.filled_quantity) == (
        OrderStatus.OPEN,
        OrderType.LIMIT,
        102.0,
        0,
    )
    assert prices(b, oid) == []
    b = PaperBroker.from_state(json.loads(json.dumps(b.to_state())))  # a live step's round trip
    bar(b, 2, 103.0, 103.5, 101.8, 102.5)
    assert prices(b, oid) == [102.0]


def test_an_slm_stop_fills_no_worse_than_its_trigger_band():
    b = make()
    oid = market(b, "stop", "SELL", "SL-M", trigger_price=95.0)
    bar(b, 1, 90.0, 92.0, 89.0, 91.0)  # gaps through the stop and never back to 93.10
    o = b.order_status(oid)
    assert (o.status, o.order_type, o.price) == (OrderStatus.OPEN, OrderType.LIMIT, 93.10)
    bar(b, 2, 92.0, 94.0, 91.0, 93.5)
    assert prices(b, oid) == [93.10]


def test_switched_off_it_fills_at_the_gapped_open():
    b = make(market_protection_pct=None)
    oid = market(b, "m")
    bar(b, 1, 105.0, 106.0, 104.0, 105.0)
    assert prices(b, oid) == [105.0]


def test_the_engines_entry_leg_is_protected_from_the_previous_close():
    """A deployment's engine (``market_protection_pct`` in its config): the entry decided at a
    close of 100 does not buy a 5 % gap; it rests as a limit at 102 and fills there."""
    cfg = EngineConfig(instrument=SPEC, quantity=10, charges=ZeroCharges(),
                       market_protection_pct=2.0)  # fmt: skip
    rows = [(100, 100.5, 99.5, 100), (105, 106, 104, 105), (103, 103.5, 101.5, 102)]
    r = Engine(cfg, Scripted({0: 1}), {}).run(ohlc_bars(rows))
    (entry,) = r.orders
    assert (entry.order_type, entry.price, entry.status) == ("LIMIT", 102.0, "COMPLETE")
    assert [(f.price, f.ts) for f in r.fills] == [(102.0, r.equity.ts[2])]


def test_an_entry_that_rested_as_a_protected_limit_is_bracketed_once_it_fills():
    """Exits need a filled entry: one that market protection made wait gets its stop and
    target when it fills, priced from that fill, meeting only the bars after it."""
    cfg = EngineConfig(instrument=SPEC, quantity=10, charges=ZeroCharges(),
                       market_protection_pct=2.0)  # fmt: skip
    rows = [(100, 100.5, 99.5, 100), (105, 106, 104, 105), (103, 103.5, 101.5, 102),
            (102, 102.5, 101, 101.5)]  # fmt: skip
    exits = {"exits": {"stop_loss_pct": 2, "target_pct": 4}}
    r = Engine(cfg, Scripted({0: 1}), exits).run(ohlc_bars(rows))
    legs = {o.client_order_id.rsplit("-", 1)[1]: o for o in r.orders}
    assert legs["e"].average_price == 102.0
    sl, tp = legs["sl"], legs["tp"]
    assert (sl.order_type, sl.side, sl.trigger_price, sl.quantity) == ("SL-M", "SELL", 100.0, 10)
    assert (tp.order_type, tp.side, tp.price, tp.quantity) == ("LIMIT", "SELL", 106.1, 10)
    assert sl.created_ts == tp.created_ts == int(r.equity.ts[2])
    assert (sl.status, tp.status) == ("TRIGGER_PENDING", "OPEN")
