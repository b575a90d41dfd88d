"""One contract suite, run against every broker adapter (STYLE 7).

Each adapter comes with a ``Market`` that can show it a bar, so the suite can watch orders fill
without knowing how the adapter gets its prices: the paper broker directly, the Kite adapter
through the fake Kite server on loopback (``tests/fakes/kite``), the Dhan adapter through the
fake Dhan (``tests/fakes/dhan``), bars shown to the fakes.
"""

from dataclasses import dataclass
from typing import Any

import pytest

from execution.brokers.base import (
    BrokerAdapter,
    BrokerOrder,
    Funds,
    InvalidOrderState,
    OrderNotFound,
    OrderRequest,
    PositionView,
)
from execution.brokers.paper import PaperBroker
from execution.engine.charges import ZeroCharges
from execution.engine.config import InstrumentSpec
from execution.engine.orders import (
    TERMINAL_STATUSES,
    OrderStatus,
    OrderType,
    Product,
    Side,
)


@dataclass
class Market:
    broker: BrokerAdapter
    advance: Any  # (open, high, low, close) -> None: show the broker the next bar
    symbol: str
    tick: float
    lot: int
    carry: Any = None  # (quantity, price) -> None: a delivery holding from an earlier session


def paper_market() -> Market:
    spec = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)
    broker = PaperBroker([spec], starting_cash=1_000_000.0, charges=ZeroCharges())
    clock = iter(range(1_700_000_000, 1_800_000_000, 60))

    def advance(o, h, lo, c):
        broker.begin_bar("ACME", next(clock), o, h, lo, c, 1e9)
        broker.match_bar()

    advance(100.0, 100.5, 99.5, 100.0)

    def carry(qty, price):  # the paper broker settles at once: a filled CNC buy is a holding
        broker.place_order(OrderRequest("carry", "ACME", Side.BUY, OrderType.MARKET, qty))
        advance(price, price, price, price)

    return Market(broker, advance, "ACME", 0.05, 1, carry)


def kite_market() -> Market:
    from execution.brokers.kite import KiteBroker
    from tests.fakes.kite import shared_server

    server = shared_server()
    kite = server.reset()
    kite.add_instrument("ACME", tick=0.05, lot=1)
    broker = KiteBroker(
        api_key=kite.api_key,
        access_token=kite.issue_access_token(),
        account_key="contract",
        root=server.url,
        timeout=5,
        sleep=lambda s: None,
    )
    kite.advance(100.0, 100.5, 99.5, 100.0)

    def carry(qty, price):
        kite.book.holdings.append(
            {"tradingsymbol": "ACME", "exchange": "NSE", "quantity": qty, "t1_quantity": 0,
             "average_price": price, "last_price": price, "pnl": 0.0, "product": "CNC"}
        )  # fmt: skip

    return Market(broker, kite.advance, "ACME", 0.05, 1, carry)


def dhan_market() -> Market:
    from execution.brokers.dhan import DhanBroker
    from tests.fakes.dhan import shared_server as dhan_server

    server = dhan_server()
    dhan = server.reset()
    dhan.add_instrument("ACME", "1333", tick=0.05, lot=1)
    broker = DhanBroker(
        client_id=dhan.client_id,
        access_token=dhan.issue_access_token(),
        account_key="contract",
        root=server.root,
        timeout=5,
        security_ids={"ACME": "1333"},
        sleep=lambda s: None,
    )
    dhan.advance(100.0, 100.5, 99.5, 100.0)

    def carry(qty, price):
        dhan.book.holdings.append(
            {"exchange": "NSE", "tradingSymbol": "ACME", "securityId": "1333", "totalQty": qty,
             "availableQty": qty, "avgCostPrice": price, "lastTradedPrice": price}
        )  # fmt: skip

    return Market(broker, dhan.advance, "ACME", 0.05, 1, carry)


ADAPTERS = {"paper": paper_market, "kite": kite_market, "dhan": dhan_market}


@pytest.fixture(params=sorted(ADAPTERS))
def market(request) -> Market:
    return ADAPTERS[request.param]()


def order(m: Market, cid: str, side=Side.BUY, otype=OrderType.LIMIT, qty=None, **kw):
    return OrderRequest(cid, m.symbol, side, otype, qty or m.lot, Product.MIS, **kw)


def test_place_returns_our_dataclass_and_is_idempotent(market):
    b = market.broker
    o = b.place_order(order(market, "c1", price=90.0))
    assert isinstance(o, BrokerOrder)
    assert o.client_order_id == "c1" and o.status is OrderStatus.OPEN
    assert o.filled_quantity == 0 and o.pending_quantity == market.lot
    assert b.place_order(order(market, "c1", price=91.0)) == o
    assert [x.client_order_id for x in b.orders()].count("c1") == 1
    assert b.order_status(o.broker_order_id) == o


def test_market_order_fills_on_the_next_bar(market):
    b = market.broker
    o = b.place_order(order(market, "m", otype=OrderType.MARKET))
    market.advance(101.0, 102.0, 100.0, 101.5)
    done = b.order_status(o.broker_order_id)
    assert done.status is OrderStatus.COMPLETE
    assert done.filled_quantity == market.lot and done.pending_quantity == 0
    (pos,) = [p for p in b.positions() if p.symbol == market.symbol]
    assert isinstance(pos, PositionView) and pos.quantity == market.lot


def test_cancel_and_modify_working_orders(market):
    b = market.broker
    o = b.place_order(order(market, "w", price=90.0))
    m = b.modify_order(o.broker_order_id, price=90.0 + market.tick)
    assert m.price == pytest.approx(90.0 + market.tick)
    c = b.cancel_order(o.broker_order_id)
    assert c.status is OrderStatus.CANCELLED and c.status in TERMINAL_STATUSES
    with pytest.raises(InvalidOrderState):
        b.cancel_order(o.broker_order_id)
    with pytest.raises(OrderNotFound):
        b.order_status("does-not-exist")
    with pytest.raises(OrderNotFound):
        b.cancel_order("does-not-exist")


def test_refused_orders_come_back_rejected_with_a_reason(market):
    b = market.broker
    o = b.place_order(order(market, "bad", price=90.0 + market.tick / 3))
    assert o.status is OrderStatus.REJECTED and o.status_message


def test_funds(market):
    f = market.broker.funds()
    assert isinstance(f, Funds)
    assert f.available <= f.cash + 1e-9


def test_final_states_never_change(market):
    b = market.broker
    o = b.place_order(order(market, "f", otype=OrderType.MARKET))
    market.advance(100.0, 100.5, 99.5, 100.0)
    assert b.order_status(o.broker_order_id).status is OrderStatus.COMPLETE
    with pytest.raises(InvalidOrderState):
        b.cancel_order(o.broker_order_id)
    with pytest.raises(InvalidOrderState):
        b.modify_order(o.broker_order_id, quantity=5)


def test_holdings_are_delivery_stock_carried_over(market):
    b = market.broker
    assert b.holdings() == []
    market.carry(5, 100.0)
    (h,) = b.holdings()
    assert isinstance(h, PositionView)
    assert (h.symbol, h.product, h.quantity) == (market.symbol, Product.CNC, 5)
    assert h.average_price == pytest.approx(100.0)
