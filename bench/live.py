"""Benchmark: N running paper deployments on one-minute bars, stepped by a real ``qcluster``.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.live --deployments 1000,3000,10000 --minutes 3

For each N it creates a fresh database (``algosaas_bench_live``), migrates it, deploys N SMA
crossover strategies (10/20, 1m, MIS, spread over the seeded NSE instruments) on the synthetic
feed, starts ``manage.py qcluster`` (the product's own schedule and dispatcher), waits for
``--minutes`` bar closes, stops the cluster and reads from the database:

- lag: from each bar's close (``ts + 60 s``) to the moment its step wrote the bar
  (``EquitySnapshot.recorded_at``, just before the step's commit): p50, p99, max;
- steps per second while catching up with a bar (rows written between the bar's close and its
  last write), and bars that were due but never processed (missed).

It prints one line per N and, at the end, the largest N whose p99 lag is within ``--target``
seconds with nothing missed. Nothing here is a test; it only measures.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "algosaas_bench_live"


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

MEASURE = """
import sys
import django
django.setup()
from django.db import connection

start, end = int(sys.argv[1]), int(sys.argv[2])
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
print(count, p50 or 0, p99 or 0, worst or 0, deployments, rate or 0)
"""


def _run_python(code: str, args: list[str], env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout.strip()


def run_one(base_url: str, n: int, minutes: int, workers: int) -> dict[str, float]:
    _psql(base_url, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    _psql(base_url, f"CREATE DATABASE {DB_NAME}")
    env = _env(_db_url(base_url, DB_NAME), workers)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    print(f"  N={n}: {_run_python(SEED, [str(n)], env)}", flush=True)

    cluster = subprocess.Popen(  # its own process group, so the workers stop with it
        [*manage, "qcluster"], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Measure whole minutes after a minute of warm-up (the scheduler's first tick).
        warmup_end = (int(time.time()) // 60 + 2) * 60
        end = warmup_end + minutes * 60
        steps_t0 = None
        while time.time() < end + 20:  # + grace for the last bar's steps
            time.sleep(1)
            if steps_t0 is None and time.time() >= warmup_end:
                steps_t0 = time.time()
    finally:
        os.killpg(cluster.pid, signal.SIGTERM)
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(cluster.pid, signal.SIGKILL)
    count, p50, p99, worst, deployments, rate = _run_python(
        MEASURE, [str(warmup_end), str(end)], env
    ).split()
    expected = int(deployments) * minutes
    return {
        "n": n,
        "bars": int(count),
        "expected": expected,
        "missed": max(0, expected - int(count)),
        "p50": float(p50),
        "p99": float(p99),
        "max": float(worst),
        "steps_per_s": float(rate),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", default="500,2000,5000,10000")
    parser.add_argument("--minutes", type=int, default=3)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--target", type=float, default=10.0, help="p99 lag target, seconds")
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL server (any database; a fresh one is made).")
    header = ("N", "bars", "missed", "p50 s", "p99 s", "max s", "steps/s")
    print(" ".join(f"{h:>8}" for h in header))
    best = None
    for n in (int(x) for x in args.deployments.split(",")):
        r = run_one(base, n, args.minutes, args.workers)
        print(
            f"{r['n']:>8} {r['bars']:>8} {r['missed']:>8} {r['p50']:>8.2f} {r['p99']:>8.2f} "
            f"{r['max']:>8.2f} {r['steps_per_s']:>8.1f}",
            flush=True,
        )
        if r["missed"] == 0 and r["p99"] <= args.target:
            best = n
    _psql(base, f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
    print(f"largest N with p99 <= {args.target:g} s and no missed bar: {best}")


if __name__ == "__main__":
    main()
