"""The deployment recipe proven on loopback: two web processes, two job clusters, one Redis.

Production's process types as the Procfile starts them (gunicorn ASGI with the UvicornWorker;
``manage.py qcluster`` on django-q2's Redis broker), production settings, the test database and
Redis db ``SMOKE_DB``. A user deploys a strategy through web process A's API with a JWT from A;
its orders, fills and equity are read through web process B, and B's WebSocket (live push over
the Redis channel layer) delivers the fill events; then one job cluster is SIGKILLed
(its whole process group) and the deployment keeps stepping on the other. The dispatcher task
is enqueued every few seconds through the same Redis queue (production's once-a-minute schedule
at test speed). The sockets subscribe with no cursor, so nothing is replayed from the database:
every event they see was pushed live. Slow: about a minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from websockets.sync.client import ClientConnection

from tests.deploy.conftest import REDIS_HOST, flushed_redis
from tests.deploy.processes import (
    Process,
    Web,
    production_env,
    qcluster_process,
    wait_for,
    web_process,
)
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "postgresql" not in settings.DATABASES["default"]["ENGINE"],
        reason="the processes share the test database: needs PostgreSQL (DATABASE_URL)",
    ),
]

SMOKE_DB = int(os.environ.get("DEPLOY_SMOKE_REDIS_DB", "10"))  # emptied before and after
DISPATCH_SECONDS = 5


class RedisTicker(threading.Thread):
    """Enqueue ``execution.tasks.dispatch_steps`` on the Redis queue every few seconds."""

    def __init__(self, redis_url: str):
        super().__init__(name="smoke-ticker", daemon=True)
        from django_q.brokers.redis_broker import Redis
        from django_q.conf import Conf

        self._conf, self._saved = Conf, Conf.REDIS
        Conf.REDIS = redis_url  # the broker reads its connection from Conf
        self.broker = Redis(list_key=settings.Q_CLUSTER["name"])
        self.sent = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        from django_q.tasks import async_task

        while not self._stop_event.is_set():
            async_task("execution.tasks.dispatch_steps", broker=self.broker, sync=False, save=False)
            self.sent += 1
            self._stop_event.wait(DISPATCH_SECONDS)

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=10)
        self._conf.REDIS = self._saved


def _named(env: dict[str, str], name: str) -> dict[str, str]:
    """``env`` whose database connections show as ``smoke-<name>`` in pg_stat_activity."""
    return {**env, "DATABASE_URL": f"{env['DATABASE_URL']}?application_name=smoke-{name}"}


def _web_connections() -> int:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND application_name LIKE 'smoke-web-%%'"
        )
        return cur.fetchone()[0]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict]:
    """Two web processes, two qclusters and a ticker; every one stopped after the test."""
    from strategies.tests.factories import ensure_seeded_instruments

    ensure_seeded_instruments()
    flushed_redis(SMOKE_DB)
    redis_url = f"redis://{REDIS_HOST}/{SMOKE_DB}"
    env = production_env(
        redis_url,
        Q_WORKERS="2",
        CONN_MAX_AGE="60",  # what the workers keep; the ASGI web processes must ignore it
        Q_TIMEOUT="10",
        Q_RETRY="12",
        DISPATCH_SECONDS=str(DISPATCH_SECONDS),
        STATIC_ROOT=str(tmp_path / "static"),
    )
    # The image's build step: static files collected for WhiteNoise (and the manifest).
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
    )
    started: list[Process] = []
    ticker: RedisTicker | None = None
    try:
        web_a = web_process("web-a", _named(env, "web-a"), tmp_path)
        web_b = web_process("web-b", _named(env, "web-b"), tmp_path)
        started += [web_a.process, web_b.process]
        for web in (web_a, web_b):
            wait_for(web.ready, timeout=60, what=f"{web.process.name} ready", logs=web.process.tail)
        for name in ("worker-1", "worker-2"):
            started.append(qcluster_process(name, env, tmp_path))
        ticker = RedisTicker(redis_url)
        ticker.start()
        yield {"a": web_a, "b": web_b, "workers": started[2:], "env": env}
    finally:
        if ticker is not None:
            ticker.stop()
        for p in started:
            p.stop()
            print(p.tail(20))
        flushed_redis(SMOKE_DB)


def _count(web: Web, path: str, token: str) -> int:
    status, body = web.request("GET", path, token=token)
    assert status == 200, body
    return body["count"]


def _static_files_served(web: Web) -> None:
    """A page renders under ASGI and its hashed stylesheet comes from WhiteNoise."""
    status, page = web.request("GET", "/login/")
    assert status == 200
    css = re.search(r'href="(/static/css/app\.[0-9a-f]+\.css)"', page)
    assert css, "the login page links its collected (hashed) stylesheet"
    status, body = web.request("GET", css.group(1))
    assert status == 200 and "body" in body


@contextlib.contextmanager
def _socket(web: Web, token: str, dep: int) -> Iterator[tuple[ClientConnection, dict]]:
    """``web``'s ``/ws/live/`` (JWT as a subprotocol, never in the URL), subscribed to ``dep``
    with no cursor: nothing is replayed from the database, so every event that arrives was
    pushed live, published by the process that committed it through the Redis channel layer.
    Yields the socket and the subscription's answer (the heads at that moment)."""
    from websockets.sync.client import connect

    url = web.base.replace("http://", "ws://", 1) + "/ws/live/"
    with connect(
        url,
        subprotocols=["algosaas.jwt", token],
        additional_headers={"Origin": web.base},
        open_timeout=15,
    ) as ws:
        assert ws.subprotocol == "algosaas.jwt"
        assert json.loads(ws.recv(timeout=15))["authenticated"] is True
        ws.send(json.dumps({"type": "subscribe", "deployment": dep}))
        ack = _next_message(ws, timeout=15)
        assert ack["type"] == "subscribed" and "seq" in ack, ack
        yield ws, ack


def _next_message(ws: ClientConnection, *, timeout: float) -> dict:
    while True:
        msg = json.loads(ws.recv(timeout=timeout))
        assert msg["type"] != "error", msg
        if msg["type"] != "ping":
            return msg
        ws.send('{"type":"pong"}')


def _pushed(web: Web, ws: ClientConnection, kind: str, *, timeout: float) -> dict:
    """The next ``kind`` event pushed on ``ws``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = _next_message(ws, timeout=left)
        except TimeoutError:
            break
        if msg.get("kind") == kind:
            return msg
    pytest.fail(f"no {kind} event pushed through {web.process.name}'s socket\n{web.process.tail()}")


def test_deploy_through_a_read_fills_through_b_and_survive_a_dead_worker(stack):
    from execution.models import Instrument

    a: Web = stack["a"]
    b: Web = stack["b"]
    workers: list[Process] = stack["workers"]
    logs = lambda: "\n".join(p.tail() for p in [a.process, b.process, *workers])  # noqa: E731
    _static_files_served(b)

    user = UserFactory()
    status, tokens = a.request(
        "POST", "/api/auth/token/", {"email": user.email, "password": TEST_PASSWORD}
    )
    assert status == 200, tokens
    token = tokens["access"]

    reliance = Instrument.objects.get(exchange="NSE", symbol="RELIANCE")
    status, strategy = a.request(
        "POST",
        "/api/strategies/",
        {
            "name": "smoke",
            "strategy_type": "sma_crossover",
            "params": {"fast": 2, "slow": 5, "mode": "long_short"},
            "instrument": reliance.pk,
            "timeframe": "5s",
            "product": "MIS",
            "quantity": 10,
            "allocation_pct": None,
            "capital": "1000000.00",
        },
        token=token,
    )
    assert status == 201, strategy
    status, deployment = a.request(
        "POST", f"/api/strategies/{strategy['id']}/deploy/", {"feed": "synthetic"}, token=token
    )
    assert status == 201, deployment
    dep = deployment["id"]

    # B's WebSocket: the fills the job clusters commit for A's deployment are pushed to it,
    # live (later than the heads B answered the subscription with), across three processes.
    with _socket(b, token, dep) as (ws, heads):
        fill = _pushed(b, ws, "fill", timeout=120)
    assert fill["seq"] > heads["seq"]

    # B, another process, sees what the workers did for A's deployment: fills and equity.
    fills = wait_for(
        lambda: _count(b, f"/api/deployments/{dep}/trades/", token),
        timeout=120,
        what="fills read through web process B",
        logs=logs,
    )
    assert fills >= 1
    status, orders = b.request("GET", f"/api/deployments/{dep}/orders/", token=token)
    assert status == 200 and orders["count"] >= fills
    assert "COMPLETE" in {o["status"] for o in orders["results"]}
    assert fill["deployment"] == dep and fill["order"]["status"] == "COMPLETE"
    assert fill["order"]["id"] in {o["id"] for o in orders["results"]}
    status, trades = b.request("GET", f"/api/deployments/{dep}/trades/", token=token)
    assert all(Decimal(t["price"]) > 0 for t in trades["results"])

    # The worker container's healthcheck sees a cluster of this host reporting to Redis.
    check = subprocess.run(
        [sys.executable, "deploy/worker_healthcheck.py"],
        cwd=settings.BASE_DIR,
        env=stack["env"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stdout + check.stderr

    # One job cluster dies with all its processes; the other one keeps the deployment stepping.
    workers[0].kill()
    assert not workers[0].alive()
    bars_at_kill = _count(b, f"/api/deployments/{dep}/equity/", token)
    wait_for(
        lambda: _count(b, f"/api/deployments/{dep}/equity/", token) >= bars_at_kill + 4,
        timeout=90,
        what="four more bars stepped by the surviving cluster",
        logs=logs,
    )
    assert workers[1].alive(), workers[1].tail()
    # The surviving cluster's steps are still pushed to B's socket as they commit.
    with _socket(b, token, dep) as (ws, heads):
        point = _pushed(b, ws, "equity", timeout=60)
    assert point["deployment"] == dep and point["seq"] > heads["equity_seq"]
    status, body = a.request("GET", f"/api/deployments/{dep}/", token=token)
    assert status == 200 and body["status"] == "RUNNING", body

    # Dozens of requests later the web processes hold no database connection between requests:
    # under ASGI a kept one would belong to a finished request's thread, leaked.
    wait_for(lambda: _web_connections() == 0, timeout=5, what="web connections closed")
