"""The Brokers page: the link form's errors, the nav link, and the SDK's own login URL shape."""

from __future__ import annotations

import pytest
from kiteconnect import KiteConnect

from brokers.models import BrokerAccount

pytestmark = pytest.mark.django_db


def test_the_form_reports_every_field_error_at_once(browser):
    response = browser.post("/brokers/", {"vendor": "kite", "api_key": "no spaces!"})
    assert response.status_code == 400
    form = response.context["form"]
    assert set(form.errors) == {"api_key", "api_secret"}
    assert not BrokerAccount.objects.exists()


def test_linking_the_same_key_twice_is_an_error_on_the_key(browser):
    body = {"vendor": "kite", "api_key": "samekey1", "api_secret": "samesecret1"}
    assert browser.post("/brokers/", body).status_code == 302
    response = browser.post("/brokers/", body)
    assert response.status_code == 400 and "api_key" in response.context["form"].errors
    assert BrokerAccount.objects.count() == 1


def test_the_page_is_in_the_nav_and_names_the_callback_url(browser):
    page = browser.get("/brokers/").content.decode()
    assert 'href="/brokers/" aria-current="page">Brokers</a>' in page
    assert "http://testserver/brokers/kite/callback/" in page
    assert 'href="/brokers/"' in browser.get("/strategies/").content.decode()


def test_our_login_url_is_the_sdks_plus_our_state(browser, account, settings):
    settings.KITE_LOGIN_URL = KiteConnect._default_login_uri
    location = browser.post(f"/brokers/{account.pk}/login/")["Location"]
    assert location.startswith(KiteConnect(api_key=account.api_key).login_url() + "&")
