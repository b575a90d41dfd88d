"""The live page's footer says how it is updated, and it opens a socket only when push works."""

from __future__ import annotations

import pytest

from execution.tests.live.conftest import deploy, make_strategy
from strategies import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def deployment(user):
    return deploy(make_strategy(user))


def _page(client, user, deployment) -> str:
    client.force_login(user)
    response = client.get(f"/app/deployments/{deployment.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_without_push_the_page_polls_and_says_so(client, user, deployment, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "ENABLED": False}
    page = _page(client, user, deployment)
    footer = '<span id="live-mode" class="live-mode" data-mode="polling">live updates: polling'
    assert footer in page
    assert "ws-connect" not in page and "live-push.js" not in page
    assert 'hx-trigger="every 3s, deployment-refresh from:body"' in page  # today's polling


def test_with_push_the_page_opens_the_socket_and_keeps_polling_until_subscribed(
    client, user, deployment, settings
):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "ENABLED": True}
    page = _page(client, user, deployment)
    assert (
        f'hx-ext="ws" ws-connect="/ws/live/" data-live-push data-deployment="{deployment.pk}"'
        in page
    )
    assert ">live updates: polling</span>" in page  # live-push.js says "push" once subscribed
    assert page.index("htmx.min.js") < page.index("ws.min.js") < page.index("live-push.js")
    assert 'hx-trigger="every 3s, deployment-refresh from:body"' in page  # the fallback


def test_a_stopped_run_has_no_live_updates_at_all(client, user, deployment, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "ENABLED": True}
    services.strategy_stop(strategy=deployment.strategy, actor=user, square_off=False)
    page = _page(client, user, deployment)
    assert "live-mode" not in page and "ws-connect" not in page


def test_the_tiles_say_push_only_while_the_footer_does(client, user, deployment, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "ENABLED": True}
    page = _page(client, user, deployment)
    # Both texts are on the page; which one shows follows <html data-live-updates>, which
    # live-push.js sets with the footer (tests/browser/test_live_push.py sees it switch).
    assert '<span class="live-via-poll">Live · refreshes every 3 s</span>' in page
    assert '<span class="live-via-push">Live · push</span>' in page
    css = (settings.BASE_DIR / "static/css/app.css").read_text()
    assert ".live-strip .live-via-push { display: none; }" in css
    assert 'html[data-live-updates="push"] .live-strip .live-via-poll { display: none; }' in css
