"""Linking a Dhan account in the browser: paste a client id and token, see it linked until the
token's expiry, the token refused mid-session shows "Re-login needed", a fresh pasted token
links it again, and the token never appears on the page.
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


def test_link_expire_re_login_and_unlink_a_dhan_account(new_tab, app_server, settings, artifacts):
    from brokers.models import BrokerAccount
    from brokers.services import broker_account_check
    from tests.factories import UserFactory
    from tests.fakes.dhan import shared_server

    server = shared_server()
    dhan = server.reset()
    settings.DHAN_API_ROOT = server.root
    settings.BROKER_RATE_LIMIT_REDIS_URL = ""
    user = UserFactory()
    tab = new_tab("trader")
    page = tab.page
    logged_in(page, email=user.email, password=TEST_PASSWORD)

    page.get_by_role("link", name="Brokers").click()
    token = dhan.issue_access_token(valid_for=3600)
    page.get_by_label("Dhan client id").fill(dhan.client_id)
    page.get_by_label("Access token").fill(token)
    page.get_by_role("button", name="Link Dhan account").click()
    expect(page.get_by_text("Linked", exact=True)).to_be_visible()
    expect(page.get_by_text(dhan.client_id).first).to_be_visible()
    artifacts.shot(page, "dhan-linked")

    dhan.expire_tokens()  # Dhan refuses the token; the next call notices
    broker_account_check(account=BrokerAccount.objects.get(user=user))
    page.reload()
    expect(page.get_by_text("Re-login needed", exact=True)).to_be_visible()
    fresh = dhan.issue_access_token(valid_for=7200)
    page.get_by_label("New Dhan access token").fill(fresh)
    page.get_by_role("button", name="Re-login").click()
    expect(page.get_by_text("Linked", exact=True)).to_be_visible()
    html = page.content()
    assert token not in html and fresh not in html

    page.get_by_role("button", name="Unlink").click()
    expect(page.get_by_role("heading", name="No broker accounts")).to_be_visible()
    assert not BrokerAccount.objects.filter(user=user).exists()
    assert not tab.csp, tab.csp
