"""The Dhan adapter on the fake Dhan: faults, Dhan's status words, DH-9xx errors, correlation
ids, rate-limit windows, and the paths it uses.

The contract every broker meets is ``test_contract.py``; this file covers what only a real
broker has: a timeout after Dhan accepted the order, 429s, the token's expiry, ``PART_TRADED``,
stop orders' ``PENDING`` → ``TRIGGERED``, and Dhan's limit of 25 modifications per order.
"""

from __future__ import annotations

import re
import string
import time
import uuid
from bisect import bisect_left

import pytest

from execution.brokers.base import (
    BrokerError,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    SessionExpired,
    TemporaryBrokerError,
)
from execution.brokers.dhan import DhanBroker
from execution.brokers.dhan_mapping import (
    correlation_id,
    map_status,
    token_claims,
    translate_error,
)
from execution.brokers.ratelimit import (
    DHAN_MODIFY_LIMIT,
    DHAN_ORDER_LIMITS,
    MemoryRateLimiter,
    RedisRateLimiter,
    acquire,
)
from execution.engine.orders import OrderStatus, OrderType, Product, Side, Validity
from tests.fakes.dhan import shared_server
from tests.fakes.dhan.server import ROUTES

# The paths ``dhanhq==2.3.0`` builds for what we use (``_order.py``, ``_statement.py``,
# ``_portfolio.py``, ``_funds.py``, ``auth.py``, ``_historical_data.py``), placeholders filled in.
SDK_PATHS = {
    ("POST", "/orders"),
    ("GET", "/orders"),
    ("GET", "/orders/123"),
    ("PUT", "/orders/123"),
    ("DELETE", "/orders/123"),
    ("GET", "/orders/external/abc-1"),
    ("GET", "/trades/"),
    ("GET", "/positions"),
    ("GET", "/holdings"),
    ("GET", "/fundlimit"),
    ("GET", "/profile"),
    ("POST", "/charts/intraday"),  # intraday_minute_data: the feed's history, import_bars
    ("POST", "/charts/historical"),  # historical_daily_data: import_bars --timeframe 1d
}


@pytest.fixture
def dhan():
    server = shared_server()
    state = server.reset()
    state.add_instrument("INFY", "1594", tick=0.05, lot=1, last_price=1500.0)
    state.root = server.root
    return state


def make_broker(dhan, token: str | None = None, **kw) -> DhanBroker:
    sleeps: list[float] = []
    broker = DhanBroker(
        client_id=dhan.client_id,
        access_token=token or dhan.issue_access_token(),
        account_key="t",
        root=dhan.root,
        security_ids={"INFY": "1594"},
        sleep=sleeps.append,
        **kw,
    )
    broker.sleeps = sleeps
    return broker


def req(cid: str, otype=OrderType.LIMIT, qty=10, **kw) -> OrderRequest:
    kw.setdefault("price", 1400.0 if otype in (OrderType.LIMIT, OrderType.SL) else None)
    return OrderRequest(cid, "INFY", Side.BUY, otype, qty, Product.MIS, **kw)


def test_a_timeout_after_dhan_accepted_is_found_by_correlation_id_not_repeated(dhan):
    broker = make_broker(dhan, timeout=0.3)
    dhan.hang_after_accept = 1.0  # booked at Dhan; the answer arrives after the client gave up
    order = broker.place_order(req("strategy-7-entry-000001"))
    (booked,) = dhan.book.orders.values()
    assert order.broker_order_id == booked["orderId"]
    assert order.client_order_id == "strategy-7-entry-000001"
    assert booked["correlationId"] == correlation_id("strategy-7-entry-000001")
    assert ("GET", f"/v2/orders/external/{booked['correlationId']}") in dhan.requests
    again = broker.place_order(req("strategy-7-entry-000001"))
    assert again.broker_order_id == order.broker_order_id and len(dhan.book.orders) == 1


def test_a_new_adapter_finds_an_order_an_earlier_process_placed(dhan):
    first = make_broker(dhan).place_order(req("restart-1"))
    again = make_broker(dhan).place_order(req("restart-1"))
    assert again.broker_order_id == first.broker_order_id and len(dhan.book.orders) == 1
    assert make_broker(dhan).order_by_client_id("restart-1").broker_order_id == (
        first.broker_order_id
    )
    with pytest.raises(OrderNotFound):
        make_broker(dhan).order_by_client_id("never-placed")


def test_429s_are_retried_with_backoff_and_place_exactly_one_order(dhan):
    broker = make_broker(dhan)
    dhan.rate_limited = 2
    order = broker.place_order(req("busy-1"))
    assert order.status is OrderStatus.OPEN and len(dhan.book.orders) == 1
    assert broker.sleeps == [0.25, 0.5]


def test_429s_beyond_the_attempts_are_a_temporary_error_and_nothing_is_booked(dhan):
    broker = make_broker(dhan, max_attempts=2)
    dhan.rate_limited = 10
    with pytest.raises(TemporaryBrokerError, match="DH-904"):
        broker.place_order(req("busy-2"))
    assert dhan.book.orders == {}


def test_partial_fill_then_complete_with_trades_carrying_our_id(dhan):
    dhan.book.fill_share = 0.5
    broker = make_broker(dhan)
    o = broker.place_order(req("part-1", otype=OrderType.MARKET, price=None))
    dhan.advance(1500.0, 1501.0, 1499.0, 1500.0)
    half = broker.order_status(o.broker_order_id)
    assert (half.status, half.raw_status) == (OrderStatus.PARTIALLY_FILLED, "PART_TRADED")
    assert (half.filled_quantity, half.pending_quantity) == (5, 5)
    dhan.advance(1502.0, 1503.0, 1501.0, 1502.0)
    done = broker.order_status(o.broker_order_id)
    assert (done.status, done.raw_status) == (OrderStatus.COMPLETE, "TRADED")
    assert done.average_price == pytest.approx(1501.0)
    fills = broker.fills()
    assert [(f.client_order_id, f.quantity) for f in fills] == [("part-1", 5), ("part-1", 5)]
    (pos,) = broker.positions()
    assert (pos.symbol, pos.product, pos.quantity) == ("INFY", Product.MIS, 10)
    assert dhan.book.orders[o.broker_order_id]["productType"] == "INTRADAY"


def test_stop_loss_market_waits_for_its_trigger_then_fills(dhan):
    broker = make_broker(dhan)
    o = broker.place_order(req("slm-1", otype=OrderType.SLM, price=None, trigger_price=1510.0))
    assert dhan.book.orders[o.broker_order_id]["orderType"] == "STOP_LOSS_MARKET"
    assert (o.status, o.raw_status) == (OrderStatus.TRIGGER_PENDING, "PENDING")
    dhan.advance(1500.0, 1505.0, 1495.0, 1500.0)
    assert broker.order_status(o.broker_order_id).status is OrderStatus.TRIGGER_PENDING
    dhan.advance(1508.0, 1515.0, 1507.0, 1512.0)
    done = broker.order_status(o.broker_order_id)
    assert done.status is OrderStatus.COMPLETE and done.average_price == pytest.approx(1510.0)


def test_stop_loss_limit_and_nrml_are_sent_in_dhans_words(dhan):
    broker = make_broker(dhan)
    o = broker.place_order(
        OrderRequest(
            "sl-1", "INFY", Side.SELL, OrderType.SL, 1, Product.NRML, price=1390.0,
            trigger_price=1395.0,
        )
    )  # fmt: skip
    row = dhan.book.orders[o.broker_order_id]
    assert (row["orderType"], row["productType"]) == ("STOP_LOSS", "MARGIN")
    assert (o.order_type, o.product, o.price, o.trigger_price) == (
        OrderType.SL,
        Product.NRML,
        1390.0,
        1395.0,
    )


def test_an_unfilled_ioc_expires(dhan):
    broker = make_broker(dhan)
    o = broker.place_order(req("ioc-1", validity=Validity.IOC, price=1300.0))
    dhan.advance(1500.0, 1501.0, 1499.0, 1500.0)
    done = broker.order_status(o.broker_order_id)
    assert (done.status, done.raw_status, done.pending_quantity) == (
        OrderStatus.EXPIRED,
        "CANCELLED",
        0,
    )


def test_refusals_keep_dhans_words(dhan):
    broker = make_broker(dhan)
    big = broker.place_order(req("huge-1", qty=100_000))
    assert big.status is OrderStatus.REJECTED and "Insufficient Funds" in big.status_message
    with pytest.raises(OrderRejected, match="no Dhan security id"):
        broker.place_order(OrderRequest("x", "NOPE", Side.BUY, OrderType.MARKET, 1))
    assert len(dhan.book.orders) == 1


def test_an_expired_token_is_session_expired_and_tells_the_account(dhan):
    expired: list[str] = []
    broker = make_broker(dhan, on_session_expired=expired.append)
    broker.place_order(req("before"))
    dhan.expire_tokens()
    with pytest.raises(SessionExpired, match="DH-901"):
        broker.orders()
    assert len(expired) == 1 and "DH-901" in expired[0]
    stale = make_broker(dhan, token=dhan.issue_access_token(valid_for=-1))
    with pytest.raises(SessionExpired):
        stale.funds()


def test_the_token_is_sent_only_in_its_header_and_never_in_repr(dhan):
    token = dhan.issue_access_token()
    broker = make_broker(dhan, token=token)
    assert token not in repr(broker) and "t" in repr(broker)
    assert broker.profile()["dhanClientId"] == dhan.client_id


def test_token_claims_read_the_expiry_and_refuse_non_jwts(dhan):
    exp = time.time() + 3600
    token = dhan.issue_access_token(valid_for=3600)
    claims = token_claims(token)
    assert abs(claims["exp"] - exp) < 5 and claims["dhanClientId"] == dhan.client_id
    for bad in ("abc", "a.b.c", "x.eyJmb28iOjF9.y"):  # the last: valid JSON, no exp
        with pytest.raises(ValueError):
            token_claims(bad)


def test_at_most_25_modifications_per_order_the_26th_never_reaches_dhan(dhan):
    broker = make_broker(dhan)
    o = broker.place_order(req("mod-1", price=1300.0))
    for n in range(25):
        broker.modify_order(o.broker_order_id, price=1300.0 + 0.05 * (n + 1))
    assert dhan.book.modifications[o.broker_order_id] == 25
    puts = sum(1 for m, _ in dhan.requests if m == "PUT")
    with pytest.raises(OrderRejected, match="25 modifications"):
        broker.modify_order(o.broker_order_id, price=1200.0)
    assert sum(1 for m, _ in dhan.requests if m == "PUT") == puts
    assert broker.order_status(o.broker_order_id).price == pytest.approx(1301.25)


def test_status_table():
    def s(raw, otype="LIMIT", validity="DAY", filled=0):
        return map_status(raw, order_type=otype, validity=validity, filled=filled)

    assert s("TRANSIT") is OrderStatus.PENDING
    assert s("PENDING") is OrderStatus.OPEN
    assert s("PENDING", "STOP_LOSS") is OrderStatus.TRIGGER_PENDING
    assert s("TRIGGERED", "STOP_LOSS") is OrderStatus.OPEN
    assert s("PART_TRADED", filled=3) is OrderStatus.PARTIALLY_FILLED
    assert s("TRADED") is OrderStatus.COMPLETE
    assert s("REJECTED") is OrderStatus.REJECTED
    assert s("CANCELLED") is OrderStatus.CANCELLED
    assert s("CANCELLED", validity="IOC") is OrderStatus.EXPIRED
    assert s("EXPIRED") is OrderStatus.EXPIRED
    assert s("SOMETHING_NEW") is OrderStatus.PENDING


def test_error_table():
    def err(status, code, message="m", lookup=False):
        body = {"errorType": "x", "errorCode": code, "errorMessage": message}
        return translate_error(status, body, lookup=lookup)

    assert isinstance(err(401, "DH-901"), SessionExpired)
    assert isinstance(err(429, "DH-904"), TemporaryBrokerError)
    assert isinstance(err(500, "DH-908"), TemporaryBrokerError)
    assert isinstance(err(503, "DH-909"), TemporaryBrokerError)
    assert isinstance(err(400, "DH-906", "Insufficient margin"), InsufficientFunds)
    rejected = err(400, "DH-905", "Invalid price")
    assert type(rejected) is OrderRejected and "DH-905" in str(rejected)
    assert rejected.reason == "Invalid price"
    assert isinstance(err(404, "DH-906", lookup=True), OrderNotFound)
    assert type(err(403, "DH-902")) is BrokerError
    assert isinstance(translate_error(502, None), TemporaryBrokerError)


def test_correlation_ids_are_short_deterministic_and_distinct():
    ids = [f"strategy-{n}-entry-{k:06d}" for n in range(20) for k in range(50)]
    corrs = [correlation_id(i) for i in ids]
    allowed = set(string.ascii_lowercase + string.digits)
    assert all(len(c) == 25 and set(c) <= allowed for c in corrs)
    assert len(set(corrs)) == len(ids)
    assert corrs == [correlation_id(i) for i in ids]


def test_every_path_the_adapter_hits_is_served_by_the_fake_and_built_by_the_sdk(dhan):
    broker = make_broker(dhan)
    o = broker.place_order(req("paths-1", price=1300.0))
    broker.modify_order(o.broker_order_id, price=1300.05)
    broker.cancel_order(o.broker_order_id)
    broker.place_order(req("paths-2", otype=OrderType.MARKET, price=None))
    dhan.advance(1500.0, 1501.0, 1499.0, 1500.0)
    broker.orders(), broker.fills(), broker.positions(), broker.funds(), broker.profile()
    hit = {(m, p.removeprefix("/v2")) for m, p in dhan.requests}
    assert all(p.startswith("/v2/") for _, p in dhan.requests)
    served = lambda m, p: any(rm == m and re.fullmatch(rp, p) for rm, rp in ROUTES)  # noqa: E731
    assert all(served(m, p) for m, p in hit), hit
    for m, pattern in ROUTES:  # and the fake serves nothing the SDK would not ask for
        assert any(sm == m and re.fullmatch(pattern, sp) for sm, sp in SDK_PATHS), pattern
    assert {m for m, _ in hit} == {"GET", "POST", "PUT", "DELETE"}


def test_the_adapter_takes_order_slots_from_the_shared_limiter_with_dhans_windows(dhan):
    seen = []

    class Recording(MemoryRateLimiter):
        def try_acquire(self, key, limits):
            seen.append((key, tuple(limits)))
            return super().try_acquire(key, limits)

    broker = make_broker(dhan, limiter=Recording())
    o = broker.place_order(req("lim-1"))
    broker.cancel_order(o.broker_order_id)
    broker.orders()  # GETs take no order slot
    assert [k for k, lim in seen if lim == DHAN_ORDER_LIMITS] == ["dhan:t", "dhan:t"]


def test_dhan_windows_hold_on_a_burst_and_lose_nothing():
    class Clock:
        now = 1000.0

        def __call__(self):
            return self.now

        def sleep(self, s):
            self.now += s

    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    times = []
    for _ in range(1100):  # reduced from a day's 7000: past the per-hour window
        acquire(limiter, "acct", DHAN_ORDER_LIMITS, sleep=clock.sleep)
        times.append(clock.now)
    assert len(times) == 1100
    for window, most in ((1.0, 25), (60.0, 250), (3600.0, 1000)):
        worst = max(bisect_left(times, t + window) - i for i, t in enumerate(times))
        assert worst == most, (window, worst)
    assert times[1000] - times[0] >= 3600.0  # the 1001st order waited for the hour window


def test_two_workers_share_dhans_windows_and_modify_cap_through_redis():
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=13)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-dhan-{uuid.uuid4().hex}:"
    one, two = (RedisRateLimiter(client, prefix=prefix) for _ in range(2))
    try:
        admitted = [w.try_acquire("dhan:acct", DHAN_ORDER_LIMITS) == 0 for w in (one, two) * 14]
        assert admitted.count(True) == 25 and admitted[-3:] == [False] * 3  # 25 a second
        mods = [
            w.try_acquire("dhan:acct:modify:1", DHAN_MODIFY_LIMIT) == 0 for w in (one, two) * 13
        ]
        assert mods.count(True) == 25 and mods[-1] is False  # the 26th modification, any worker
        assert one.try_acquire("dhan:acct:modify:2", DHAN_MODIFY_LIMIT) == 0  # per order
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
