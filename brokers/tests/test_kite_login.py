"""Kite's login redirect flow end to end against the fake Kite (Django test client + requests)."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from django.core import signing
from django.test import Client

from brokers import crypto
from brokers.kite_login import STATE_SALT
from brokers.models import BrokerAccount
from brokers.services import broker_account_create, kite_token_expiry
from brokers.tests.conftest import kite_login

pytestmark = pytest.mark.django_db
IST = ZoneInfo("Asia/Kolkata")


def test_login_redirect_carries_the_api_key_version_and_a_signed_state(browser, account):
    response = browser.post(f"/brokers/{account.pk}/login/")
    url = urlsplit(response["Location"])
    query = parse_qs(url.query)
    assert url.path == "/connect/login"
    assert query["api_key"] == [account.api_key] and query["v"] == ["3"]
    state = parse_qs(query["redirect_params"][0])["state"][0]
    assert signing.loads(state, salt=STATE_SALT)["a"] == account.pk  # signed by us


def test_full_login_links_the_account_with_an_encrypted_token(browser, account, fake_kite):
    response = kite_login(browser, account)
    assert response.status_code == 302 and response["Location"] == "/brokers/"
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.LINKED
    assert account.broker_user_id == "AB1234" and account.last_error == ""
    token = crypto.decrypt(account.access_token_encrypted)
    assert token in fake_kite.access_tokens
    assert token not in account.access_token_encrypted
    # The token works against Kite, and it is good until the next 06:00 IST.
    assert account.token_expires_at == kite_token_expiry(account.linked_at)
    assert account.token_expires_at.astimezone(IST).hour == 6
    page = browser.get("/brokers/")
    assert "Linked" in page.content.decode()
    assert token not in page.content.decode()


def test_a_wrong_secret_fails_the_checksum_and_is_shown(browser, user, fake_kite):
    account = broker_account_create(
        user=user, vendor="kite", api_key=fake_kite.api_key, api_secret="wrongsecret99"
    )
    response = kite_login(browser, account)
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.LOGIN_NEEDED
    assert "checksum" in account.last_error
    assert not fake_kite.access_tokens
    assert "checksum" in browser.get("/brokers/").content.decode()


def test_a_callback_from_another_session_cannot_link_the_account(browser, account, other_user):
    """Login CSRF: a state started in the owner's session is refused in anyone else's."""
    to_kite = browser.post(f"/brokers/{account.pk}/login/")
    at_kite = requests.get(to_kite["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(at_kite.headers["Location"])
    attacker = Client()
    attacker.force_login(other_user)
    response = attacker.get(back.path + "?" + back.query)
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.LOGIN_NEEDED
    # The same user in a new session (no nonce) is refused too.
    fresh = Client()
    fresh.force_login(account.user)
    fresh.get(back.path + "?" + back.query)
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.LOGIN_NEEDED


def test_a_tampered_or_replayed_state_is_refused(browser, account):
    to_kite = browser.post(f"/brokers/{account.pk}/login/")
    at_kite = requests.get(to_kite["Location"], allow_redirects=False, timeout=5)
    back = urlsplit(at_kite.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(back.query).items()}
    browser.get(back.path, {**params, "state": params["state"] + "x"})
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.LOGIN_NEEDED
    assert browser.get(back.path, params).status_code == 302
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.LINKED
    linked_at = account.linked_at
    browser.get(back.path, params)  # the nonce is spent: a replay changes nothing
    account.refresh_from_db()
    assert account.linked_at == linked_at


@pytest.mark.parametrize(
    ("login", "expiry"),
    [
        (datetime(2026, 12, 7, 9, 15, tzinfo=IST), datetime(2026, 12, 8, 6, 0, tzinfo=IST)),
        (datetime(2026, 12, 7, 5, 59, tzinfo=IST), datetime(2026, 12, 7, 6, 0, tzinfo=IST)),
        (datetime(2026, 12, 7, 6, 0, tzinfo=IST), datetime(2026, 12, 8, 6, 0, tzinfo=IST)),
    ],
)
def test_kite_tokens_expire_at_the_next_six_am_ist(login, expiry):
    assert kite_token_expiry(login) == expiry
