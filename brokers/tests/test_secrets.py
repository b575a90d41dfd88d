"""Broker secrets: encrypted at rest, rotatable, never in a log line, a page or an API answer."""

from __future__ import annotations

import logging

import pytest
import structlog
from cryptography.fernet import Fernet
from django.core.management import call_command

from brokers import crypto
from brokers.models import BrokerAccount
from brokers.services import broker_adapter_for
from brokers.tests.conftest import kite_login
from execution.brokers.base import SessionExpired

pytestmark = pytest.mark.django_db


def test_no_secret_or_token_in_any_log_line(browser, api_client, user, fake_kite, caplog):
    caplog.set_level(logging.DEBUG)
    with structlog.testing.capture_logs() as events:
        response = api_client.post(
            "/api/brokers/",
            {"api_key": fake_kite.api_key, "api_secret": fake_kite.api_secret},
            format="json",
        )
        account = BrokerAccount.objects.get(pk=response.json()["id"])
        kite_login(browser, account)
        account.refresh_from_db()
        broker = broker_adapter_for(account=account, sleep=lambda s: None)
        broker.funds()
        fake_kite.expire_tokens()  # an error path logs too
        with pytest.raises(SessionExpired):
            broker.funds()
    logged = caplog.text + "\n".join(repr(e) for e in events)
    assert "broker_account_linked" in logged  # the recorder did see our events
    assert fake_kite.api_secret not in logged
    assert repr(broker) == f"KiteBroker(account='{account.pk}', exchange='NSE')"
    for issued in fake_kite.access_tokens | {broker.kite.access_token}:
        assert issued not in logged
    # The API never returns the token either.
    page = api_client.get(f"/api/brokers/{account.pk}/").content.decode()
    assert broker.kite.access_token not in page and fake_kite.api_secret not in page


def test_rotation_re_encrypts_under_the_new_key(settings, user):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.BROKER_SECRET_KEYS = [old]
    from brokers.services import broker_account_create

    account = broker_account_create(
        user=user, vendor="kite", api_key="rotkey1", api_secret="rotsecret12345"
    )
    settings.BROKER_SECRET_KEYS = [new, old]
    call_command("rotate_broker_secrets")
    account.refresh_from_db()
    settings.BROKER_SECRET_KEYS = [new]  # the old key can now be dropped
    assert crypto.decrypt(account.api_secret_encrypted) == "rotsecret12345"
    settings.BROKER_SECRET_KEYS = [old]
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(account.api_secret_encrypted)


def test_the_admin_shows_status_but_no_secret(client, account, fake_kite):
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    page = client.get(f"/admin/brokers/brokeraccount/{account.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert account.api_key in body and "Login needed" in body
    assert fake_kite.api_secret not in body and account.api_secret_encrypted not in body
    assert client.get("/admin/brokers/brokeraccount/add/").status_code == 403
