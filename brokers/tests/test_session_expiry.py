"""Kite's daily logout: the account shows "re-login needed" and nothing is sent until a login."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from brokers.models import BrokerAccount
from brokers.services import broker_account_check, broker_adapter_for
from brokers.tests.conftest import kite_login
from execution.brokers.base import SessionExpired

pytestmark = pytest.mark.django_db


def test_a_token_refused_mid_session_marks_the_account_for_re_login(browser, account, fake_kite):
    kite_login(browser, account)
    account.refresh_from_db()
    broker = broker_adapter_for(account=account, sleep=lambda s: None)
    assert broker.funds().cash > 0
    fake_kite.expire_tokens()
    with pytest.raises(SessionExpired):
        broker.positions()
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.RELOGIN_NEEDED
    assert account.access_token_encrypted == ""
    assert "session expired" in account.last_error.lower()
    with pytest.raises(SessionExpired):  # no token left: nothing reaches Kite
        broker_adapter_for(account=account)
    assert "Re-login needed" in browser.get("/brokers/").content.decode()
    kite_login(browser, account)  # a new login links it again
    account.refresh_from_db()
    assert account.status == BrokerAccount.Status.LINKED and account.last_error == ""


def test_past_six_am_ist_the_account_shows_re_login_needed(browser, account, fake_kite):
    kite_login(browser, account)
    account.refresh_from_db()
    after = account.token_expires_at + timedelta(seconds=1)
    assert account.current_status(after) == BrokerAccount.Status.RELOGIN_NEEDED
    assert account.current_status(after - timedelta(seconds=2)) == BrokerAccount.Status.LINKED
    BrokerAccount.objects.filter(pk=account.pk).update(
        token_expires_at=timezone.now() - timedelta(minutes=1)
    )
    account.refresh_from_db()
    (row,) = browser.get("/api/brokers/").json()["results"]
    assert row["status"] == "relogin_needed" and row["status_label"] == "Re-login needed"
    with pytest.raises(SessionExpired):
        broker_adapter_for(account=account)
    assert "Re-login needed" in browser.get("/brokers/").content.decode()


def test_check_confirms_a_live_session(browser, account, fake_kite):
    kite_login(browser, account)
    account.refresh_from_db()
    assert broker_account_check(account=account).last_error == ""
    fake_kite.expire_tokens()
    account = broker_account_check(account=account)
    assert account.status == BrokerAccount.Status.RELOGIN_NEEDED
