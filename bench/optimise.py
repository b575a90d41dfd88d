"""Benchmark: a parameter sweep in-process, through one qcluster, and through two.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.optimise          # reduced: see below
    .venv/bin/python -m bench.optimise --fast 2:12 --slow 25:75:5 --days 42  # the same, spelled out

The issue's full size is 1,000 SMA-crossover combinations over 100,000 one-minute bars; on the
shared 2-core machine that is minutes per configuration, so the default is reduced (100
combinations over ≈11,000 NSE-session one-minute bars of the synthetic feed) and runs in about a
minute in all. Printed, each as backtests/s:

- the engine alone: every combination over bars loaded once (the ceiling);
- in-process: every chunk through ``sweep_chunk_run`` one after another in this process (bars
  loaded per chunk, results written to the database), i.e. what one worker does;
- one qcluster with 1 worker, one qcluster with 2 workers, two qclusters with 1 worker each:
  request to COMPLETE, measured here while real ``manage.py qcluster`` processes do the work
  (ORM broker, ``Q_QUEUE_LIMIT=1`` so the clusters share), after an untimed warm-up sweep
  (a worker's first task imports pandas and the engine);
- backtesting.py 0.6.6's ``Backtest.optimize`` (threads) on the first ``--bt-combos`` of the same
  grid over the same bars, beside ours per backtest.

Runs against ``DATABASE_URL`` (migrated; the sweeps and a bench user stay there).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "algosaas.settings.test")
os.environ["Q_SYNC"] = "false"  # this process queues tasks on the real broker

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402

from execution.models import Instrument  # noqa: E402
from optimisation import services  # noqa: E402
from optimisation.models import Sweep, SweepStatus  # noqa: E402
from optimisation.runner import run_chunk  # noqa: E402
from strategies.services import strategy_create  # noqa: E402

ROOT = Path(settings.BASE_DIR)
START = date(2026, 1, 5)


def _range(text: str) -> list[int]:
    parts = [int(p) for p in text.split(":")]
    start, stop, step = [*parts, 1][:3]
    return list(range(start, stop, step))


def _strategy():
    user, _ = get_user_model().objects.get_or_create(email="bench-optimise@algosaas.local")
    return user, strategy_create(
        owner=user,
        name=f"bench optimise {time.time():.0f}",
        strategy_type="sma_crossover",
        params={"fast": 10, "slow": 30, "mode": "long_short"},
        instrument=Instrument.objects.get(exchange="NSE", symbol="RELIANCE"),
        timeframe="1m",
        allocation_pct=Decimal("100"),
        capital=Decimal("1000000"),
    )


def _request(user, strategy, space, end, chunk):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": chunk}
    return services.sweep_request(
        strategy=strategy,
        user=user,
        space=space,
        start=START,
        end=end,
        charges="none",
        commission_pct=Decimal("0.2"),
        close_at_end="last_open",
    )


class Cluster:
    def __init__(self, workers: int, log: Path):
        env = {
            **os.environ,
            "Q_SYNC": "false",
            "Q_USE_REDIS": "false",
            "Q_WORKERS": str(workers),
            "Q_QUEUE_LIMIT": "1",
            "LOG_LEVEL": "INFO",
            # the project's once-a-minute dispatcher loops for DISPATCH_SECONDS (85 s) in a
            # worker; with one worker it would hold the sweep up for that long
            "DISPATCH_SECONDS": "0",
            "LOG_FORMAT": "console",
        }
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def ready(self) -> bool:
        return "running." in self.log.read_text(errors="replace")

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


def fast_values(space: dict) -> list[int]:
    return list(space["fast"])


def _wait(sweep) -> None:
    while True:
        status = Sweep.objects.values_list("status", flat=True).get(pk=sweep.pk)
        if status == SweepStatus.COMPLETE:
            return
        if status not in (SweepStatus.QUEUED, SweepStatus.RUNNING):
            raise RuntimeError(f"sweep {sweep.pk} ended {status}")
        time.sleep(0.02)


def through_clusters(workers: list[int], user, strategy, space, end, chunk, tmp: Path) -> float:
    """Seconds from the request to COMPLETE with clusters of ``workers`` running."""
    clusters = [Cluster(w, tmp / f"q{i}-{time.time_ns()}.log") for i, w in enumerate(workers)]
    try:
        deadline = time.monotonic() + 60
        while not all(c.ready() for c in clusters):
            if time.monotonic() > deadline:
                raise RuntimeError("qcluster did not start")
            time.sleep(0.1)
        # warm-up, untimed: every worker's first task imports pandas and the engine
        warm = {"fast": fast_values(space)[: 2 * sum(workers)], "slow": [max(space["slow"])]}
        _wait(_request(user, strategy, warm, end, 1))
        t = time.perf_counter()
        _wait(_request(user, strategy, space, end, chunk))  # chunks queued on commit
        return time.perf_counter() - t
    finally:
        for c in clusters:
            c.stop()


def backtesting_py(bars, fast: list[int], slow: list[int], combos: int) -> tuple[int, float]:
    """backtesting.py's optimize over the first ``combos`` valid pairs; (runs, seconds)."""
    from multiprocessing.dummy import Pool

    import backtesting
    import pandas as pd
    from backtesting.lib import crossover

    backtesting.Pool = Pool  # threads: the strategy class need not pickle

    def sma(values, n):
        return pd.Series(values).rolling(n).mean()

    class SmaCross(backtesting.Strategy):
        fast = 10
        slow = 30

        def init(self):
            self.a = self.I(sma, self.data.Close, self.fast)
            self.b = self.I(sma, self.data.Close, self.slow)

        def next(self):
            if crossover(self.a, self.b):
                self.position.close()
                self.buy()
            elif crossover(self.b, self.a):
                self.position.close()
                self.sell()

    df = pd.DataFrame(
        {
            "Open": bars.open,
            "High": bars.high,
            "Low": bars.low,
            "Close": bars.close,
            "Volume": bars.volume,
        },
        index=pd.to_datetime(bars.ts, unit="s"),
    )
    pairs = [(f, s) for f in fast for s in slow if f < s][:combos]
    warnings.simplefilter("ignore")
    bt = backtesting.Backtest(df, SmaCross, cash=1_000_000, commission=0.002, finalize_trades=True)
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):  # its progress bars
        bt.optimize(
            fast=sorted({f for f, _ in pairs}),
            slow=sorted({s for _, s in pairs}),
            constraint=lambda p: (p.fast, p.slow) in pairs,
            maximize="Return [%]",
        )
    return len(pairs), time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", default="2:12", help="start:stop[:step], stop excluded")
    ap.add_argument("--slow", default="25:75:5")
    ap.add_argument("--days", type=int, default=42, help="calendar days of 1-minute bars")
    ap.add_argument("--chunk", type=int, default=10, help="backtests per task")
    ap.add_argument("--bt-combos", type=int, default=4)
    args = ap.parse_args()
    fast, slow = _range(args.fast), _range(args.slow)
    space = {"fast": fast, "slow": slow}
    end = START + timedelta(days=args.days)
    user, strategy = _strategy()
    for left in Sweep.objects.filter(owner=user, status__in=[SweepStatus.QUEUED, "RUNNING"]):
        services.sweep_cancel(sweep=left)  # an interrupted earlier run's

    enqueue = services._enqueue
    services._enqueue = lambda *a: None  # the probe and the in-process run queue no tasks
    probe = _request(user, strategy, space, end, args.chunk)
    n = probe.total
    bars, config = services._bars_and_config(probe)
    services.sweep_cancel(sweep=probe)
    print(f"grid: {n} combinations ({probe.skipped} refused), {len(bars):,} one-minute bars")
    print(f"chunks of {args.chunk}; load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")

    space_obj = services.sweep_space(probe)
    sets, _ = space_obj.grid()
    t = time.perf_counter()
    run_chunk(bars=bars, config=config, stype=space_obj.stype, param_sets=sets, objective="return")
    engine_s = time.perf_counter() - t

    sweep = _request(user, strategy, space, end, args.chunk)
    t = time.perf_counter()
    for chunk in sweep.chunks.order_by("seq"):
        services.sweep_chunk_run(chunk_id=chunk.pk)
    inproc_s = time.perf_counter() - t
    services._enqueue = enqueue

    rows = [("engine alone, bars loaded once", engine_s), ("in-process, chunk by chunk", inproc_s)]
    with tempfile.TemporaryDirectory() as tmp:
        for label, workers in (
            ("1 qcluster x 1 worker", [1]),
            ("1 qcluster x 2 workers", [2]),
            ("2 qclusters x 1 worker", [1, 1]),
        ):
            rows.append(
                (
                    label,
                    through_clusters(workers, user, strategy, space, end, args.chunk, Path(tmp)),
                )
            )
    base = dict(rows)["1 qcluster x 1 worker"]
    for label, seconds in rows:
        extra = f"   speed-up vs 1 worker {base / seconds:.2f}x" if "qcluster" in label else ""
        print(f"{label:34s} {seconds:7.2f} s  {n / seconds:8.1f} backtests/s{extra}")
    print(f"\nqueue overhead, 1 worker vs in-process: {(base / inproc_s - 1) * 100:+.1f} %")

    runs, bt_s = backtesting_py(bars, fast, slow, args.bt_combos)
    theirs = runs / bt_s
    print(f"backtesting.py optimize ({runs} of the grid) {bt_s:7.2f} s  {theirs:8.2f} backtests/s")
    for label, seconds in rows[:2]:
        print(f"ours ({label}) per backtest vs backtesting.py: {n / seconds / theirs:.0f}x faster")


if __name__ == "__main__":
    main()
