"""The live page's footer says how it is updated, and it opens a socket only when push works.

Three modes (execution/push/mode.py): "push" with a channel layer shared between processes
(Redis), "local" with the in-memory one (make run without REDIS_URL: the web process's own
events by push, the job cluster's by polling), "polling" with push off or under a WSGI server.
Pages are fetched as the ASGI app serves them (``AsyncClient``), except where WSGI is the point.
"""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from execution.tests.live.conftest import deploy, make_strategy
from execution.tests.push.conftest import REDIS_URL, redis_layer
from strategies import services

pytestmark = pytest.mark.django_db

IN_MEMORY = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
POLL_FOOTER = '<span id="live-mode" class="live-mode" data-mode="polling">live updates: polling'


@pytest.fixture
def deployment(user):
    return deploy(make_strategy(user))


def _page(user, deployment, *, asgi: bool = True) -> str:
    client = AsyncClient() if asgi else Client()
    client.force_login(user)
    get = async_to_sync(client.get) if asgi else client.get
    response = get(f"/app/deployments/{deployment.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def _push_on(settings, layers: dict) -> None:
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "ENABLED": True}
    settings.CHANNEL_LAYERS = layers


def test_without_push_the_page_polls_and_says_so(user, deployment, settings):
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "ENABLED": False}
    page = _page(user, deployment)
    assert POLL_FOOTER in page
    assert "ws-connect" not in page and "live-push.js" not in page
    assert 'hx-trigger="every 3s, deployment-refresh from:body"' in page  # today's polling


def test_under_a_wsgi_server_the_page_polls_it_has_no_socket_route(user, deployment, settings):
    """runserver and ``gunicorn algosaas.wsgi`` serve no /ws/live/: no socket is tried."""
    _push_on(settings, redis_layer(REDIS_URL))
    page = _page(user, deployment, asgi=False)
    assert POLL_FOOTER in page
    assert "ws-connect" not in page and "live-push.js" not in page


def test_with_redis_the_page_opens_the_socket_for_every_event(user, deployment, settings):
    _push_on(settings, redis_layer(REDIS_URL))
    page = _page(user, deployment)
    assert (
        f'hx-ext="ws" ws-connect="/ws/live/" data-live-push="push"'
        f' data-deployment="{deployment.pk}">live updates: polling</span>' in page
    )  # live-push.js says "push" once subscribed
    assert page.index("htmx.min.js") < page.index("ws.min.js") < page.index("live-push.js")
    assert 'hx-trigger="every 3s, deployment-refresh from:body"' in page  # the fallback


def test_without_redis_the_socket_carries_this_servers_events_beside_polling(
    user, deployment, settings
):
    """make run without REDIS_URL: the in-memory layer cannot reach the job cluster."""
    _push_on(settings, IN_MEMORY)
    page = _page(user, deployment)
    assert (
        f'ws-connect="/ws/live/" data-live-push="local" data-deployment="{deployment.pk}"' in page
    )
    assert "bars and fills cannot reach this web server: they arrive by polling every 3 s" in page
    assert "live-push.js" in page
    assert 'hx-trigger="every 3s, deployment-refresh from:body"' in page
    # What the footer then says, and that the timed poll is skipped under "push" only.
    script = (settings.BASE_DIR / "static/js/live-push.js").read_text()
    assert '"live updates: push for orders placed here, polling for bars and fills"' in script
    assert 'push = mode === "push"; // only then is the timed poll skipped' in script


def test_a_stopped_run_has_no_live_updates_at_all(user, deployment, settings):
    _push_on(settings, IN_MEMORY)
    services.strategy_stop(strategy=deployment.strategy, actor=user, square_off=False)
    page = _page(user, deployment)
    assert "live-mode" not in page and "ws-connect" not in page


def test_the_tiles_say_push_only_while_the_footer_does(user, deployment, settings):
    _push_on(settings, redis_layer(REDIS_URL))
    page = _page(user, deployment)
    # Both texts are on the page; which one shows follows <html data-live-updates>, which
    # live-push.js sets with the footer (tests/browser/test_live_push.py sees it switch).
    assert '<span class="live-via-poll">Live · refreshes every 3 s</span>' in page
    assert '<span class="live-via-push">Live · push</span>' in page
    css = (settings.BASE_DIR / "static/css/app.css").read_text()
    assert ".live-strip .live-via-push { display: none; }" in css
    assert 'html[data-live-updates="push"] .live-strip .live-via-poll { display: none; }' in css
