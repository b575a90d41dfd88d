"""Benchmark: N concurrent ``/ws/live/`` sockets on one web process (gunicorn + UvicornWorker).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/5 \\
        .venv/bin/python -m bench.ws --sockets 1000 --events 200 --rate 50

It creates a fresh database (``algosaas_bench_ws``), migrates it, creates a user with one
running deployment, and starts one web process (one worker) with live push over Redis. It
opens N sockets (a JWT access token as subprotocol), each subscribed to that deployment, and
reads the worker's RSS before and after (memory per socket). Then it publishes ``--events``
equity events to the deployment's group through the Redis channel layer (as the step's
publisher does), ``--rate`` per second, each carrying its send time, and every socket records
publish -> receive. It prints memory per socket, deliveries per second, p50/p99/max latency
and lost deliveries. Nothing here is a test; it only measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid

import psutil

from bench.live import ROOT, _db_url, _psql, _run_python

DB_NAME = "algosaas_bench_ws"

SEED = """
import django
django.setup()
from rest_framework_simplejwt.tokens import AccessToken
from accounts.models import User
from execution.models import Instrument
from strategies.services import strategy_create, strategy_deploy

user = User.objects.create_user(email="bench-ws@algosaas.local", password=None)
strategy = strategy_create(
    owner=user, name="bench ws", strategy_type="sma_crossover",
    params={"fast": 10, "slow": 20, "mode": "long_only"},
    instrument=Instrument.objects.filter(exchange="NSE").first(), timeframe="1d", quantity=1,
    allocation_pct=None, product="CNC", capital=None,
)
deployment = strategy_deploy(strategy=strategy, actor=user)
print(deployment.pk, AccessToken.for_user(user))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(db_url: str, redis_url: str, prefix: str, layer: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        Q_USE_REDIS="false",
        DJANGO_SETTINGS_MODULE="algosaas.settings.base",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        LIVE_PUSH_PREFIX=prefix,
        LIVE_PUSH_LAYER=layer,
        LIVE_PUSH_HEARTBEAT_SECONDS="30",
        ACCESS_TOKEN_EXPIRE_MINUTES="60",  # noqa: S106 (minutes, not a secret)
    )
    return env


async def _client(url, origin, token, deployment, ready, sink, stop):
    from websockets.asyncio.client import connect

    async with connect(
        url,
        subprotocols=["algosaas.jwt", token],
        additional_headers={"Origin": origin},
        open_timeout=60,
        max_queue=None,
    ) as ws:
        json.loads(await ws.recv())  # hello
        await ws.send(json.dumps({"type": "subscribe", "deployment": deployment}))
        while json.loads(await ws.recv())["type"] != "subscribed":
            pass
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
                sink.append(now - msg["sent"])


async def _measure(args, base: str, token: str, deployment: int, worker: psutil.Process):
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    url = base.replace("http://", "ws://") + "/ws/live/"
    rss0 = worker.memory_info().rss
    latencies: list[float] = []
    stop = asyncio.Event()
    subscribed = 0

    def ready() -> None:
        nonlocal subscribed
        subscribed += 1

    t = time.monotonic()
    tasks = []
    for _ in range(args.sockets):  # opened in batches: a connect storm only measures backlog
        tasks.append(
            asyncio.create_task(_client(url, base, token, deployment, ready, latencies, stop))
        )
        if len(tasks) % 50 == 0:
            await asyncio.sleep(0.05)
    while subscribed < args.sockets:
        failed = [t for t in tasks if t.done() and t.exception()]
        if failed:
            raise failed[0].exception()
        await asyncio.sleep(0.1)
    connect_s = time.monotonic() - t
    await asyncio.sleep(1)
    rss1 = worker.memory_info().rss

    hosts = [{"address": args.redis, "socket_connect_timeout": 1, "socket_timeout": 15}]
    if args.layer == "pubsub":
        layer = RedisPubSubChannelLayer(hosts=hosts, prefix=args.prefix)
    else:
        layer = RedisChannelLayer(hosts=hosts, prefix=args.prefix, capacity=500)
    group = f"live.deployment.{deployment}"
    t0 = time.monotonic()
    for seq in range(1, args.events + 1):
        event = {"type": "event", "kind": "equity", "deployment": deployment, "seq": seq,
                 "ts": int(time.time()), "equity": "100000.00", "cash": "100000.00",
                 "sent": time.time()}  # fmt: skip
        await layer.group_send(group, {"type": "live.event", "event": event})
        await asyncio.sleep(1 / args.rate)
    expected = args.events * args.sockets
    deadline = time.monotonic() + 30
    while len(latencies) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    elapsed = time.monotonic() - t0
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    lat = sorted(latencies)

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")

    return {
        "sockets": args.sockets,
        "connect_s": connect_s,
        "kib_per_socket": (rss1 - rss0) / args.sockets / 1024,
        "deliveries": len(lat),
        "lost": expected - len(lat),
        "per_s": len(lat) / elapsed,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "max": lat[-1] * 1000 if lat else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--rate", type=float, default=50.0, help="events published per second")
    parser.add_argument("--layer", choices=["core", "pubsub"], default="core")
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/5"))
    args = parser.parse_args()
    args.prefix = f"bench-ws-{uuid.uuid4().hex[:8]}"
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the server inherits it too

    base_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    _psql(base_url, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _psql(base_url, f"CREATE DATABASE {DB_NAME}")
    env = _env(_db_url(base_url, DB_NAME), args.redis, args.prefix, args.layer)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    deployment, token = _run_python(SEED, [], env).split()
    port = _free_port()
    log = open(f"/tmp/{DB_NAME}-web.log", "wb")  # noqa: SIM115 (closed with the process)
    web = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "algosaas.asgi:application", "-k",
         "uvicorn_worker.UvicornWorker", "-w", "1", "-b", f"127.0.0.1:{port}",
         "--backlog", "4096"],
        cwd=ROOT, env=env, start_new_session=True,
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        master = psutil.Process(web.pid)
        for _ in range(600):
            children = master.children()
            if children:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    pass
            time.sleep(0.1)
        result = asyncio.run(
            _measure(args, f"http://127.0.0.1:{port}", token, int(deployment), children[0])
        )
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        try:
            web.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(web.pid, signal.SIGKILL)
    print(
        f"layer={args.layer} "
        "sockets={sockets} connect={connect_s:.1f}s mem/socket={kib_per_socket:.0f}KiB "
        "deliveries={deliveries} lost={lost} rate={per_s:.0f}/s "
        "p50={p50:.1f}ms p99={p99:.1f}ms max={max:.1f}ms".format(**result)
    )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
