"""Linking a Kite account in the browser through the real redirect flow, against the fake Kite.

Chromium submits "Log in to Kite", follows our redirect to the fake's ``/connect/login``, which
redirects back to our callback with a ``request_token`` (a real Kite shows its login page in
between); the token exchange runs in the server thread against the fake. Then the daily logout
shows "Re-login needed", a re-login links it again, and unlink removes it. No CSP violation:
the Brokers page allows Kite's login origin as a form target (CSP's form-action covers the
redirect).
"""

from __future__ import annotations

import pytest

from tests.browser.conftest import logged_in
from tests.factories import TEST_PASSWORD

try:
    from playwright.sync_api import expect
except ImportError:  # the ``browser`` fixture skips (or, under CI, fails) with the reason
    expect = None

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(120),
]


def test_link_log_in_expire_re_login_and_unlink(new_tab, app_server, settings, artifacts):
    from brokers.models import BrokerAccount
    from brokers.services import broker_account_check
    from tests.factories import UserFactory
    from tests.fakes.kite import shared_server

    server = shared_server()
    kite = server.reset(redirect_url=f"{app_server.url}/brokers/kite/callback/")
    settings.KITE_API_ROOT = server.url
    settings.KITE_LOGIN_URL = server.login_url
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""
    user = UserFactory()
    tab = new_tab("trader")
    page = tab.page
    logged_in(page, email=user.email, password=TEST_PASSWORD)

    page.get_by_role("link", name="Brokers").click()
    expect(page.get_by_role("heading", name="Brokers", level=1)).to_be_visible()
    page.get_by_label("API key").fill(kite.api_key)
    page.get_by_label("API secret").fill(kite.api_secret)
    page.get_by_role("button", name="Add account").click()
    expect(page.get_by_text("Login needed", exact=True)).to_be_visible()
    artifacts.shot(page, "added")

    page.get_by_role("button", name="Log in to Kite").click()
    expect(page.get_by_text("Linked", exact=True)).to_be_visible()
    expect(page.get_by_text("AB1234").first).to_be_visible()
    assert page.url.endswith("/brokers/")
    artifacts.shot(page, "linked")

    kite.expire_tokens()  # Kite's 06:00 IST logout; the next call to Kite notices
    broker_account_check(account=BrokerAccount.objects.get(user=user))
    page.reload()
    expect(page.get_by_text("Re-login needed", exact=True)).to_be_visible()
    page.get_by_role("button", name="Re-login").click()
    expect(page.get_by_text("Linked", exact=True)).to_be_visible()

    page.get_by_role("button", name="Unlink").click()
    expect(page.get_by_role("heading", name="No broker accounts")).to_be_visible()
    assert not BrokerAccount.objects.filter(user=user).exists()
    assert not tab.csp, tab.csp
    assert kite.api_secret not in page.content()
