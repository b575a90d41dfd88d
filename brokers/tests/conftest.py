"""Fixtures: the fake Kite server on loopback with the app pointed at it, logged-in browsers."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from django.test import Client

from brokers.models import BrokerAccount
from brokers.services import broker_account_create
from tests.fakes.kite import FakeKite, shared_server


@pytest.fixture
def fake_kite(settings) -> FakeKite:
    """A fresh fake Kite (books, tokens, faults), with KITE_API_ROOT/KITE_LOGIN_URL at it."""
    server = shared_server()
    kite = server.reset()
    kite.add_instrument("INFY", tick=0.05, lot=1, last_price=1500.0)
    settings.KITE_API_ROOT = server.url
    settings.KITE_LOGIN_URL = server.login_url
    settings.KITE_TIMEOUT_SECONDS = 5.0
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""
    return kite


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def account(user, fake_kite) -> BrokerAccount:
    return broker_account_create(
        user=user, vendor="kite", api_key=fake_kite.api_key, api_secret=fake_kite.api_secret
    )


def kite_login(client: Client, account: BrokerAccount):
    """Run the whole redirect flow: our login page → the fake Kite → our callback."""
    to_kite = client.post(f"/brokers/{account.pk}/login/")
    assert to_kite.status_code == 302
    at_kite = requests.get(to_kite["Location"], allow_redirects=False, timeout=5)
    assert at_kite.status_code == 302
    back = urlsplit(at_kite.headers["Location"])
    return client.get(back.path, data=dict(parse_qsl(back.query)))
