"""Benchmark: N running paper deployments on one-minute bars, stepped by a real ``qcluster``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.live --deployments 1000,3000,10000 --minutes 3

For each N it creates a fresh database (``algosaas_bench_live``), migrates it, deploys N SMA
crossover strategies (10/20, 1m, MIS, spread over the seeded NSE instruments) on the synthetic
feed (one per instrument through the services, the rest bulk copies of them: ``BULK_SEED``,
said in the output; ``--seed api`` deploys every one through the services), starts
``manage.py qcluster`` (the product's own schedule and dispatcher), waits for ``--minutes`` bar
closes, stops the cluster and reads from the database:

- lag: from each bar's close (``ts + 60 s``) to the moment its step wrote the bar
  (``EquitySnapshot.recorded_at``, just before the step's commit): p50, p99, max;
- steps per second while catching up with a bar (rows written between the bar's close and its
  last write), and bars that were due but never processed (missed).

It prints one line per N (with the machine's load over the measured minutes and the job
cluster's CPU per step) and, at the end, the largest N whose p99 lag is within ``--target``
seconds with nothing missed. Nothing here is a test; it only measures.

With ``--push`` (bench/live_push.py) the run also has live push on: a gunicorn + UvicornWorker
web process, the Redis channel layer (``--redis``, db 11 by default, a fresh key prefix) and
``--sockets`` WebSocket clients (500 by default, ``--subs`` deployments each) connected before
the cluster starts. It then also prints bar close → equity event received on a socket (p50,
p99, max), the deliveries lost (equity rows of subscribed deployments never received), and
commit → received (``c→r``: the row's ``recorded_at`` to the socket), which is what push adds.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.live --push --deployments 1000 --sockets 500 --minutes 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psutil

from bench import live_push

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = os.environ.get("BENCH_LIVE_DB", "algosaas_bench_live")  # one per concurrent run


def _db_url(base: str, name: str) -> str:
    parts = urlparse(base)
    return urlunparse(parts._replace(path=f"/{name}"))


def _psql(base: str, sql: str) -> None:
    parts = urlparse(base)
    subprocess.run(
        ["psql", "-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432),
         "-U", parts.username or "postgres", "-d", "postgres", "-qc", sql],
        check=True,
    )  # fmt: skip


def _env(db_url: str, workers: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        DJANGO_SETTINGS_MODULE="algosaas.settings.base",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        LOG_LEVEL="WARNING",
        LOG_FORMAT="json",
        Q_WORKERS=str(workers),
        MAX_STRATEGIES_PER_USER="1000000",
        MAX_RUNNING_DEPLOYMENTS_PER_USER="1000000",
    )
    return env


SEED = """
import sys, time
import django
django.setup()
from accounts.models import User
from execution.models import Instrument
from strategies.services import strategy_create, strategy_deploy

n = int(sys.argv[1])
user = User.objects.create_user(email="bench@algosaas.local", password=None)
instruments = list(Instrument.objects.filter(exchange="NSE"))
t = time.monotonic()
for i in range(n):
    strategy = strategy_create(
        owner=user, name=f"bench {i}", strategy_type="sma_crossover",
        params={"fast": 10, "slow": 20, "mode": "long_only"},
        instrument=instruments[i % len(instruments)], timeframe="1m", quantity=1,
        allocation_pct=None, product="MIS", capital=None,
    )
    strategy_deploy(strategy=strategy, actor=user)
print(f"deployed {n} in {time.monotonic() - t:.1f} s", flush=True)
"""

# The bulk fixture: the first deployment on each instrument goes through the services above
# (create, deploy, the runner's live state); every other one is a copy of its instrument's
# template written with bulk_create: the strategy, its two audit rows, the deployment (same
# config snapshot) and the live rows ``deployment_live_rows`` builds for it (its own order
# prefix and seed). The API path costs ~40 ms a deployment at 10,000 (the per-owner caps count
# every strategy of the owner on each call); this writes 10,000 in seconds.
BULK_SEED = """
import copy, sys, time
import django
django.setup()
from django.db import transaction
from accounts.models import User
from execution.models import DeploymentState, Instrument, Position
from execution.services.live import deployment_live_rows
from strategies.models import Deployment, Strategy, StrategyEvent
from strategies.services import strategy_create, strategy_deploy

n = int(sys.argv[1])
user = User.objects.create_user(email="bench@algosaas.local", password=None)
instruments = list(Instrument.objects.filter(exchange="NSE"))
t = time.monotonic()
templates = []
for i in range(min(n, len(instruments))):
    strategy = strategy_create(
        owner=user, name=f"bench {i}", strategy_type="sma_crossover",
        params={"fast": 10, "slow": 20, "mode": "long_only"},
        instrument=instruments[i], timeframe="1m", quantity=1,
        allocation_pct=None, product="MIS", capital=None,
    )
    templates.append(strategy_deploy(strategy=strategy, actor=user))
api = len(templates)
# every audit row of each template strategy (creation, if any, and deploy)
events = {d.pk: list(StrategyEvent.objects.filter(strategy=d.strategy).order_by("pk"))
          for d in templates}
BATCH = 2000
for lo in range(api, n, BATCH):
    idx = range(lo, min(n, lo + BATCH))
    with transaction.atomic():
        strategies = []
        for i in idx:
            s = copy.copy(templates[i % api].strategy)
            s.pk = s.id = None
            s.name = f"bench {i}"
            strategies.append(s)
        Strategy.objects.bulk_create(strategies)
        deployments = [
            Deployment(strategy=s, number=1, status=templates[i % api].status,
                       config=templates[i % api].config, capital=templates[i % api].capital)
            for i, s in zip(idx, strategies)
        ]
        Deployment.objects.bulk_create(deployments)
        audit, positions, states = [], [], []
        for i, d in zip(idx, deployments):
            for ev in events[templates[i % api].pk]:
                e = copy.copy(ev)
                e.pk = e.id = None
                e.strategy = d.strategy
                e.deployment = d if ev.deployment_id else None
                audit.append(e)
            pos, live = deployment_live_rows(d)
            positions.append(pos)
            states.append(live)
        StrategyEvent.objects.bulk_create(audit)
        Position.objects.bulk_create(positions)
        DeploymentState.objects.bulk_create(states)
print(f"deployed {n} in {time.monotonic() - t:.1f} s ({api} through strategy_create + "
      f"strategy_deploy, {n - api} bulk copies of them: the fixture bypasses the API)", flush=True)
"""

MEASURE = """
import sys
import django
django.setup()
from django.db import connection

start, end = int(sys.argv[1]), int(sys.argv[2])
watched = [int(x) for x in sys.argv[3].split(",") if x] if len(sys.argv) > 3 else []
with connection.cursor() as c:
    c.execute('''
        SELECT count(*),
               percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
               percentile_cont(0.99) WITHIN GROUP (ORDER BY lag),
               max(lag)
        FROM (SELECT extract(epoch FROM recorded_at) - (extract(epoch FROM ts) + 60) AS lag
              FROM execution_equitysnapshot
              WHERE ts >= to_timestamp(%s) AND ts + interval '60 seconds' <= to_timestamp(%s)
             ) AS l''', [start, end])
    count, p50, p99, worst = c.fetchone()
    # Throughput while catching up with a bar: rows written per second between the bar's close
    # and its last write, averaged over the measured bars.
    c.execute('''
        SELECT avg(n / GREATEST(span, 0.001)) FROM (
            SELECT count(*) AS n,
                   extract(epoch FROM max(recorded_at)) - (extract(epoch FROM ts) + 60) AS span
            FROM execution_equitysnapshot
            WHERE ts >= to_timestamp(%s) AND ts + interval '60 seconds' <= to_timestamp(%s)
            GROUP BY ts) AS per_bar''', [start, end])
    (rate,) = c.fetchone()
    c.execute("SELECT count(*) FROM execution_deploymentstate")
    (deployments,) = c.fetchone()
    # Equity rows of the deployments the sockets follow (each one is an event to deliver).
    c.execute('''
        SELECT count(*) FROM execution_equitysnapshot
        WHERE deployment_id = ANY(%s)
          AND ts >= to_timestamp(%s) AND ts + interval '60 seconds' <= to_timestamp(%s)''',
        [watched, start, end])
    (watched_rows,) = c.fetchone()
print(count, p50 or 0, p99 or 0, worst or 0, deployments, rate or 0, watched_rows)
"""


def _run_python(code: str, args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env,
        capture_output=True, text=True,
    )  # fmt: skip
    if out.returncode:
        sys.exit(out.stderr)
    return out.stdout.strip()


def run_one(
    base_url: str,
    n: int,
    minutes: int,
    workers: int,
    push: argparse.Namespace | None = None,
    bulk_seed: bool = True,
    grace: int = 60,
) -> dict[str, float]:
    _psql(base_url, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _psql(base_url, f"CREATE DATABASE {DB_NAME}")
    env = _env(_db_url(base_url, DB_NAME), workers)
    if push is not None:
        env.update(live_push.push_env(push.redis, f"bench-live-{secrets.token_hex(4)}"))
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    seed = BULK_SEED if bulk_seed else SEED
    print(f"  N={n}: {_run_python(seed, [str(n)], env)}", flush=True)

    web = clients = cluster = None
    try:
        if push is not None:
            web, clients = _start_push(env, push)
        cluster = subprocess.Popen(  # its own process group, so the workers stop with it
            [*manage, "qcluster"], cwd=ROOT, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # Measure whole minutes after a minute of warm-up (the scheduler's first tick).
        warmup_end = (int(time.time()) // 60 + 2) * 60
        end = warmup_end + minutes * 60
        loads = []  # the machine's 1-minute load average, each second of the measured minutes
        cpu0 = cpu1 = None  # the cluster's CPU seconds (all its processes) at the window's ends
        # + grace for the last bar's steps and events: a row or event later than this counts
        # as missed or lost, so it must exceed the p99 (20 s hid events behind a 21 s p99)
        while time.time() < end + grace:
            time.sleep(1)
            if warmup_end <= time.time() <= end:
                loads.append(os.getloadavg()[0])
                cpu0 = _cpu_seconds(cluster) if cpu0 is None else cpu0
            elif time.time() > end and cpu1 is None:
                cpu1 = _cpu_seconds(cluster)
    finally:
        if cluster is not None:
            _stop(cluster)
        if clients is not None:
            clients.stop()
        if web is not None:
            _stop(web)
    watched = ",".join(str(pk) for pk in clients.subscribed_ids) if clients else ""
    count, p50, p99, worst, deployments, rate, watched_rows = _run_python(
        MEASURE, [str(warmup_end), str(end), watched], env
    ).split()
    expected = int(deployments) * minutes
    pushed = {}
    if clients is not None:
        got = clients.latencies(warmup_end, end)
        per_socket = [len(a) for a in clients.assignment]
        # Each watched row is delivered once per socket following its deployment.
        followers = {}
        for a in clients.assignment:
            for pk in a:
                followers[pk] = followers.get(pk, 0) + 1
        due = int(watched_rows) * (sum(per_socket) / max(1, len(followers)))
        commit_p50, commit_p99 = live_push.commit_to_receive(
            got["received"],
            _run_python(live_push.COMMITS, [str(warmup_end), str(end), watched], env),
        )
        pushed = {
            "commit_push_p50": commit_p50,
            "commit_push_p99": commit_p99,
            "push_p50": got["p50"],
            "push_p99": got["p99"],
            "push_max": got["max"],
            "deliveries": got["deliveries"],
            "lost": max(0, round(due) - got["deliveries"]),
        }
    return {
        **pushed,
        "n": n,
        "bars": int(count),
        "expected": expected,
        "missed": max(0, expected - int(count)),
        "p50": float(p50),
        "p99": float(p99),
        "max": float(worst),
        "steps_per_s": float(rate),
        "load": sum(loads) / max(1, len(loads)),
        # CPU the job cluster spent per step in the measured minutes (its own processes only;
        # PostgreSQL's share is not in it): what sizing a cluster for N deployments needs
        "cpu_ms": 1000 * ((cpu1 or 0) - (cpu0 or 0)) / max(1, int(count)),
    }


def _start_push(
    env: dict[str, str], push: argparse.Namespace
) -> tuple[subprocess.Popen, live_push.Clients]:
    token, ids = _run_python(live_push.SUBSCRIBER, [], env).split("\n")
    web, base = live_push.start_web(ROOT, env, push.web_workers)
    try:
        clients = live_push.Clients(
            base, token, [int(x) for x in ids.split(",")], push.sockets, push.subs
        )
        took = clients.start()
    except BaseException:
        _stop(web)
        raise
    print(
        f"  {push.sockets} sockets x {push.subs} subscriptions "
        f"({len(clients.subscribed_ids)} deployments) ready in {took:.1f} s",
        flush=True,
    )
    return web, clients


def _cpu_seconds(proc: subprocess.Popen) -> float:
    """User + system CPU of a process and its children (the cluster's workers) so far."""
    total = 0.0
    try:
        parent = psutil.Process(proc.pid)
        for p in [parent, *parent.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
    except psutil.Error:
        pass
    return total


def _stop(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", default="500,2000,5000,10000")
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--target", type=float, default=10.0, help="p99 lag target, seconds")
    parser.add_argument("--push", action="store_true", help="also a web process and sockets")
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--subs", type=int, default=1, help="deployments per socket (<= 20)")
    parser.add_argument("--web-workers", type=int, default=1)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument(
        "--grace", type=int, default=60, help="seconds after the last bar before measuring"
    )
    parser.add_argument(
        "--seed",
        choices=("bulk", "api"),
        default="bulk",
        help="bulk: one deployment per instrument through the services, the rest bulk copies; "
        "api: every one through strategy_create + strategy_deploy (slow at 10,000)",
    )
    args = parser.parse_args()
    if args.push:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the web process inherits it
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (any database; a fresh one is made).")
    header = ("N", "load", "bars", "missed", "p50 s", "p99 s", "max s", "steps/s", "cpu ms")
    if args.push:
        header += ("push p50", "push p99", "push max", "received", "lost", "c→r p50", "c→r p99")
    print(" ".join(f"{h:>8}" for h in header))
    best = None
    for n in (int(x) for x in args.deployments.split(",")):
        r = run_one(
            base,
            n,
            args.minutes,
            args.workers,
            args if args.push else None,
            args.seed == "bulk",
            args.grace,
        )
        line = (
            f"{r['n']:>8} {r['load']:>8.1f} {r['bars']:>8} {r['missed']:>8} "
            f"{r['p50']:>8.2f} {r['p99']:>8.2f} {r['max']:>8.2f} {r['steps_per_s']:>8.1f} "
            f"{r['cpu_ms']:>8.2f}"
        )
        if args.push:
            line += (
                f" {r['push_p50']:>8.2f} {r['push_p99']:>8.2f} {r['push_max']:>8.2f}"
                f" {r['deliveries']:>8} {r['lost']:>8}"
                f" {r['commit_push_p50']:>8.3f} {r['commit_push_p99']:>8.3f}"
            )
        print(line, flush=True)
        p99 = max(r["p99"], r.get("push_p99", 0.0))
        if r["missed"] == 0 and p99 <= args.target and r.get("lost", 0) == 0:
            best = n
    _psql(base, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    what = "push p99 (bar close -> socket)" if args.push else "p99"
    print(f"largest N with {what} <= {args.target:g} s and no missed bar: {best}")
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
