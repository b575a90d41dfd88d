"""Benchmark: a parameter sweep in-process, through one qcluster, and through two.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.optimise        # the issue's full size
    .venv/bin/python -m bench.optimise --fast 2:12 --slow 25:75:5 --days 42   # reduced, ~1 min

The default is the issue's size: 1,000 SMA-crossover combinations (fast 5..24 x slow 30..128
step 2) over ~100,000 NSE-session one-minute bars of the synthetic feed, in chunks of up to
``SWEEP_CHUNK_SIZE`` (50; the tail tapers, ``SWEEP_CHUNK_MIN``). Printed per configuration:
wall seconds and backtests/s, and the CPU seconds spent by the process(es) doing the work and
backtests per CPU-second (per core):

- in-process, serially: every combination over bars loaded once, one indicator memo (the
  engine's ceiling, no database);
- in-process, chunk by chunk (``--configs`` ``inproc``): every chunk through
  ``sweep_chunk_run`` one after another in this process (the worker's code: bars per sweep,
  results and progress written);
- one qcluster with 1 worker, one qcluster with 2 workers, two qclusters with 1 worker each
  (``--configs`` ``1``, ``2``, ``1+1``; on a loaded machine leave out what you do not need):
  request to COMPLETE while real ``manage.py qcluster`` processes do the work (ORM broker,
  ``Q_QUEUE_LIMIT=1`` so the clusters share), after an untimed warm-up sweep. CPU is the sum
  over every process of the clusters (workers, pusher, monitor, sentinel) read from /proc;
- backtesting.py 0.6.6's ``Backtest.optimize`` on the first ``--bt-combos`` of the same grid
  over the same bars (from the dev venv, where requirements-dev.txt pins it), per backtest.

The queue's overhead is judged per core on CPU time (the machine is shared: wall figures move
with other jobs' load, a process's CPU time much less). PostgreSQL's own CPU is not counted.
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
START = date(2025, 9, 1)  # 455 days on: ~100,000 session minutes, ending before today
TICK = os.sysconf("SC_CLK_TCK")


def group_cpu(pgid: int) -> float:
    """CPU seconds (user + system) of every live process in the process group ``pgid``."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # field 5, pgrp (after pid and comm)
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


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


def _request(user, strategy, space, start, end, chunk):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": chunk}
    return services.sweep_request(
        strategy=strategy,
        user=user,
        space=space,
        start=start,
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


def through_clusters(
    workers: list[int], user, strategy, space, start, end, chunk, tmp: Path
) -> tuple[float, float]:
    """(wall, CPU) seconds from the request to COMPLETE with clusters of ``workers`` running."""
    clusters = [Cluster(w, tmp / f"q{i}-{time.time_ns()}.log") for i, w in enumerate(workers)]
    try:
        deadline = time.monotonic() + 60
        while not all(c.ready() for c in clusters):
            if time.monotonic() > deadline:
                raise RuntimeError("qcluster did not start")
            time.sleep(0.1)
        # warm-up, untimed: every worker's first task imports pandas and the engine
        warm = {"fast": fast_values(space)[: 2 * sum(workers)], "slow": [max(space["slow"])]}
        _wait(_request(user, strategy, warm, start, start + timedelta(days=7), 1))
        cpu = sum(group_cpu(c.proc.pid) for c in clusters)
        t = time.perf_counter()
        _wait(_request(user, strategy, space, start, end, chunk))  # chunks queued on commit
        wall = time.perf_counter() - t
        return wall, sum(group_cpu(c.proc.pid) for c in clusters) - cpu
    finally:
        for c in clusters:
            c.stop()


def backtesting_py(bars, fast: list[int], slow: list[int], combos: int) -> tuple[int, float, float]:
    """backtesting.py's optimize over the first ``combos`` valid pairs; (runs, wall, CPU)."""
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
    t, c = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):  # its progress bars
        bt.optimize(
            fast=sorted({f for f, _ in pairs}),
            slow=sorted({s for _, s in pairs}),
            constraint=lambda p: (p.fast, p.slow) in pairs,
            maximize="Return [%]",
        )
    return len(pairs), time.perf_counter() - t, time.process_time() - c


CONFIGS = {"1": [1], "2": [2], "1+1": [1, 1]}
LABELS = {
    "1": "1 qcluster x 1 worker",
    "2": "1 qcluster x 2 workers",
    "1+1": "2 qclusters x 1 worker",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast", default="5:25", help="start:stop[:step], stop excluded")
    ap.add_argument("--slow", default="30:130:2")
    ap.add_argument("--start", type=date.fromisoformat, default=START)
    ap.add_argument("--days", type=int, default=455, help="calendar days of 1-minute bars")
    ap.add_argument("--chunk", type=int, default=settings.ALGOSAAS["SWEEP_CHUNK_SIZE"])
    ap.add_argument(
        "--configs", default="inproc,1,2,1+1", help="of inproc, 1, 2, 1+1 (comma-separated)"
    )
    ap.add_argument("--bt-combos", type=int, default=3, help="0: skip backtesting.py")
    args = ap.parse_args()
    fast, slow = _range(args.fast), _range(args.slow)
    space = {"fast": fast, "slow": slow}
    start, end = args.start, args.start + timedelta(days=args.days)
    user, strategy = _strategy()
    for left in Sweep.objects.filter(owner=user, status__in=[SweepStatus.QUEUED, "RUNNING"]):
        services.sweep_cancel(sweep=left)  # an interrupted earlier run's

    enqueue = services.sweep_chunk_enqueue
    services.sweep_chunk_enqueue = lambda *a: (
        None
    )  # the probe and the in-process run queue no tasks
    probe = _request(user, strategy, space, start, end, args.chunk)
    n = probe.total
    t = time.perf_counter()
    bars, config = services._bars_and_config(probe)
    load_s = time.perf_counter() - t
    services.sweep_cancel(sweep=probe)
    print(f"grid: {n} combinations ({probe.skipped} refused), {len(bars):,} one-minute bars")
    load, cores = os.getloadavg()[0], os.cpu_count()
    print(f"{probe.chunks_total} chunks of up to {args.chunk}; load {load:.1f} on {cores} cores")
    print(f"bars loaded in {load_s:.2f} s\n")

    space_obj = services.sweep_space(probe)
    sets, _ = space_obj.grid()
    t, c = time.perf_counter(), time.process_time()
    run_chunk(bars=bars, config=config, stype=space_obj.stype, param_sets=sets, objective="return")
    rows = [("in-process, serially (no DB)", time.perf_counter() - t, time.process_time() - c, 1)]

    configs = args.configs.split(",")
    if "inproc" in configs:
        sweep = _request(user, strategy, space, start, end, args.chunk)
        t, c = time.perf_counter(), time.process_time()
        for chunk in sweep.chunks.order_by("seq"):
            services.sweep_chunk_run(chunk_id=chunk.pk)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        rows.append(("in-process, chunk by chunk", wall, cpu, 1))
    services.sweep_chunk_enqueue = enqueue

    with tempfile.TemporaryDirectory() as tmp:
        for name in [c for c in configs if c != "inproc"]:
            workers = CONFIGS[name]
            wall, cpu = through_clusters(
                workers, user, strategy, space, start, end, args.chunk, Path(tmp)
            )
            rows.append((LABELS[name], wall, cpu, sum(workers)))

    serial_cpu = rows[0][2]
    # speed-up per added worker: against the 1-worker cluster if it ran, else in-process
    one = {label: wall for label, wall, _c, _w in rows}.get(LABELS["1"], rows[0][1])
    print(f"{'':32s} {'wall s':>8s} {'bt/s':>7s} {'CPU s':>8s} {'bt/CPU-s':>9s}  vs 1 worker")
    for label, wall, cpu, w in rows:
        extra = f"  {one / wall:.2f}x wall with {w} workers" if w > 1 else ""
        print(f"{label:32s} {wall:8.2f} {n / wall:7.1f} {cpu:8.2f} {n / cpu:9.1f}{extra}")
    print("\nqueue overhead per core, CPU time vs in-process serially (goal under 10 %):")
    for label, _wall, cpu, _w in rows[1:]:
        print(f"  {label:30s} {(cpu / serial_cpu - 1) * 100:+6.1f} %")

    if args.bt_combos:
        runs, bt_wall, bt_cpu = backtesting_py(bars, fast, slow, args.bt_combos)
        theirs = runs / bt_cpu
        print(
            f"\nbacktesting.py optimize ({runs} of the grid): {bt_wall:.2f} s wall, "
            f"{bt_cpu:.2f} s CPU, {theirs:.3f} backtests per CPU-s"
        )
        for label, _wall, cpu, _w in rows:
            print(f"  ours ({label}) per CPU-s: {n / cpu / theirs:5.0f}x backtesting.py")
        # The grid's first pairs trade the most, so the ratio above (our whole grid against
        # their first pairs) flatters us; ours on exactly their pairs is the like-for-like one.
        pairs = {(f, s) for f in fast for s in slow if f < s}
        first = sorted(pairs)[: args.bt_combos]
        same = [p for p in sets if (p["fast"], p["slow"]) in set(first)]
        c = time.process_time()
        for _ in range(3):
            run_chunk(bars=bars, config=config, stype=space_obj.stype, param_sets=same,
                      objective="return")  # fmt: skip
        ours_same = 3 * len(same) / (time.process_time() - c)
        print(
            f"  ours on the same {len(same)} pairs, in-process: {ours_same:.1f} backtests per "
            f"CPU-s, {ours_same / theirs:.0f}x backtesting.py; through the queue at the overhead "
            "above: "
            + ", ".join(
                f"{ours_same * serial_cpu / cpu / theirs:.0f}x" for _l, _w, cpu, _x in rows[1:]
            )
        )


if __name__ == "__main__":
    main()
