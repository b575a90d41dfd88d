"""`make run`'s web server pushes the live page's events, in each of its two configurations.

The web server is started from the very line `make run` starts (`make -s web-command` prints
it): uvicorn serving ``algosaas.asgi`` on a free loopback port with manage.py's settings and
the newcomer's environment (DEBUG, an embedded SQLite file migrated and seeded as `make run`
does). A demo user logs in through the login form; its session cookie opens ``/ws/live/``, as
the live page does, and subscribes to the seeded demo deployment.

- Without ``REDIS_URL`` the in-memory channel layer lives in the web process: a manual order
  placed through that process's API arrives on the socket; the page says "local" (the job
  cluster's bars and fills come by polling).
- With ``REDIS_URL`` the job cluster started beside it (``manage.py qcluster``, as `make run`
  does) steps the deployment, and the manual order's fill arrives on the socket through Redis
  (``PUSH_TEST_REDIS_URL``, db 5 by default, under a key prefix of its own); the page says
  "push".

Slow: a minute or two (migrating the SQLite file is most of it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests
from django.conf import settings
from websockets.sync.client import ClientConnection, connect

from strategies.management.commands.seed_demo import DEMO_EMAIL, DEMO_PASSWORD
from tests.deploy.conftest import redis_unavailable
from tests.deploy.processes import Process, free_port, wait_for
from tests.make_run import web_command

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("make") is None, reason="needs make"),
]

BASE_DIR = Path(settings.BASE_DIR)
REDIS_URL = os.environ.get("PUSH_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
DEMO_DEPLOYMENT = "RELIANCE fast crossover (live demo)"  # synthetic 5 s bars, around the clock


def newcomer_env(db: Path, **extra: str) -> dict[str, str]:
    """What `make run` runs with: its .env (DEBUG on, keys), no test settings, no Redis."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "Q_", "PYTEST", "LIVE_PUSH")) and k != "REDIS_URL"
    }
    env.update(
        DEBUG="1",
        SECRET_KEY="make-run-push-test-secret-key-" + "s" * 40,
        JWT_SIGNING_KEY="make-run-push-test-jwt-key-" + "j" * 40,
        DATABASE_URL=f"sqlite:///{db}",
        LOG_FORMAT="console",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file as `make run`'s ``seed`` leaves it: migrated, demo user, demo runs."""
    db = tmp_path_factory.mktemp("make-run-push") / "db.sqlite3"
    env = newcomer_env(db)
    for argv in (["migrate", "--noinput", "-v0"], ["seed_demo"]):
        subprocess.run(
            [sys.executable, "manage.py", *argv], cwd=BASE_DIR, env=env, check=True, timeout=300
        )
    return db


@pytest.fixture
def database(seeded_db: Path, tmp_path: Path) -> Path:
    """A copy of the seeded file for one test (the WAL is checkpointed into it at close)."""
    db = tmp_path / "db.sqlite3"
    shutil.copyfile(seeded_db, db)
    return db


class MakeRunWeb:
    """make run's web server on a free port, and a browser-like session of the demo user."""

    def __init__(self, env: dict[str, str], workdir: Path):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.command = web_command(port, env)
        self.process = Process.start("web", ["sh", "-c", self.command], env, workdir)
        self.http = requests.Session()

    def up(self) -> bool:
        if not self.process.alive():
            pytest.fail(f"the web server exited\n{self.process.tail()}")
        try:
            return self.http.get(f"{self.base}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def log_in(self) -> None:
        """Through the login form, as the newcomer does."""
        page = self.http.get(f"{self.base}/login/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        answer = self.http.post(
            f"{self.base}/login/",
            data={"username": DEMO_EMAIL, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token},
            allow_redirects=False,
            timeout=10,
        )
        assert answer.status_code == 302, answer.text[:500]
        assert "sessionid" in self.http.cookies

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        """The REST API on the session (CSRF token as the dashboard's scripts send it)."""
        headers = {"Accept": "application/json", "X-CSRFToken": self.http.cookies["csrftoken"]}
        answer = self.http.request(
            method, f"{self.base}{path}", json=body, headers=headers, timeout=15
        )
        assert answer.status_code < 300, (answer.status_code, answer.text[:500])
        return answer.json()

    def demo_deployment(self) -> int:
        runs = self.api("GET", "/api/deployments/?status=RUNNING")["results"]
        return next(r["id"] for r in runs if r["strategy_name"] == DEMO_DEPLOYMENT)

    def footer(self, deployment: int) -> str:
        page = self.http.get(f"{self.base}/app/deployments/{deployment}/", timeout=15).text
        return re.search(r'<span id="live-mode"[^>]*>', page).group(0)

    @contextlib.contextmanager
    def socket(self, deployment: int) -> Iterator[ClientConnection]:
        """``/ws/live/`` with the session cookie and the page's Origin, subscribed."""
        with connect(
            self.base.replace("http://", "ws://", 1) + "/ws/live/",
            additional_headers={
                "Origin": self.base,
                "Cookie": f"sessionid={self.http.cookies['sessionid']}",
            },
            open_timeout=15,
        ) as ws:
            assert json.loads(ws.recv(timeout=15))["authenticated"] is True
            ws.send(json.dumps({"type": "subscribe", "deployment": deployment}))
            ack = self.next_message(ws, timeout=15)
            assert ack["type"] == "subscribed", ack
            yield ws

    @staticmethod
    def next_message(ws: ClientConnection, *, timeout: float) -> dict:
        while True:
            msg = json.loads(ws.recv(timeout=timeout))
            if msg["type"] == "ping":
                ws.send('{"type":"pong"}')
                continue
            assert msg["type"] != "error", msg
            return msg

    def buy(self, deployment: int) -> int:
        order = self.api(
            "POST",
            f"/api/deployments/{deployment}/orders/",
            {"side": "BUY", "order_type": "MARKET", "quantity": 1},
        )
        return order["id"]


def next_event(ws: ClientConnection, *, kind: str, timeout: float, order: int | None = None):
    """The next ``kind`` event pushed on ``ws`` (of ``order`` if given); others are skipped."""
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            msg = MakeRunWeb.next_message(ws, timeout=left)
        except TimeoutError:
            break
        if msg.get("kind") == kind and (order is None or msg["order"]["id"] == order):
            return msg
    pytest.fail(f"no {kind} event (order {order}) on the socket within {timeout:.0f} s")


@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Process]]:
    """Processes a test starts; every one stopped (its whole group) afterwards."""
    processes: list[Process] = []
    yield processes
    for p in processes:
        p.stop()
        print(p.tail(20))


def test_without_redis_the_web_servers_own_order_is_pushed(database, tmp_path, started):
    env = newcomer_env(database)
    web = MakeRunWeb(env, tmp_path)
    started.append(web.process)
    assert "uvicorn algosaas.asgi:application" in web.command
    wait_for(web.up, timeout=90, what="make run's web server", logs=web.process.tail)
    web.log_in()
    dep = web.demo_deployment()
    # The page opens its socket for this process's events and says the steps come by polling.
    assert 'data-live-push="local"' in web.footer(dep)

    with web.socket(dep) as ws:
        order = web.buy(dep)
        # Committed by this process: pushed. (No cluster runs here, so the run has no price
        # yet and the broker refuses the market order; its events are pushed all the same.)
        placed = next_event(ws, order=order, kind="order", timeout=15)
    assert placed["deployment"] == dep and placed["order"]["side"] == "BUY"
    assert placed["order"]["source"] == "manual"


def test_with_redis_a_manual_orders_fill_from_the_job_cluster_is_pushed(
    database, tmp_path, started
):
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as e:
        redis_unavailable(f"no Redis at {REDIS_URL}: {e}")  # skips here, fails under CI
    env = newcomer_env(
        database, REDIS_URL=REDIS_URL, LIVE_PUSH_PREFIX=f"make-run-push-{uuid.uuid4().hex[:8]}"
    )
    web = MakeRunWeb(env, tmp_path)
    started.append(web.process)
    # The job cluster, as `make run` starts it beside the web server.
    started.append(
        Process.start("qcluster", [sys.executable, "manage.py", "qcluster"], env, tmp_path)
    )
    wait_for(web.up, timeout=90, what="make run's web server", logs=web.process.tail)
    web.log_in()
    dep = web.demo_deployment()
    assert 'data-live-push="push"' in web.footer(dep)

    with web.socket(dep) as ws:
        # The cluster's first step, pushed: the run has a last price, so a market order is
        # accepted (before it, one is refused: "no market price yet").
        next_event(ws, kind="equity", timeout=150)
        order = web.buy(dep)
        placed = next_event(ws, order=order, kind="order", timeout=15)
        assert placed["order"]["status"] in {"PENDING", "OPEN"}, placed
        # Filled at the next 5-second bar's open by a step in the job cluster, another process.
        fill = next_event(ws, order=order, kind="fill", timeout=60)
    assert fill["deployment"] == dep and fill["order"]["status"] == "COMPLETE"
    assert fill["order"]["filled_quantity"] == 1
