"""Dhan accounts: linked from a client id and a pasted token (a JWT whose ``exp`` we show),
encrypted at rest, never logged or returned, "re-login needed" after expiry, re-linked with a
fresh token; the adapter built from the account trades on the fake Dhan.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import RefreshToken

from brokers import crypto
from brokers.models import BrokerAccount
from brokers.services import broker_account_access_token, broker_adapter_for
from execution.brokers.base import OrderRequest, SessionExpired
from execution.brokers.dhan_mapping import token_claims
from execution.engine.orders import OrderStatus, OrderType, Product, Side
from tests.fakes.dhan import FakeDhan, make_token, shared_server

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


def link(client, fake_dhan: FakeDhan, **over):
    body = {
        "vendor": "dhan",
        "label": "Dhan main",
        "client_id": fake_dhan.client_id,
        "access_token": fake_dhan.issue_access_token(valid_for=3600),
    }
    body.update(over)
    return client.post("/api/brokers/", body, format="json"), body["access_token"]


def test_linking_shows_the_tokens_expiry_and_never_returns_the_token(api_client, user, fake_dhan):
    response, token = link(api_client, fake_dhan)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["vendor"], body["status"], body["api_key"]) == (
        "dhan",
        "linked",
        fake_dhan.client_id,
    )
    expiry = datetime.fromtimestamp(token_claims(token)["exp"], tz=UTC)
    assert datetime.fromisoformat(body["token_expires_at"].replace("Z", "+00:00")) == expiry
    assert body["login_url"] == f"/api/brokers/{body['id']}/token/"
    assert token not in response.content.decode() and "access_token" not in json.dumps(body)
    row = BrokerAccount.objects.get(pk=body["id"], user=user)
    assert token not in row.access_token_encrypted
    assert crypto.decrypt(row.access_token_encrypted) == token
    for url in ("/api/brokers/", f"/api/brokers/{row.pk}/"):
        assert token not in api_client.get(url).content.decode()


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"client_id": "abc"}, "client_id"),
        ({"access_token": "not-a-jwt"}, "access_token"),
        ({"access_token": "a.b.c"}, "access_token"),  # JWT-shaped, no claims
        ({"access_token": None}, "access_token"),
        ({"client_id": None}, "client_id"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api_client, fake_dhan, over, field):
    response, _ = link(api_client, fake_dhan, **over)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not BrokerAccount.objects.exists()


def test_a_token_for_another_client_or_already_expired_is_refused(api_client, fake_dhan):
    other = make_token("9999999999", datetime.now(UTC).timestamp() + 3600)
    response, _ = link(api_client, fake_dhan, access_token=other)
    assert response.status_code == 400 and "another Dhan client id" in response.content.decode()
    stale = make_token(fake_dhan.client_id, datetime.now(UTC).timestamp() - 60)
    response, _ = link(api_client, fake_dhan, access_token=stale)
    assert response.status_code == 400 and "already expired" in response.content.decode()
    assert link(api_client, fake_dhan)[0].status_code == 201
    again, _ = link(api_client, fake_dhan)
    assert again.status_code == 400 and "client_id" in again.json()["error"]["fields"]


def test_a_kite_shaped_body_cannot_create_a_dhan_account(api_client):
    body = {"vendor": "dhan", "api_key": "kiteKEY123", "api_secret": "s3cretAPIsecretValue42"}
    response = api_client.post("/api/brokers/", body, format="json")
    assert response.status_code == 400 and not BrokerAccount.objects.exists()


def test_the_account_trades_on_dhan_and_needs_a_relogin_when_the_token_dies(
    api_client, user, fake_dhan
):
    response, _ = link(api_client, fake_dhan)
    account = BrokerAccount.objects.get(pk=response.json()["id"])
    broker = broker_adapter_for(account=account, security_ids={"INFY": "1594"})
    order = broker.place_order(
        OrderRequest("acct-1", "INFY", Side.BUY, OrderType.LIMIT, 1, Product.MIS, price=1400.0)
    )
    assert order.status is OrderStatus.OPEN and len(fake_dhan.book.orders) == 1
    fake_dhan.expire_tokens()  # revoked or past exp at Dhan
    with pytest.raises(SessionExpired):
        broker.orders()
    account.refresh_from_db()
    assert account.current_status(timezone.now()) == BrokerAccount.Status.RELOGIN_NEEDED
    assert "DH-901" in account.last_error and account.access_token_encrypted == ""
    # Re-login: paste a fresh token through the API's token action.
    fresh = fake_dhan.issue_access_token(valid_for=7200)
    relinked = api_client.post(
        f"/api/brokers/{account.pk}/token/", {"access_token": fresh}, format="json"
    )
    assert relinked.status_code == 200 and relinked.json()["status"] == "linked"
    assert fresh not in relinked.content.decode()
    account.refresh_from_db()
    assert broker_adapter_for(account=account).order_by_client_id("acct-1") == order


def test_past_its_exp_the_account_shows_relogin_needed_and_sends_nothing(api_client, fake_dhan):
    response, _ = link(api_client, fake_dhan)
    account = BrokerAccount.objects.get(pk=response.json()["id"])
    later = account.token_expires_at + timedelta(seconds=1)
    assert account.current_status(later) == BrokerAccount.Status.RELOGIN_NEEDED
    BrokerAccount.objects.filter(pk=account.pk).update(
        token_expires_at=timezone.now() - timedelta(seconds=1)
    )
    account.refresh_from_db()
    assert api_client.get(f"/api/brokers/{account.pk}/").json()["status"] == "relogin_needed"
    with pytest.raises(SessionExpired):
        broker_account_access_token(account=account)
    requests_before = len(fake_dhan.requests)
    with pytest.raises(SessionExpired):
        broker_adapter_for(account=account)
    assert len(fake_dhan.requests) == requests_before


def test_another_users_account_is_404_for_the_token_action(api_client, other_user, fake_dhan):
    other = Client()
    other.force_login(other_user)
    response, _ = link(api_client, fake_dhan)
    pk = response.json()["id"]
    theirs = APIClient()
    access = RefreshToken.for_user(other_user).access_token
    theirs.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    fresh = fake_dhan.issue_access_token()
    answer = theirs.post(f"/api/brokers/{pk}/token/", {"access_token": fresh}, format="json")
    assert answer.status_code == 404
    assert other.post(f"/brokers/{pk}/token/", {"access_token": fresh}).status_code == 404


def test_the_brokers_page_links_a_dhan_account_and_never_shows_the_token(user, fake_dhan):
    browser = Client()
    browser.force_login(user)
    page = browser.get("/brokers/").content.decode()
    assert "Link a DhanHQ account" in page and 'id="dhan_client_id"' in page
    bad = browser.post("/brokers/dhan/", {"client_id": fake_dhan.client_id, "access_token": "x"})
    assert bad.status_code == 400 and "Paste the whole token" in bad.content.decode()
    token = fake_dhan.issue_access_token(valid_for=3600)
    done = browser.post(
        "/brokers/dhan/", {"client_id": fake_dhan.client_id, "access_token": token}, follow=True
    )
    html = done.content.decode()
    assert done.status_code == 200 and "DhanHQ" in html and "Linked" in html
    assert token not in html and "Replace token" in html
    account = BrokerAccount.objects.get(user=user, vendor="dhan")
    fresh = fake_dhan.issue_access_token(valid_for=7200)
    again = browser.post(f"/brokers/{account.pk}/token/", {"access_token": fresh}, follow=True)
    assert fresh not in again.content.decode() and "linked again" in again.content.decode()
    account.refresh_from_db()
    assert crypto.decrypt(account.access_token_encrypted) == fresh
    # Dhan has no login redirect: the Kite login button's URL refuses politely.
    assert browser.post(f"/brokers/{account.pk}/login/").status_code == 302


def test_no_dhan_token_in_any_log_line(api_client, user, fake_dhan, caplog):
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        response, token = link(api_client, fake_dhan)
        account = BrokerAccount.objects.get(pk=response.json()["id"])
        broker = broker_adapter_for(account=account, sleep=lambda s: None)
        broker.funds()
        fake_dhan.rate_limited = 1
        broker.place_order(OrderRequest("log-1", "1594", Side.BUY, OrderType.MARKET, 1))
        fake_dhan.expire_tokens()  # an error path logs too
        with pytest.raises(SessionExpired):
            broker.funds()
    logged = caplog.text + "\n".join(repr(e) for e in events)
    assert "broker_account_created" in logged and "broker_account_session_expired" in logged
    assert token not in logged and token.split(".")[2] not in logged
    assert repr(broker) == f"DhanBroker(account='{account.pk}', exchange='NSE')"
