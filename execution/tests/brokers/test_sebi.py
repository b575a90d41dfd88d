"""SEBI's retail algo rules in the real adapters: the algo id in every order's tag, and at most
10 orders a second per account and exchange segment (docs/compliance.md)."""

from __future__ import annotations

import pytest

from execution.brokers.dhan_mapping import correlation_id
from execution.brokers.kite_mapping import kite_tag, tag_parts
from execution.brokers.ratelimit import MemoryRateLimiter
from execution.brokers.sebi import SEGMENT_ORDER_LIMITS, algo_prefix
from execution.tests.brokers.test_dhan import dhan  # noqa: F401
from execution.tests.brokers.test_dhan import make_broker as make_dhan
from execution.tests.brokers.test_kite import kite, req  # noqa: F401
from execution.tests.brokers.test_kite import make_broker as make_kite

IDS = [f"d{d}-{1_733_000_000 + 5 * k}-{leg}" for d in (1, 42) for k in range(50) for leg in "ex"]


def test_the_kite_tag_is_the_algo_id_then_our_ids_hash_in_twenty_characters():
    tags = [kite_tag(cid, "alg42") for cid in IDS]
    assert all(len(t) == 17 and t.startswith("ALG42") and t.isalnum() for t in tags)
    assert len(set(tags)) == len(IDS)  # one tag per id
    assert tags == [kite_tag(cid, "ALG42") for cid in IDS]  # deterministic: a retry finds it
    assert {tag_parts(t) for t in tags} == {("ALG42", t[5:]) for t in tags}
    assert tag_parts(kite_tag("x", "12345678")) == ("12345678", kite_tag("x")[:12])
    # the hash part is the start of the id's hash (the whole tag without an algo id)
    assert all(t[5:] == kite_tag(cid)[:12] for t, cid in zip(tags, IDS, strict=True))
    assert len(kite_tag("d1-1-e", "ABCDEFGH")) == 20 and len(kite_tag("d1-1-e")) == 20


def test_dhans_correlation_id_carries_the_algo_id_too():
    corrs = [correlation_id(cid, "ALG42") for cid in IDS]
    assert all(len(c) == 25 and c.startswith("ALG42") for c in corrs)
    assert len(set(corrs)) == len(IDS)


@pytest.mark.parametrize("bad", ["TOOLONG99", "AL-42", "ALG 4", "ÄLG4"])
def test_an_algo_id_a_tag_cannot_carry_is_refused(bad):
    with pytest.raises(ValueError, match="at most 8 letters and digits"):
        algo_prefix(bad)
    with pytest.raises(ValueError):
        kite_tag("d1-1-e", bad)


def test_kite_orders_carry_the_algo_id_and_are_found_by_it(kite):  # noqa: F811
    broker = make_kite(kite, algo_id="ALG7")
    order = broker.place_order(req("d9-100-e"))
    (booked,) = kite.book.orders.values()
    assert booked["tag"] == kite_tag("d9-100-e", "ALG7") and booked["tag"].startswith("ALG7")
    assert broker.order_by_client_id("d9-100-e") == order
    assert broker.place_order(req("d9-100-e")) == order  # idempotent with the algo id too
    assert len(kite.book.orders) == 1


class Recording(MemoryRateLimiter):
    def __init__(self, clock):
        super().__init__(clock)
        self.keys: list[tuple[str, tuple]] = []

    def try_acquire(self, key, limits):
        self.keys.append((key, tuple(limits)))
        return super().try_acquire(key, limits)


def test_kite_takes_a_slot_per_account_and_per_exchange_segment(kite):  # noqa: F811
    limiter = Recording(lambda: 0.0)
    broker = make_kite(kite, limiter=limiter)
    broker.place_order(req("seg-1"))
    keys = {k for k, _ in limiter.keys}
    assert keys == {"kite:t", "kite:t:segment:NSE"}
    assert ("kite:t:segment:NSE", SEGMENT_ORDER_LIMITS) in limiter.keys


def test_dhan_never_sends_more_than_ten_a_second_on_one_segment(dhan):  # noqa: F811
    """Dhan's own account limit is 25 a second; SEBI's threshold per segment is 10."""
    from execution.brokers.base import OrderRequest
    from execution.engine.orders import OrderType, Product, Side

    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    broker = make_dhan(dhan, limiter=MemoryRateLimiter(lambda: now[0]))
    broker.sleep = sleep
    for i in range(12):
        broker.place_order(
            OrderRequest(f"b{i}", "INFY", Side.BUY, OrderType.LIMIT, 1, Product.MIS, price=1400.0)
        )
    assert len(dhan.book.orders) == 12
    assert now[0] == pytest.approx(1.0)  # the 11th waited for the first second to pass
