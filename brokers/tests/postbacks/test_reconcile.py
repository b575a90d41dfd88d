"""The reconciliation job: missed postbacks fixed from the broker's books, what it cannot fix
raised as an alert (page, API, notification), and running it twice changes nothing."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest
from django.test import Client

from brokers import tasks
from brokers.models import BrokerAlert, BrokerPostback
from brokers.reconcile import reconcile_account
from brokers.services import broker_adapter_for
from brokers.tests.postbacks.helpers import live_order, wire_kite_postbacks
from execution.brokers.base import OrderRequest
from execution.engine.orders import OrderType, Product, Side, Validity
from execution.models import OrderEvent, Position, Trade
from notifications.models import EventKind

pytestmark = pytest.mark.django_db


def fill(fake_kite, price: float = 1300.0) -> None:
    fake_kite.advance(price, price + 5, price - 5, price + 1)


def state(deployment) -> tuple:
    return (
        list(Trade.objects.filter(deployment=deployment).values_list("fill_id", "quantity")),
        OrderEvent.objects.filter(order__deployment=deployment).count(),
        Position.objects.get(deployment=deployment).quantity,
    )


def test_a_missed_postback_is_fixed_by_reconciliation_once(user, linked_kite_account, fake_kite):
    deployment, order, _ = live_order(user, linked_kite_account)
    fill(fake_kite)  # Kite filled it; no postback reached us (no URL registered)
    (row,) = fake_kite.book.orders.values()
    order.refresh_from_db()
    assert order.status == "OPEN" and not Trade.objects.exists()

    out = reconcile_account(account=linked_kite_account)
    assert out.fixed == 1 and out.open_alerts == [] and not out.skipped
    order.refresh_from_db()
    assert (order.status, order.filled_quantity) == ("COMPLETE", 10)
    assert order.average_price == Decimal(str(row["average_price"]))
    signed = 10 if order.side == "BUY" else -10
    assert Position.objects.get(deployment=deployment).quantity == signed
    last = OrderEvent.objects.filter(order=order).last()
    assert (last.trigger, last.payload["source"]) == ("FILL", "reconciliation")
    linked_kite_account.refresh_from_db()
    assert linked_kite_account.reconciled_at is not None

    # idempotent: again, and the late postback too, change nothing
    before = state(deployment)
    assert reconcile_account(account=linked_kite_account).fixed == 0
    wire_kite_postbacks(fake_kite)
    fake_kite.postbacks.order_changed(row)
    fake_kite.postbacks.deliver()
    assert state(deployment) == before
    assert BrokerPostback.objects.get().outcome == "unchanged"


def _place_by_hand(account, side: str = "BUY", qty: int = 7) -> str:
    """An order placed at Kite outside the platform (another app, the Kite web)."""
    broker = broker_adapter_for(account=account)
    placed = broker.place_order(
        OrderRequest(
            "by-hand-1",
            "INFY",
            Side(side),
            OrderType.MARKET,
            qty,
            Product.MIS,
            Validity.DAY,
        )
    )
    return placed.broker_order_id


def test_an_unknown_broker_position_raises_one_alert_shown_and_notified(
    user, linked_kite_account, fake_kite, django_capture_on_commit_callbacks
):
    order_id = _place_by_hand(linked_kite_account)
    fill(fake_kite, 1500.0)
    sent = []
    with (
        mock.patch("notifications.services.dispatch", lambda *a, **k: sent.append(a)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        out = reconcile_account(account=linked_kite_account)
    assert sorted(out.new_alerts) == [f"order:{order_id}", "position:INFY"]
    alert = BrokerAlert.objects.get(key="position:INFY")
    assert alert.kind == "unknown_position"
    assert alert.detail == {"symbol": "INFY", "broker": 7, "ours": 0}
    assert {(a[1], a[2]["kind"]) for a in sent} == {
        (EventKind.BROKER_ALERT, "unknown_position"),
        (EventKind.BROKER_ALERT, "unknown_order"),
    }

    # idempotent: a second run neither repeats the alerts nor notifies again
    sent.clear()
    with (
        mock.patch("notifications.services.dispatch", lambda *a, **k: sent.append(a)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        again = reconcile_account(account=linked_kite_account)
    assert again.new_alerts == [] and sorted(again.open_alerts) == sorted(out.new_alerts)
    assert BrokerAlert.objects.count() == 2 and sent == []

    # the Brokers page and the API show it
    browser = Client()
    browser.force_login(user)
    page = browser.get("/brokers/").content.decode()
    assert "Position we do not know" in page and "INFY: the broker holds 7" in page
    api = browser.get(f"/api/brokers/{linked_kite_account.pk}/").json()
    assert {a["kind"] for a in api["alerts"]} == {"unknown_position", "unknown_order"}


def test_an_alert_resolves_when_the_broker_no_longer_shows_the_difference(
    user, linked_kite_account, fake_kite
):
    _place_by_hand(linked_kite_account, "BUY", 7)
    fill(fake_kite, 1500.0)
    reconcile_account(account=linked_kite_account)
    broker = broker_adapter_for(account=linked_kite_account)
    broker.place_order(
        OrderRequest("by-hand-2", "INFY", Side.SELL, OrderType.MARKET, 7, Product.MIS, Validity.DAY)
    )
    fill(fake_kite, 1510.0)
    out = reconcile_account(account=linked_kite_account)
    assert "position:INFY" not in out.open_alerts and out.resolved >= 1
    assert BrokerAlert.objects.get(key="position:INFY").resolved_at is not None


def test_our_own_live_position_raises_no_alert(user, linked_kite_account, fake_kite):
    live_order(user, linked_kite_account)
    fill(fake_kite)
    out = reconcile_account(account=linked_kite_account)
    assert out.open_alerts == [] and not BrokerAlert.objects.exists()


def test_force_reconcile_from_the_page_and_the_api(user, linked_kite_account, fake_kite):
    _, order, _ = live_order(user, linked_kite_account)
    fill(fake_kite)
    browser = Client()
    browser.force_login(user)
    answer = browser.post(f"/brokers/{linked_kite_account.pk}/reconcile/")
    assert answer.status_code == 302
    order.refresh_from_db()
    assert order.status == "COMPLETE"
    api = browser.post(f"/api/brokers/{linked_kite_account.pk}/reconcile/")
    assert api.status_code == 200
    assert api.json() | {"fixed": 0} == {
        "fixed": 0,
        "replayed": 0,
        "new_alerts": [],
        "open_alerts": [],
        "resolved": 0,
        "skipped": "",
    }


def test_someone_elses_account_cannot_be_reconciled(
    user, other_user, linked_kite_account, fake_kite
):
    intruder = Client()
    intruder.force_login(other_user)
    assert intruder.post(f"/api/brokers/{linked_kite_account.pk}/reconcile/").status_code == 404
    assert intruder.post(f"/brokers/{linked_kite_account.pk}/reconcile/").status_code == 404
    linked_kite_account.refresh_from_db()
    assert linked_kite_account.reconciled_at is None


def test_the_schedule_queues_one_task_per_linked_account(user, linked_kite_account, fake_kite):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="reconcile-broker-accounts")
    assert (schedule.func, schedule.minutes, schedule.repeats) == (
        "brokers.tasks.dispatch_reconciliation",
        1,
        -1,
    )
    queued = []
    with mock.patch.object(tasks, "async_task", lambda *a, **k: queued.append(a)):
        assert tasks.dispatch_reconciliation() == 1
    assert queued == [("brokers.tasks.reconcile", linked_kite_account.pk)]
    assert tasks.reconcile(linked_kite_account.pk)["skipped"] == ""
    assert tasks.reconcile(10**9) == {"skipped": "no such account"}


def test_an_expired_session_skips_reconciliation_visibly(user, linked_kite_account, fake_kite):
    fake_kite.expire_tokens()
    out = reconcile_account(account=linked_kite_account)
    assert out.skipped
    linked_kite_account.refresh_from_db()
    assert linked_kite_account.status == "relogin_needed"


def test_after_a_forced_reconciliation_our_books_match_kites(user, linked_kite_account, fake_kite):
    """Issue #15's "done when": orders, fills and positions match the fake broker's books."""
    from execution.models import BrokerOrderLink, Order
    from execution.services.live_route import sync_bracket_legs
    from execution.tests.live.conftest import FAST_SMA, deploy, live_of, make_strategy, step

    params = {**FAST_SMA, "exits": {"stop_loss_pct": 5, "target_pct": 5}}
    strategy = make_strategy(user, params=params)
    deployment = deploy(
        strategy, mode="live", broker_account=linked_kite_account.pk, confirm=strategy.name
    )
    legs = BrokerOrderLink.objects.filter(live_id=deployment.pk)
    for k in range(200):
        step(deployment, k)
        if legs.filter(client_order_id__endswith="-tp").exists():
            break
    tp = legs.get(client_order_id__endswith="-tp")
    target = fake_kite.book.orders[tp.broker_order_id]
    stop = fake_kite.book.orders[legs.get(client_order_id__endswith="-sl").broker_order_id]
    mid = round((stop["trigger_price"] + target["price"]) / 2, 1)
    if target["transaction_type"] == "SELL":
        fake_kite.advance(mid, target["price"] + 1, mid, target["price"])
    else:
        fake_kite.advance(mid, mid, target["price"] - 1, target["price"])
    sync_bracket_legs(live_of(deployment))  # the stop is cancelled at Kite (one-cancels-other)
    out = reconcile_account(account=linked_kite_account)
    assert out.open_alerts == [] and not out.skipped

    for link in legs:
        at_kite = fake_kite.book.orders[link.broker_order_id]
        ours = Order.objects.get(deployment=deployment, client_order_id=link.client_order_id)
        assert (ours.broker_status, ours.filled_quantity) == (
            at_kite["status"],
            at_kite["filled_quantity"],
        )
        if at_kite["filled_quantity"]:
            assert ours.average_price == Decimal(str(at_kite["average_price"]))
    kite_fills = {(t["order_id"], t["quantity"]) for t in fake_kite.book.trades}
    our_fills = {
        (t.order.broker_order_id, t.quantity) for t in Trade.objects.filter(deployment=deployment)
    }
    assert our_fills == kite_fills
    kite_net = sum(p["quantity"] for p in fake_kite.book.positions()["net"])
    assert Position.objects.get(deployment=deployment).quantity == kite_net
