"""The Kite adapter on the fake Kite: faults, Kite's status sequences, errors, tags, SDK paths.

The contract every broker meets is ``test_contract.py``; this file covers what only a real
broker has: a timeout after Kite accepted the order, 429s, the daily token expiry, Kite's
status words (``OPEN`` with ``filled_quantity > 0`` is a partial fill) and its error types.
"""

from __future__ import annotations

import re
import string

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from execution.brokers.base import (
    BrokerError,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    SessionExpired,
    TemporaryBrokerError,
)
from execution.brokers.kite import KiteBroker
from execution.brokers.kite_mapping import kite_tag, map_status, translate_error
from execution.engine.orders import OrderStatus, OrderType, Product, Side, Validity
from tests.fakes.kite import shared_server


@pytest.fixture
def kite():
    server = shared_server()
    state = server.reset()
    state.add_instrument("INFY", tick=0.05, lot=1, last_price=1500.0)
    state.server_url = server.url
    return state


def make_broker(kite, **kw) -> KiteBroker:
    sleeps: list[float] = []
    broker = KiteBroker(
        api_key=kite.api_key,
        access_token=kite.issue_access_token(),
        account_key="t",
        root=kite.server_url,
        sleep=sleeps.append,
        **kw,
    )
    broker.sleeps = sleeps
    return broker


def req(cid: str, otype=OrderType.LIMIT, qty=10, **kw) -> OrderRequest:
    kw.setdefault("price", 1400.0 if otype in (OrderType.LIMIT, OrderType.SL) else None)
    return OrderRequest(cid, "INFY", Side.BUY, otype, qty, Product.MIS, **kw)


def test_a_timeout_after_kite_accepted_is_found_by_tag_not_repeated(kite):
    broker = make_broker(kite, timeout=0.3)
    kite.hang_after_accept = 1.0  # booked at Kite; the answer arrives after the client gave up
    order = broker.place_order(req("strategy-7-entry-000001"))
    assert len(kite.book.orders) == 1
    (booked,) = kite.book.orders.values()
    assert order.broker_order_id == booked["order_id"]
    assert order.client_order_id == "strategy-7-entry-000001"
    assert booked["tag"] == kite_tag("strategy-7-entry-000001")
    # A later retry by the caller (same id) finds it too.
    assert (
        broker.place_order(req("strategy-7-entry-000001")).broker_order_id == order.broker_order_id
    )
    assert len(kite.book.orders) == 1


def test_a_new_adapter_finds_an_order_an_earlier_process_placed(kite):
    first = make_broker(kite).place_order(req("restart-1"))
    again = make_broker(kite).place_order(req("restart-1"))
    assert again.broker_order_id == first.broker_order_id and len(kite.book.orders) == 1
    assert make_broker(kite).order_by_client_id("restart-1").client_order_id == "restart-1"
    with pytest.raises(OrderNotFound):
        make_broker(kite).order_by_client_id("never-sent")


def test_429s_are_retried_with_backoff_and_one_order_results(kite):
    broker = make_broker(kite, backoff=0.1)
    kite.rate_limited = 2
    order = broker.place_order(req("busy"))
    assert order.status is OrderStatus.OPEN and len(kite.book.orders) == 1
    assert broker.sleeps[:2] == [0.1, 0.2]  # exponential


def test_429s_past_the_attempts_are_a_temporary_error(kite):
    broker = make_broker(kite, max_attempts=2)
    o = broker.place_order(req("keep"))
    kite.rate_limited = 100
    with pytest.raises(TemporaryBrokerError):
        broker.cancel_order(o.broker_order_id)
    assert broker.order_status(o.broker_order_id).status is OrderStatus.OPEN


def test_kite_status_sequence_partial_fill_then_complete(kite):
    kite.book.fill_share = 0.5
    broker = make_broker(kite)
    o = broker.place_order(req("part", otype=OrderType.MARKET, qty=10, price=None))
    kite.advance(1500.0, 1501.0, 1499.0, 1500.5)
    part = broker.order_status(o.broker_order_id)
    assert part.raw_status == "OPEN" and part.filled_quantity == 5
    assert part.status is OrderStatus.PARTIALLY_FILLED and part.pending_quantity == 5
    kite.advance(1502.0, 1503.0, 1501.0, 1502.0)
    done = broker.order_status(o.broker_order_id)
    assert done.status is OrderStatus.COMPLETE and done.average_price == pytest.approx(1501.0)
    raw = [h.raw_status for h in broker.order_history(o.broker_order_id)]
    assert raw[:4] == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING", "OPEN"]
    assert broker.order_history(o.broker_order_id)[0].status is OrderStatus.PENDING
    fills = broker.fills()
    assert [f.quantity for f in fills] == [5, 5] and {f.client_order_id for f in fills} == {"part"}
    (pos,) = broker.positions()
    assert pos.quantity == 10 and pos.product is Product.MIS


def test_stop_orders_wait_in_trigger_pending_and_market_ones_carry_protection(kite):
    broker = make_broker(kite)
    o = broker.place_order(req("slm", otype=OrderType.SLM, price=None, trigger_price=1510.0))
    assert o.status is OrderStatus.TRIGGER_PENDING and o.raw_status == "TRIGGER PENDING"
    assert kite.book.orders[o.broker_order_id]["market_protection"] == -1
    kite.advance(1500.0, 1505.0, 1499.0, 1504.0)
    assert broker.order_status(o.broker_order_id).status is OrderStatus.TRIGGER_PENDING
    kite.advance(1506.0, 1512.0, 1505.0, 1511.0)
    done = broker.order_status(o.broker_order_id)
    assert done.status is OrderStatus.COMPLETE and done.average_price == pytest.approx(1510.0)


def test_an_ioc_remainder_cancelled_by_the_exchange_is_expired(kite):
    broker = make_broker(kite)
    o = broker.place_order(req("ioc", price=1400.0, validity=Validity.IOC))
    kite.advance(1500.0, 1501.0, 1499.0, 1500.0)  # never reaches 1400
    done = broker.order_status(o.broker_order_id)
    assert done.raw_status == "CANCELLED" and done.status is OrderStatus.EXPIRED


def test_refusals_keep_kites_words(kite):
    broker = make_broker(kite)
    poor = broker.place_order(req("big", qty=10_000, price=1500.0))  # 1.5 crore > 10 lakh
    assert poor.status is OrderStatus.REJECTED and poor.raw_status == "REJECTED"
    assert poor.status_message.startswith("Insufficient funds")
    with pytest.raises(OrderRejected) as refused:  # no order created: an exception
        broker.place_order(OrderRequest("nop", "INFY", Side.BUY, OrderType.LIMIT, 1, price=None))
    assert "price" in refused.value.reason
    assert not isinstance(refused.value, InsufficientFunds)
    with pytest.raises(OrderNotFound):
        broker.order_status("999")


def test_an_expired_token_is_session_expired_and_tells_the_owner(kite):
    told: list[str] = []
    broker = make_broker(kite, on_session_expired=told.append)
    broker.funds()
    kite.expire_tokens()
    with pytest.raises(SessionExpired):
        broker.place_order(req("late"))
    assert told and not kite.book.orders


def test_tags_are_deterministic_short_alphanumerics():
    ids = ["a", "strategy-12-entry-000001-very-long-client-order-id", "c1", "C1"]
    tags = [kite_tag(i) for i in ids]
    assert all(len(t) == 20 and set(t) <= set(string.ascii_lowercase + string.digits) for t in tags)
    assert len(set(tags)) == len(ids) and tags == [kite_tag(i) for i in ids]


@pytest.mark.parametrize(
    ("raw", "filled", "validity", "ours"),
    [
        ("PUT ORDER REQ RECEIVED", 0, "DAY", OrderStatus.PENDING),
        ("VALIDATION PENDING", 0, "DAY", OrderStatus.PENDING),
        ("OPEN PENDING", 0, "DAY", OrderStatus.PENDING),
        ("OPEN", 0, "DAY", OrderStatus.OPEN),
        ("OPEN", 3, "DAY", OrderStatus.PARTIALLY_FILLED),
        ("MODIFY PENDING", 3, "DAY", OrderStatus.PARTIALLY_FILLED),
        ("CANCEL PENDING", 0, "DAY", OrderStatus.OPEN),
        ("TRIGGER PENDING", 0, "DAY", OrderStatus.TRIGGER_PENDING),
        ("COMPLETE", 10, "DAY", OrderStatus.COMPLETE),
        ("CANCELLED", 0, "DAY", OrderStatus.CANCELLED),
        ("CANCELLED", 2, "IOC", OrderStatus.EXPIRED),
        ("REJECTED", 0, "DAY", OrderStatus.REJECTED),
    ],
)
def test_status_mapping(raw, filled, validity, ours):
    assert map_status(raw, filled_quantity=filled, validity=validity) is ours


def test_the_sdk_hits_exactly_the_paths_the_fake_serves(kite):
    """Every request the adapter made through the SDK matched one of the SDK's own routes."""
    broker = make_broker(kite)
    o = broker.place_order(req("paths"))
    broker.modify_order(o.broker_order_id, price=1401.0)
    broker.cancel_order(o.broker_order_id)
    broker.orders(), broker.fills(), broker.positions(), broker.funds(), broker.profile()
    patterns = [
        re.compile("^" + re.sub(r"\{\w+\}", r"[^/]+", path) + "$")
        for path in KiteConnect._routes.values()
    ]
    served = {path for _, path in kite.requests}
    assert served >= {"/orders/regular", "/orders", "/trades", "/portfolio/positions"}
    assert all(any(p.match(path) for p in patterns) for path in served), served


def test_order_requests_take_slots_from_the_accounts_limiter(kite):
    from execution.brokers.ratelimit import MemoryRateLimiter

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    broker = make_broker(kite, limiter=MemoryRateLimiter(lambda: now[0]))
    broker.sleep = sleep
    for i in range(12):
        broker.place_order(req(f"burst-{i}"))
    assert len(kite.book.orders) == 12
    assert now[0] == pytest.approx(1.0)  # the 11th order waited for the first second to pass


@pytest.mark.parametrize(
    ("exc", "lookup", "ours"),
    [
        (kex.TokenException("Incorrect `api_key` or `access_token`.", 403), False, SessionExpired),
        (kex.NetworkException("Too many requests", 429), False, TemporaryBrokerError),
        (kex.DataException("Bad OMS response", 502), False, TemporaryBrokerError),
        (kex.GeneralException("Gateway timeout", 504), False, TemporaryBrokerError),
        (requests.exceptions.ReadTimeout("read timed out"), False, TemporaryBrokerError),
        (kex.OrderException("Insufficient margin for the order", 400), False, InsufficientFunds),
        (kex.InputException("Invalid `price`.", 400), False, OrderRejected),
        (kex.InputException("Couldn't find that `order_id`.", 400), True, OrderNotFound),
        (kex.GeneralException("Internal error", 500), True, BrokerError),
        (kex.PermissionException("Insufficient permission", 403), False, BrokerError),
    ],
)
def test_error_translation(exc, lookup, ours):
    assert type(translate_error(exc, lookup=lookup)) is ours
