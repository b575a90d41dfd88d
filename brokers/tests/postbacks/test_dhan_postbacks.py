"""Dhan's postbacks: unsigned, so authenticated by the per-account token in the URL we ask the
user to register; applied to the order through the same path as Kite's."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from brokers.dhan_link import dhan_account_create
from brokers.models import BrokerPostback
from brokers.postbacks import dhan_postback_path
from brokers.services import broker_adapter_for
from brokers.tests.postbacks.helpers import deliver_through, live_order
from execution.brokers.base import OrderRequest
from execution.engine.orders import OrderType, Product, Side, Validity
from execution.models import BrokerOrderLink, DeploymentState, Trade
from tests.fakes.dhan import FakeDhan, shared_server

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_dhan(settings) -> FakeDhan:
    server = shared_server()
    dhan = server.reset()
    dhan.add_instrument("INFY", "1594", tick=0.05, lot=1, last_price=1500.0)
    settings.DHAN_API_ROOT = server.root
    settings.DHAN_TIMEOUT_SECONDS = 5.0
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""
    return dhan


@pytest.fixture
def dhan_account(user, fake_dhan):
    return dhan_account_create(
        user=user,
        client_id=fake_dhan.client_id,
        access_token=fake_dhan.issue_access_token(valid_for=3600),
        label="Dhan",
    )


def test_the_account_shows_its_own_unguessable_postback_url(user, dhan_account, fake_dhan):
    browser = Client()
    browser.force_login(user)
    path = dhan_postback_path(account=dhan_account)
    assert path == dhan_postback_path(account=dhan_account)  # made once, then kept
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 40
    dhan_account.refresh_from_db()
    assert token not in dhan_account.postback_token_hash  # stored hashed (and encrypted)
    assert path in browser.get("/brokers/").content.decode()
    assert browser.get(f"/api/brokers/{dhan_account.pk}/").json()["postback_url"].endswith(path)


def test_a_dhan_fill_postback_books_the_fill(
    user, dhan_account, fake_dhan, linked_kite_account, fake_kite
):
    # a live order of ours, now worked at Dhan: the link names Dhan's order
    deployment, order, link = live_order(user, linked_kite_account)
    DeploymentState.objects.filter(pk=deployment.pk).update(broker_account=dhan_account)
    placed = broker_adapter_for(account=dhan_account).place_order(
        OrderRequest(
            order.client_order_id,
            "1594",
            Side(order.side),
            OrderType.MARKET,
            10,
            Product.MIS,
            Validity.DAY,
        )
    )
    at_dhan = fake_dhan.book.orders[placed.broker_order_id]
    BrokerOrderLink.objects.filter(pk=link.pk).update(
        broker_order_id=placed.broker_order_id, tag=at_dhan["correlationId"]
    )
    fake_dhan.postbacks.url = dhan_postback_path(account=dhan_account)
    fake_dhan.postbacks.send = deliver_through(Client())
    fake_dhan.advance(1500.0, 1505.0, 1495.0, 1501.0)
    assert at_dhan["orderStatus"] == "TRADED"
    codes = fake_dhan.postbacks.deliver()
    assert codes and set(codes) == {200}
    order.refresh_from_db()
    assert (order.status, order.filled_quantity, order.broker_status) == ("COMPLETE", 10, "TRADED")
    assert order.average_price == Decimal(str(at_dhan["averageTradedPrice"]))
    (trade,) = Trade.objects.filter(order=order)
    assert trade.fill_id == f"dhan:{placed.broker_order_id}:10"
    # again: nothing changes
    body = fake_dhan.postbacks.sent[-1][0]
    fake_dhan.postbacks.outbox.append(body)
    fake_dhan.postbacks.deliver()
    assert Trade.objects.filter(order=order).count() == 1
    assert BrokerPostback.objects.filter(account=dhan_account).last().outcome == "unchanged"


def test_a_wrong_token_or_client_is_refused(user, dhan_account, fake_dhan):
    body = {"dhanClientId": fake_dhan.client_id, "orderId": "1", "orderStatus": "TRADED"}
    client = Client()
    wrong = client.post("/api/brokers/dhan/postback/guess/", body, content_type="application/json")
    assert wrong.status_code == 403
    path = dhan_postback_path(account=dhan_account)
    other = client.post(path, {**body, "dhanClientId": "999"}, content_type="application/json")
    assert other.status_code == 403
    assert not BrokerPostback.objects.exists()
    unknown = client.post(path, body, content_type="application/json")
    assert unknown.status_code == 200 and unknown.json() == {"outcome": "pending"}


def test_an_expired_dhan_token_still_receives_postbacks(user, dhan_account, fake_dhan):
    """The URL token, not the access token, authenticates: an update after expiry is kept."""
    path = dhan_postback_path(account=dhan_account)
    dhan_account.token_expires_at = timezone.now()
    dhan_account.save(update_fields=["token_expires_at"])
    body = {"dhanClientId": fake_dhan.client_id, "orderId": "7", "orderStatus": "CANCELLED"}
    assert Client().post(path, body, content_type="application/json").status_code == 200
