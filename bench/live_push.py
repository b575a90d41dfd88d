"""The ``--push`` half of ``bench/live.py``: a web process and WebSocket clients beside the cluster.

One gunicorn + ``UvicornWorker`` process (``algosaas.asgi``) serves ``/ws/live/`` with the Redis
channel layer; the job cluster's steps publish their events after commit (execution/push/). The
bench opens ``--sockets`` clients (``websockets``, JWT access token as subprotocol, an ``Origin``
header as a browser sends), each subscribed to ``--subs`` deployments spread evenly over all
of them, and records for every equity event received: receive time - bar close (``ts + 60``).
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

SUBSCRIBER = """
import django
django.setup()
from rest_framework_simplejwt.tokens import AccessToken
from accounts.models import User
from strategies.models import Deployment
user = User.objects.get(email="bench@algosaas.local")
print(AccessToken.for_user(user))
print(",".join(str(pk) for pk in Deployment.objects.order_by("pk").values_list("pk", flat=True)))
"""


COMMITS = """
import sys
import django
django.setup()
from django.db import connection
start, end = int(sys.argv[1]), int(sys.argv[2])
watched = [int(x) for x in sys.argv[3].split(",") if x]
with connection.cursor() as c:
    c.execute('''
        SELECT deployment_id, extract(epoch FROM ts)::bigint, extract(epoch FROM recorded_at)
        FROM execution_equitysnapshot
        WHERE deployment_id = ANY(%s)
          AND ts >= to_timestamp(%s) AND ts + interval '60 seconds' <= to_timestamp(%s)''',
        [watched, start, end])
    for row in c.fetchall():
        print(*row)
"""


def push_env(redis_url: str, prefix: str) -> dict[str, str]:
    """Settings of every process of a push run (web and cluster alike)."""
    return {
        "REDIS_URL": redis_url,
        "Q_USE_REDIS": "false",  # the ORM broker, as the run without push: compare like with like
        "LIVE_PUSH": "true",
        "LIVE_PUSH_PREFIX": prefix,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LIVE_PUSH_HEARTBEAT_SECONDS": "30",
        "ACCESS_TOKEN_EXPIRE_MINUTES": "120",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(root: Path, env: dict[str, str], workers: int) -> tuple[subprocess.Popen, str]:
    """One gunicorn ASGI process on a free loopback port; returns it and its base URL."""
    port = _free_port()
    log = open("/tmp/algosaas_bench_live-web.log", "wb")  # noqa: SIM115 (closed with the process)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "algosaas.asgi:application", "-k",
         "uvicorn_worker.UvicornWorker", "-w", str(workers), "-b", f"127.0.0.1:{port}",
         "--backlog", "4096"],
        cwd=root, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    master = psutil.Process(web.pid)
    for _ in range(600):
        if web.poll() is not None:
            raise RuntimeError("web process exited; see /tmp/algosaas_bench_live-web.log")
        if master.children():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return web, f"http://127.0.0.1:{port}"
            except OSError:
                pass
        time.sleep(0.1)
    raise RuntimeError("web process did not start listening")


async def _client(url, origin, token, deployments, ready, sink, stop) -> None:
    from websockets.asyncio.client import connect

    async with connect(
        url,
        subprotocols=["algosaas.jwt", token],
        additional_headers={"Origin": origin},
        open_timeout=120,
        max_queue=None,
        ping_interval=None,
    ) as ws:
        json.loads(await ws.recv())  # hello
        for pk in deployments:
            await ws.send(json.dumps({"type": "subscribe", "deployment": pk}))
        waiting = set(deployments)
        while waiting:
            msg = json.loads(await ws.recv())
            if msg["type"] == "subscribed":
                waiting.discard(msg["deployment"])
            elif msg["type"] == "error":
                raise RuntimeError(f"subscription refused: {msg}")
        ready()
        while not stop.is_set():
            try:
                raw = await asyncio.wait_for(ws.recv(), 1)
            except TimeoutError:
                continue
            now = time.time()
            msg = json.loads(raw)
            if msg["type"] == "ping":
                await ws.send('{"type":"pong"}')
            elif msg.get("kind") == "equity":
                sink.append((msg["deployment"], msg["ts"], now - (msg["ts"] + 60)))


class Clients:
    """``sockets`` WebSocket clients on an event loop of their own thread, recording latencies."""

    def __init__(self, base: str, token: str, ids: list[int], sockets: int, subs: int) -> None:
        self.url = base.replace("http://", "ws://") + "/ws/live/"
        self.base, self.token = base, token
        step = max(1, len(ids) // (sockets * subs)) if ids else 1
        picks = [ids[(i * step) % len(ids)] for i in range(sockets * subs)]
        self.assignment = [picks[i * subs : (i + 1) * subs] for i in range(sockets)]
        self.subscribed_ids = sorted(set(picks))
        self.received: list[tuple[int, int, float]] = []
        self._ready = 0
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._tasks: list[asyncio.Task] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self, timeout: float = 300) -> float:
        """Open and subscribe every socket; returns the seconds it took."""
        self._thread.start()
        t = time.monotonic()
        asyncio.run_coroutine_threadsafe(self._open(), self._loop).result()
        while self._ready < len(self.assignment):
            failed = [x for x in self._tasks if x.done() and x.exception()]
            if failed:
                raise failed[0].exception()
            if time.monotonic() - t > timeout:
                raise TimeoutError(f"only {self._ready} sockets subscribed")
            time.sleep(0.2)
        return time.monotonic() - t

    async def _open(self) -> None:
        self._stop = asyncio.Event()

        def ready() -> None:
            self._ready += 1

        for i, deployments in enumerate(self.assignment):
            self._tasks.append(
                asyncio.create_task(
                    _client(self.url, self.base, self.token, deployments, ready,
                            self.received, self._stop)
                )
            )  # fmt: skip
            if i % 50 == 49:  # in batches: a connect storm only measures the backlog
                await asyncio.sleep(0.05)

    def stop(self) -> None:
        async def close() -> None:
            self._stop.set()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)

    def latencies(self, start: int, end: int) -> dict[str, Any]:
        """Bar close → received over the measured bars (``start <= ts``, ``ts + 60 <= end``)."""
        lat = sorted(d for _pk, ts, d in self.received if ts >= start and ts + 60 <= end)
        bars = {(pk, ts) for pk, ts, _d in self.received if ts >= start and ts + 60 <= end}

        def pct(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

        return {
            "deliveries": len(lat),
            "received": self.received,
            "bars": len(bars),
            "p50": pct(0.50),
            "p99": pct(0.99),
            "max": lat[-1] if lat else float("nan"),
        }


def commit_to_receive(received: list[tuple[int, int, float]], commits: str) -> tuple[float, float]:
    """p50, p99 of commit (``recorded_at``) → received: what push adds to the step's own lag."""
    written = {}
    for line in commits.splitlines():
        pk, ts, at = line.split()
        written[(int(pk), int(ts))] = float(at)
    lags = sorted(
        (ts + 60 + d) - written[(pk, ts)] for pk, ts, d in received if (pk, ts) in written
    )
    if not lags:
        return float("nan"), float("nan")
    return lags[len(lags) // 2], lags[min(len(lags) - 1, int(0.99 * len(lags)))]
