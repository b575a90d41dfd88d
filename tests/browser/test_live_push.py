"""The live page under push, in Chromium, against a real ASGI web process (gunicorn with the
uvicorn worker) and Redis: the footer says "push", a fill committed by a step shows on the
page without the 3-second poll (which is off while push works), every event is re-dispatched
as ``algosaas:live-event``, and when the web process goes the page falls back to polling.
Without Redis, against `make run`'s own web server: the footer says the page gets the orders
placed there by push and the bars and fills by polling, the poll goes on, and an order placed
from the page's ticket comes back over the socket.

The step and the manual order run in this test process, publishing through the same Redis db
and key prefix as the web process (as a job-cluster worker would). The figure printed is the
time from the fill's commit to its row on the page.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import UTC, datetime

import pytest
import redis
from django.conf import settings
from django.test import Client

from execution.models import Position
from execution.push import sender
from execution.services.live import order_place
from execution.tests.live.conftest import deploy, make_strategy, step
from execution.tests.push.conftest import REDIS_URL, redis_layer
from tests.browser.conftest import ACTION_TIMEOUT_MS, VIEWPORT
from tests.deploy.processes import (
    Process,
    database_url,
    free_port,
    production_env,
    wait_for,
    web_process,
)
from tests.factories import UserFactory
from tests.make_run import web_command

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the web process shares the test database: needs PostgreSQL (DATABASE_URL)",
    ),
]
FIXED_NOW = datetime(2026, 1, 5, 4, 0, 2, tzinfo=UTC)  # a Monday session: orders accepted


@pytest.fixture
def push_web(tmp_path, settings):
    """An ASGI web process on the test database with push on, and this process on its layer."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis at {REDIS_URL}: {e}")
    prefix = f"test-push-page-{uuid.uuid4().hex[:8]}"
    env = production_env(
        REDIS_URL,
        DJANGO_SETTINGS_MODULE="algosaas.settings.test",  # plain HTTP cookies on loopback
        LIVE_PUSH_PREFIX=prefix,
        Q_USE_REDIS="false",
        STATIC_ROOT=str(tmp_path / "static"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
    )
    web = web_process("web-push", env, tmp_path)

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{web.base}/healthz", timeout=2) as r:  # noqa: S310
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=60, what="the web process", logs=web.process.tail)
        settings.CHANNEL_LAYERS = redis_layer(REDIS_URL, prefix=prefix)
        sender.reset()
        yield web
    finally:
        web.process.stop()
        print(web.process.tail(15))
        sender.reset()


def test_a_fill_reaches_the_page_by_push_and_the_page_falls_back_to_polling(
    push_web, browser, monkeypatch
):
    from playwright.sync_api import expect

    user = UserFactory()
    client = Client()
    client.force_login(user)  # on the real clock: the session must not expire at once
    monkeypatch.setattr("execution.services.live.timezone.now", lambda: FIXED_NOW)
    deployment = deploy(make_strategy(user))
    step(deployment, 1)

    context = browser.new_context(base_url=push_web.base, viewport=VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": push_web.base}]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    polls: list[float] = []
    live_url = f"/app/deployments/{deployment.pk}/live/"
    page.on("request", lambda r: live_url in r.url and polls.append(time.monotonic()))
    page.goto(f"/app/deployments/{deployment.pk}/")
    page.evaluate(
        "window.__events = []; document.addEventListener('algosaas:live-event',"
        " (e) => window.__events.push(e.detail))"
    )
    mode = page.locator("#live-mode")
    expect(mode).to_have_text("live updates: push")
    strip = page.locator("#live-tiles .live-strip")
    # The tiles say so too: "Live · push" shows, "refreshes every 3 s" does not.
    expect(strip.locator(".live-via-push")).to_have_text("Live · push")
    expect(strip.locator(".live-via-push")).to_be_visible()
    expect(strip.locator(".live-via-poll")).to_be_hidden()

    # Push on: the tiles' 3-second poll is off (no event, no reload).
    time.sleep(1)  # the reload that follows the subscription
    quiet_from = time.monotonic()
    time.sleep(4)
    assert [t for t in polls if t > quiet_from] == []

    order = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=5)
    expect(page.locator("#open-orders")).to_contain_text(f"#{order.pk}")
    step(deployment, 2)  # the order fills at bar 2's open; the step commits
    committed = time.monotonic()
    # filled: it leaves the open orders, and the position shows its new size
    expect(page.locator("#open-orders")).not_to_contain_text(f"#{order.pk}")
    shown = time.monotonic()
    quantity = Position.objects.get(deployment=deployment).quantity
    positions = page.locator("#live-book table").first
    expect(positions).to_contain_text(f"{quantity:,}")
    print(f"fill commit -> on the page: {(shown - committed) * 1000:.0f} ms")

    kinds = page.evaluate("window.__events.map((e) => e.kind)")
    assert "order" in kinds and "fill" in kinds and "equity" in kinds
    fill = page.evaluate("window.__events.find((e) => e.kind === 'fill')")
    assert fill["order"]["id"] == order.pk and fill["deployment"] == deployment.pk

    # The web process goes: the socket closes, the page says so and polls again.
    push_web.process.stop()
    expect(mode).to_have_text("live updates: polling")
    expect(strip.locator(".live-via-poll")).to_have_text("Live · refreshes every 3 s")
    expect(strip.locator(".live-via-poll")).to_be_visible()
    expect(strip.locator(".live-via-push")).to_be_hidden()
    assert errors == []
    context.close()


LOCAL = "live updates: push for orders placed here, polling for bars and fills"


@pytest.fixture
def make_run_web(tmp_path, settings):
    """`make run`'s web server (its own command line, manage.py's settings, DEBUG, no Redis)
    on the test database."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "Q_", "PYTEST", "LIVE_PUSH")) and k != "REDIS_URL"
    }
    env.update(
        DEBUG="1",
        DATABASE_URL=database_url(),
        SECRET_KEY=settings.SECRET_KEY,
        JWT_SIGNING_KEY=settings.SIMPLE_JWT["SIGNING_KEY"],
        LOG_FORMAT="console",
        PYTHONUNBUFFERED="1",
    )
    port = free_port()
    web = Process.start("make-run-web", ["sh", "-c", web_command(port, env)], env, tmp_path)
    base = f"http://127.0.0.1:{port}"

    def up() -> bool:
        assert web.alive(), web.tail()
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2) as r:  # noqa: S310
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(up, timeout=60, what="make run's web server", logs=web.tail)
        yield base
    finally:
        web.stop()
        print(web.tail(15))


def test_without_redis_the_page_pushes_orders_placed_here_and_polls_for_the_rest(
    make_run_web, browser
):
    from playwright.sync_api import expect

    user = UserFactory()
    client = Client()
    client.force_login(user)
    deployment = deploy(make_strategy(user))  # synthetic, around the clock: orders accepted

    context = browser.new_context(base_url=make_run_web, viewport=VIEWPORT)
    context.set_default_timeout(ACTION_TIMEOUT_MS)
    expect.set_options(timeout=ACTION_TIMEOUT_MS)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": make_run_web}]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    polls: list[float] = []
    live_url = f"/app/deployments/{deployment.pk}/live/"
    page.on("request", lambda r: live_url in r.url and polls.append(time.monotonic()))
    page.goto(f"/app/deployments/{deployment.pk}/")
    page.evaluate(
        "window.__events = []; document.addEventListener('algosaas:live-event',"
        " (e) => window.__events.push(e.detail))"
    )
    mode = page.locator("#live-mode")
    expect(mode).to_have_text(LOCAL)  # subscribed: the socket is open
    expect(mode).to_have_attribute("title", re.compile("Set REDIS_URL to push them too"))
    strip = page.locator("#live-tiles .live-strip")
    expect(strip.locator(".live-via-poll")).to_have_text("Live · refreshes every 3 s")
    expect(strip.locator(".live-via-poll")).to_be_visible()
    expect(strip.locator(".live-via-push")).to_be_hidden()

    # The job cluster's bars and fills cannot reach this server: the timed poll goes on.
    polling_from = time.monotonic()
    page.wait_for_timeout(4500)  # (Playwright's wait: the request events are read meanwhile)
    assert [t for t in polls if t > polling_from], "the 3-second poll stopped"

    # An order placed from the page's ticket is committed by this server: it comes back by push.
    page.locator("#order-ticket button[type=submit]").click()
    page.wait_for_function(
        "() => window.__events.some((e) => e.kind === 'order' && e.order.source === 'manual')"
    )
    pushed = page.evaluate("window.__events.find((e) => e.kind === 'order')")
    assert pushed["deployment"] == deployment.pk and pushed["order"]["side"] == "BUY"
    # (accepted or refused at this hour, it is an order event this server committed)
    expect(page.locator("#orders")).to_contain_text(f"#{pushed['order']['id']}")
    expect(mode).to_have_text(LOCAL)
    assert errors == []
    context.close()
