"""Benchmark: the API under load, served by gunicorn on PostgreSQL, driven from another process.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python -m bench.api

It creates a fresh database (``algosaas_bench_api``), migrates it and seeds 100 users, 1,000
strategies (100 of them running) and 100,000 orders; starts ``gunicorn algosaas.wsgi`` with
2 x cores workers on 127.0.0.1; then, from a separate client process (plain asyncio HTTP/1.1 with
keep-alive, ``--clients`` concurrent connections, each with its own user's JWT), drives each
scenario for ``--seconds`` and prints requests/s, p50/p99 latency and errors:

- ``ceiling``: ``GET /api/auth/me/`` — authentication and one small serializer, the framework's
  ceiling on this machine;
- ``orders``: ``GET /api/orders/?status=COMPLETE&side=BUY&page=N`` (filtered, paginated);
- ``strategy``: ``GET /api/strategies/{id}/``;
- ``deploy_stop``: ``POST …/deploy/`` then ``POST …/stop/`` (one pair counts as one operation);
- ``order``: ``POST /api/deployments/{id}/orders/`` (a resting LIMIT order).

Each endpoint's throughput is also printed as a share of the ceiling. Targets: every endpoint at
≥ 50 % of the ceiling, p99 < 100 ms at 50 clients, zero errors. Nothing here is a test.

``--open-orders 0,100,1000`` runs the scenarios once per level, after topping up the resting
orders of each client's running deployment to that many (through the live service's own engine
and writes), so the cost of a manual order can be read against the size of the order book.
``--db-name`` names the scratch database (default ``algosaas_bench_api``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "algosaas_bench_api"

SEED = r"""
import json, random, sys
from datetime import timedelta
from decimal import Decimal
import django
django.setup()
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken
from accounts.models import User
from execution.models import Instrument, Order
from strategies.models import Strategy
from strategies.services import strategy_create, strategy_deploy

random.seed(7)
instruments = list(Instrument.objects.filter(exchange="NSE"))
users, clients = [], []
for u in range(100):
    user = User.objects.create_user(email=f"load{u}@algosaas.local", password=None)
    strategies = []
    for k in range(10):
        strategies.append(strategy_create(
            owner=user, name=f"load {u}-{k}", strategy_type="sma_crossover",
            params={"fast": 10, "slow": 20}, instrument=instruments[(u + k) % len(instruments)],
            timeframe="1m", quantity=1, allocation_pct=None, product="MIS", capital=None))
    running = strategy_deploy(strategy=strategies[0], actor=user)
    clients.append({
        "token": str(AccessToken.for_user(user)),
        "strategies": [s.pk for s in strategies[2:]],
        "idle": strategies[1].pk,
        "deployment": running.pk,
    })
    users.append((user, running))

now = timezone.now()
rows = []
for n in range(100_000):
    user, deployment = users[n % 100]
    status = random.choice(["COMPLETE", "COMPLETE", "CANCELLED", "REJECTED", "OPEN"])
    side = random.choice(["BUY", "SELL"])
    at = now - timedelta(seconds=60 * (100_000 - n))
    rows.append(Order(
        deployment=deployment, instrument_id=deployment.config["instrument"]["id"],
        client_order_id=f"load-{n}", broker_order_id=f"PB{n:08d}", side=side,
        order_type="MARKET", product="MIS", validity="DAY", quantity=1,
        filled_quantity=1 if status == "COMPLETE" else 0, pending_quantity=0,
        average_price=Decimal("1000.00") if status == "COMPLETE" else None,
        status=status, broker_status=status, role="entry", created_at=at, updated_at=at))
Order.objects.bulk_create(rows, batch_size=5000)
print(json.dumps(clients))
"""


# Tops the running deployments of the first ``n`` clients up to ``target`` resting LIMIT orders.
PRELOAD = r"""
import json, sys
import django
django.setup()
from django.db import transaction
from django.utils import timezone
from execution.services import live
from strategies.models import Deployment

clients, target, n = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
now_ts = int(timezone.now().timestamp())
for c in clients[:n]:
    with transaction.atomic():
        deployment = Deployment.objects.get(pk=c["deployment"])
        state = live._lock_live(deployment)
        engine = live._engine(state)
        records, events = [], []
        for k in range(engine.state.broker.working_count(), target):
            res = engine.submit_order(
                client_order_id=f"bench-{deployment.pk}-{k}", side="BUY", order_type="LIMIT",
                quantity=1, price=1.0, now_ts=now_ts)
            records.append(res.order)
            events.extend(res.events)
        live._save_manual(state, engine, records, events, source="manual")
"""


def _db_url(base: str, name: str) -> str:
    return urlunparse(urlparse(base)._replace(path=f"/{name}"))


def _psql(base: str, sql: str) -> None:
    p = urlparse(base)
    subprocess.run(
        ["psql", "-h", p.hostname or "127.0.0.1", "-p", str(p.port or 5432),
         "-U", p.username or "postgres", "-d", "postgres", "-qc", sql],
        check=True,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------- the client


class Conn:
    """One keep-alive HTTP/1.1 connection (enough HTTP for JSON request/response)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, token: str, body: dict | None = None):
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        payload = json.dumps(body).encode() if body is not None else b""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        )
        self.writer.write(head.encode() + payload)
        await self.writer.drain()
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        length, close = 0, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode().partition(":")
            if name.lower() == "content-length":
                length = int(value)
            elif name.lower() == "connection" and "close" in value.lower():
                close = True
        data = await self.reader.readexactly(length) if length else b""
        if close:
            self.writer.close()
            self.writer = None
        return status, data


async def _drive(port: int, clients: list[dict], scenario: str, seconds: float, n: int):
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker(c: dict) -> None:
        nonlocal errors
        conn = Conn(port)
        token = c["token"]
        strategies = c["strategies"]
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            if scenario == "ceiling":
                results = [await conn.request("GET", "/api/auth/me/", token)]
            elif scenario == "orders":
                page = random.randint(1, 5)  # ~200 matching orders per user: 8 pages
                path = f"/api/orders/?status=COMPLETE&side=BUY&page={page}"
                results = [await conn.request("GET", path, token)]
            elif scenario == "strategy":
                sid = random.choice(strategies)
                results = [await conn.request("GET", f"/api/strategies/{sid}/", token)]
            elif scenario == "deploy_stop":
                sid = c["idle"]
                results = [
                    await conn.request("POST", f"/api/strategies/{sid}/deploy/", token, {}),
                    await conn.request("POST", f"/api/strategies/{sid}/stop/", token, {}),
                ]
            else:  # order
                body = {"side": "BUY", "order_type": "LIMIT", "quantity": 1, "price": "1.00"}
                path = f"/api/deployments/{c['deployment']}/orders/"
                results = [await conn.request("POST", path, token, body)]
            latencies.append(time.perf_counter() - t0)
            errors += sum(1 for status, _ in results if status >= 400)

    await asyncio.gather(*(worker(c) for c in clients[:n]))
    return latencies, errors


def client_main(port: int, clients_file: str, scenario: str, seconds: float, n: int) -> None:
    clients = json.loads(Path(clients_file).read_text())
    latencies, errors = asyncio.run(_drive(port, clients, scenario, seconds, n))
    latencies.sort()
    count = len(latencies)
    result = {
        "scenario": scenario,
        "rps": count / seconds,
        "p50_ms": 1000 * latencies[count // 2] if count else 0,
        "p99_ms": 1000 * latencies[min(count - 1, int(count * 0.99))] if count else 0,
        "errors": errors,
        "count": count,
    }
    print(json.dumps(result))


# ------------------------------------------------------------------------------- the runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--scenarios", default="ceiling,orders,strategy,deploy_stop,order")
    parser.add_argument("--open-orders", default="0")
    parser.add_argument("--db-name", default=DB_NAME)
    parser.add_argument("--client", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    db_name = args.db_name
    if args.client:
        port, path, scenario, seconds, n = args.client
        client_main(int(port), path, scenario, float(seconds), int(n))
        return
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (any database; a fresh one is made).")
    _psql(base, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")
    _psql(base, f"CREATE DATABASE {db_name}")
    env = dict(os.environ)
    env.update(
        DATABASE_URL=_db_url(base, db_name),
        DJANGO_SETTINGS_MODULE="algosaas.settings.base",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="ERROR",
        ALLOWED_HOSTS="127.0.0.1",
        MAX_RUNNING_DEPLOYMENTS_PER_USER="1000",
        THROTTLE_USER="1000000/min",
    )
    for command in (["migrate", "-v0"], ["collectstatic", "--noinput", "-v0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    t = time.monotonic()
    seeded = subprocess.run(
        [sys.executable, "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True,
        text=True,
    )  # fmt: skip
    clients_file = ROOT / ".bench-api-clients.json"
    clients_file.write_text(seeded.stdout.strip().splitlines()[-1])
    print(f"seeded 100 users, 1,000 strategies, 100,000 orders in {time.monotonic() - t:.0f} s")

    port = _free_port()
    workers = 2 * (os.cpu_count() or 1)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "algosaas.wsgi", "-w", str(workers),
         "-b", f"127.0.0.1:{port}", "--log-level", "warning", "--keep-alive", "30"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        print(f"gunicorn: {workers} workers; {args.clients} clients; {args.seconds:g} s each")
        header = ("req/s", "p50 ms", "p99 ms", "errors", "/ceil")
        print(f"{'open':>6} {'scenario':>12} " + " ".join(f"{h:>8}" for h in header))
        for level in [int(x) for x in args.open_orders.split(",")]:
            if level:
                subprocess.run(
                    [sys.executable, "-c", PRELOAD, str(clients_file), str(level),
                     str(args.clients)],
                    cwd=ROOT, env=env, check=True,
                )  # fmt: skip
            results = {}
            for scenario in args.scenarios.split(","):
                out = subprocess.run(
                    [sys.executable, "-m", "bench.api", "--client", str(port),
                     str(clients_file), scenario, str(args.seconds), str(args.clients)],
                    cwd=ROOT, env=env, check=True, capture_output=True, text=True,
                )  # fmt: skip
                r = json.loads(out.stdout.strip().splitlines()[-1])
                results[scenario] = r
                ceiling = results.get("ceiling", r)["rps"] or 1
                print(
                    f"{level:>6} {scenario:>12} {r['rps']:>8.0f} {r['p50_ms']:>8.1f} "
                    f"{r['p99_ms']:>8.1f} {r['errors']:>8} {r['rps'] / ceiling:>8.2f}",
                    flush=True,
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        clients_file.unlink(missing_ok=True)
        _psql(base, f"DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")


if __name__ == "__main__":
    main()
