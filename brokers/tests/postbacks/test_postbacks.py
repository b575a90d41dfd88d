"""Kite's postbacks drive a live deployment's orders: fills, idempotence, order, refusals.

A live deployment on the fake Kite sends an order; the fake fills it and posts back, signed as
Kite signs (SHA-256 of order id, order timestamp and API secret), to our endpoint.
"""

from __future__ import annotations

import json
from decimal import Decimal
from unittest import mock

import pytest
from django.test import Client

from brokers.models import BrokerPostback
from brokers.tests.postbacks.helpers import KITE_URL, kite_body, live_order, wire_kite_postbacks
from execution.brokers.kite import KiteBroker
from execution.models import BrokerOrderLink, Order, OrderEvent, Position, Trade
from execution.push.messages import group_name
from execution.tests.live.conftest import deploy, make_strategy, step

pytestmark = pytest.mark.django_db


def fill_at_kite(fake_kite, price: float = 1300.0) -> dict:
    fake_kite.advance(price, price + 5, price - 5, price + 1)
    (row,) = fake_kite.book.orders.values()
    assert row["status"] == "COMPLETE"
    return row


def test_a_complete_postback_books_the_brokers_fill_on_our_order(
    user, linked_kite_account, fake_kite
):
    deployment, order, link = live_order(user, linked_kite_account)
    assert order.status == "OPEN"  # the placement's answer, through the state machine
    wire_kite_postbacks(fake_kite)
    row = fill_at_kite(fake_kite)
    assert fake_kite.postbacks.deliver() == [200]

    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.pending_quantity) == ("COMPLETE", 10, 0)
    assert order.average_price == Decimal(str(row["average_price"]))
    assert order.broker_status == "COMPLETE"
    (trade,) = Trade.objects.filter(deployment=deployment)
    assert (trade.side, trade.quantity, trade.price) == (
        order.side,
        10,
        Decimal(str(row["average_price"])),
    )
    assert trade.fill_id == f"kite:{row['order_id']}:10"
    # Kite reports no charges; the fill carries NSE's schedule, marked as an estimate
    assert trade.charges > 0 and trade.charges_breakdown["estimated"] is True
    parts = ("brokerage", "stt", "exchange_txn", "sebi", "stamp_duty", "gst")
    assert abs(sum(trade.charges_breakdown[k] for k in parts) - float(trade.charges)) < 0.011
    triggers = list(OrderEvent.objects.filter(order=order).values_list("trigger", "status"))
    assert triggers[-1] == ("FILL", "COMPLETE") and ("ACCEPT", "OPEN") in triggers
    pos = Position.objects.get(deployment=deployment)
    assert pos.quantity == (10 if order.side == "BUY" else -10)
    assert pos.average_price == Decimal(str(row["average_price"]))
    link.refresh_from_db()
    assert (link.status, link.broker_status) == ("COMPLETE", "COMPLETE")
    assert BrokerPostback.objects.get().outcome == "applied"


def test_the_same_postback_twice_changes_nothing(user, linked_kite_account, fake_kite):
    deployment, order, _ = live_order(user, linked_kite_account)
    row = fill_at_kite(fake_kite)
    body = kite_body(row, fake_kite.api_secret)
    client = Client()
    first = client.post(KITE_URL, body, content_type="application/json")
    assert first.status_code == 200 and first.json() == {"outcome": "applied"}
    before = (
        Trade.objects.count(),
        OrderEvent.objects.filter(order=order).count(),
        Position.objects.get(deployment=deployment).quantity,
    )
    again = client.post(KITE_URL, body, content_type="application/json")
    assert again.status_code == 200 and again.json() == {"outcome": "unchanged"}
    after = (
        Trade.objects.count(),
        OrderEvent.objects.filter(order=order).count(),
        Position.objects.get(deployment=deployment).quantity,
    )
    assert after == before


def test_a_complete_before_the_open_keeps_the_order_complete(user, linked_kite_account, fake_kite):
    _, order, _ = live_order(user, linked_kite_account)
    row = fill_at_kite(fake_kite)
    client = Client()
    done = kite_body(row, fake_kite.api_secret)
    opened = kite_body(
        row, fake_kite.api_secret, status="OPEN", filled_quantity=0, pending_quantity=10
    )
    assert client.post(KITE_URL, done, content_type="application/json").json()["outcome"] == (
        "applied"
    )
    late = client.post(KITE_URL, opened, content_type="application/json")
    assert late.status_code == 200 and late.json() == {"outcome": "stale"}
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("COMPLETE", 10)
    assert Trade.objects.filter(order=order).count() == 1


def test_a_partial_fill_then_the_rest_books_two_trades_matching_kites_average(
    user, linked_kite_account, fake_kite
):
    _, order, _ = live_order(user, linked_kite_account)
    wire_kite_postbacks(fake_kite)
    fake_kite.book.fill_share = 0.5
    fake_kite.advance(1300.0, 1305.0, 1295.0, 1301.0)
    fake_kite.advance(1310.0, 1315.0, 1305.0, 1311.0)
    fake_kite.postbacks.deliver()
    (row,) = fake_kite.book.orders.values()
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("COMPLETE", 10)
    trades = list(Trade.objects.filter(order=order).order_by("id"))
    assert [t.quantity for t in trades] == [5, 5]
    booked = sum(t.price * t.quantity for t in trades) / 10
    assert abs(booked - Decimal(str(row["average_price"]))) < Decimal("0.000001")
    assert list(
        OrderEvent.objects.filter(order=order, trigger__startswith="FILL").values_list(
            "trigger", "status"
        )
    ) == [("FILL_PARTIAL", "PARTIALLY_FILLED"), ("FILL", "COMPLETE")]


def test_a_postback_before_the_placement_answer_is_applied_once_the_order_is_linked(
    user, linked_kite_account, fake_kite
):
    """Kite may post the fill before our step has recorded the placement's answer."""
    client = Client()
    wire_kite_postbacks(fake_kite, client)
    real_place = KiteBroker.place_order
    early = []

    def place_then_fill_and_post(self, request):
        placed = real_place(self, request)
        fake_kite.advance(1300.0, 1305.0, 1295.0, 1301.0)  # filled at Kite at once...
        early.extend(fake_kite.postbacks.deliver())  # ...posted before our link exists
        assert not BrokerOrderLink.objects.exists()
        return placed  # the answer (OPEN) arrives after the postbacks

    with mock.patch.object(KiteBroker, "place_order", place_then_fill_and_post):
        _, order, link = live_order(user, linked_kite_account)
    assert early and set(early) == {200}
    assert set(BrokerPostback.objects.values_list("outcome", flat=True)) <= {
        "applied",
        "unchanged",
    }
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("COMPLETE", 10)
    assert Trade.objects.filter(order=order).count() == 1
    assert link.broker_order_id == order.broker_order_id


def test_a_bad_checksum_is_refused_and_logged_without_the_secret(
    user, linked_kite_account, fake_kite, capsys, caplog
):
    _, order, _ = live_order(user, linked_kite_account)
    row = fill_at_kite(fake_kite)
    forged = kite_body(row, "not-the-secret")
    answer = Client().post(KITE_URL, forged, content_type="application/json")
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "forbidden"
    order.refresh_from_db()
    assert order.status == "OPEN" and not Trade.objects.exists()
    assert not BrokerPostback.objects.exists()
    logged = capsys.readouterr().out + capsys.readouterr().err + caplog.text
    assert "broker_postback_refused" in logged
    assert fake_kite.api_secret not in logged and forged["checksum"] not in logged


def test_an_unknown_order_is_stored_not_an_error(user, linked_kite_account, fake_kite):
    row = {
        "order_id": "999999999",
        "order_timestamp": "2026-12-07 09:15:01",
        "status": "COMPLETE",
        "filled_quantity": 5,
        "pending_quantity": 0,
        "average_price": 101.5,
        "tag": "SOMEONEELSE",
        "validity": "DAY",
    }
    answer = Client().post(
        KITE_URL, kite_body(row, fake_kite.api_secret), content_type="application/json"
    )
    assert answer.status_code == 200 and answer.json() == {"outcome": "pending"}
    stored = BrokerPostback.objects.get()
    assert (stored.account_id, stored.broker_order_id, stored.outcome) == (
        linked_kite_account.pk,
        "999999999",
        "pending",
    )
    assert "checksum" not in stored.payload
    assert not Order.objects.exists()


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        ("not json", "application/json", 400, None),
        ("[1, 2]", "application/json", 400, "body"),
        ("x" * 20000, "application/json", 413, None),
    ],
)
def test_malformed_postbacks_are_4xx(db, body, content_type, status, field):
    answer = Client().post(KITE_URL, body, content_type=content_type)
    assert answer.status_code == status
    if field:
        assert field in answer.json()["error"]["fields"]


def test_a_verified_postback_missing_its_status_names_the_field(
    user, linked_kite_account, fake_kite
):
    body = kite_body(
        {"order_id": "1", "order_timestamp": "2026-12-07 09:15:01", "pending_quantity": 0},
        fake_kite.api_secret,
    )
    answer = Client().post(KITE_URL, json.dumps(body), content_type="application/json")
    assert answer.status_code == 400
    assert "status" in answer.json()["error"]["fields"]


def test_postbacks_need_no_session_or_csrf_token(user, linked_kite_account, fake_kite):
    live_order(user, linked_kite_account)
    row = fill_at_kite(fake_kite)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)  # even a browser session's POST without a token is accepted
    answer = strict.post(
        KITE_URL, kite_body(row, fake_kite.api_secret), content_type="application/json"
    )
    assert answer.status_code == 200


def test_a_later_step_keeps_the_brokers_fill_and_position(user, linked_kite_account, fake_kite):
    """The paper model in the loop must not overwrite what the broker reported."""
    deployment, order, _ = live_order(user, linked_kite_account)
    wire_kite_postbacks(fake_kite)
    row = fill_at_kite(fake_kite, price=1234.0)
    fake_kite.postbacks.deliver()
    last = deployment.live.steps
    for k in range(last, last + 3):
        step(deployment, k + 120)
    order.refresh_from_db()
    assert (order.status, order.average_price) == (
        "COMPLETE",
        Decimal(str(row["average_price"])),
    )
    assert not Trade.objects.filter(order=order).exclude(fill_id__startswith="kite:").exists()
    signed = sum(
        t.quantity if t.side == "BUY" else -t.quantity
        for t in Trade.objects.filter(deployment=deployment)
    )
    assert Position.objects.get(deployment=deployment).quantity == signed


def test_paper_deployments_are_untouched(user):
    deployment = deploy(make_strategy(user))
    for k in range(40):
        step(deployment, k)
    assert Trade.objects.filter(deployment=deployment).exclude(fill_id__startswith="kite:").count()
    assert not Trade.objects.filter(fill_id__startswith="kite:").exists()


def test_postbacks_are_throttled_per_address(db, settings):
    from django.core.cache import cache

    from brokers.api.postback_views import PostbackThrottle

    cache.clear()
    with mock.patch.object(PostbackThrottle, "rate", "2/min"):
        codes = [
            Client().post(KITE_URL, {}, content_type="application/json").status_code
            for _ in range(3)
        ]
    cache.clear()
    assert codes == [403, 403, 429]


def test_a_manual_order_modified_and_cancelled_follows_kite(user, linked_kite_account, fake_kite):
    """Our changes go to Kite; the order row takes the new terms, and its status from Kite."""
    from execution.services.live_orders import order_cancel, order_modify, order_place

    strategy = make_strategy(user)
    deployment = deploy(
        strategy, mode="live", broker_account=linked_kite_account.pk, confirm=strategy.name
    )
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("10.00")
    )
    assert (order.status, order.broker_status) == ("OPEN", "OPEN")
    order = order_modify(order=order, price=Decimal("11.00"))
    at_kite = fake_kite.book.orders[order.broker_order_id]
    assert at_kite["price"] == 11.0
    order.refresh_from_db()
    assert (order.price, order.status) == (Decimal("11.00"), "OPEN")
    modify = OrderEvent.objects.get(order=order, trigger="MODIFY")
    assert modify.status == "OPEN"
    order = order_cancel(order=order)
    assert at_kite["status"] == "CANCELLED"
    assert (order.status, order.broker_status) == ("CANCELLED", "CANCELLED")
    assert list(OrderEvent.objects.filter(order=order).values_list("trigger", flat=True)) == [
        "",
        "ACCEPT",
        "MODIFY",
        "CANCEL",
    ]


def test_a_postbacks_fill_is_pushed_to_the_live_page_after_commit(
    user, linked_kite_account, fake_kite, django_capture_on_commit_callbacks
):
    """The broker's fill reaches the deployment's socket group: order events and position."""
    deployment, order, _ = live_order(user, linked_kite_account)
    wire_kite_postbacks(fake_kite)
    fill_at_kite(fake_kite)
    with mock.patch("execution.push.sender.sender.submit") as submit:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            assert fake_kite.postbacks.deliver() == [200]
        assert submit.call_count == 0  # nothing leaves before the commit
        for callback in callbacks:
            callback()

    sent = [call.args for call in submit.call_args_list]
    assert {group for group, _ in sent} == {group_name(deployment.pk)}
    events = [message["event"] for _, message in sent]
    assert {e["kind"] for e in events} == {"fill", "position"}
    position = next(e for e in events if e["kind"] == "position")
    assert position["quantity"] == Position.objects.get(deployment=deployment).quantity != 0
    last_event = OrderEvent.objects.filter(order=order).latest("pk")
    assert max(e["seq"] for e in events if e["kind"] == "fill") == last_event.pk
