"""Benchmark: the two costs that bound how far a sweep scales out, measured on the database.

    DATABASE_URL=postgres://... .venv/bin/python -m bench.sweep_limits
    .venv/bin/python -m bench.sweep_limits --bars 100000 --chunks 200 --writers 1,4

- Bar load: ``backtest_bars`` of ``--bars`` stored one-minute bars (one indexed query, rows to
  numpy), which every worker pays once per sweep; the synthetic feed's load beside it. The bars
  are inserted for a throw-away instrument inside a transaction that is rolled back.
- Result writes: ``_record`` exactly as a chunk calls it (its ``SweepResult`` rows in one
  ``INSERT`` and the chunk's mark under the chunk's row lock, then the sweep's counters as
  increments under the sweep's row lock until the commit)
  for ``--chunks`` chunks of ``--chunk`` results, from 1 and from N threads at once on the same
  sweep (each its own connection): chunk commits/s and result rows/s.

Prints wall seconds (and this process's CPU seconds); PostgreSQL runs on the same 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "algosaas.settings.test")
os.environ["Q_SYNC"] = "false"

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from bench.optimise import _request, _strategy  # noqa: E402
from execution.engine.feeds import synthetic_bars  # noqa: E402
from execution.models import Backtest, Bar, Instrument  # noqa: E402
from execution.services.backtests import backtest_bars  # noqa: E402
from optimisation import services  # noqa: E402
from optimisation.runner import Outcome  # noqa: E402

START = datetime(2025, 9, 1, tzinfo=UTC)


class _Rollback(Exception):
    pass


def bar_load(n: int, repeat: int) -> tuple[list[float], float]:
    """Seconds to load ``n`` stored bars (each of ``repeat`` loads), and to insert them."""
    syn = synthetic_bars(
        instrument_key="BENCH:LIMITS", interval_s=60, start_ts=int(START.timestamp()),
        end_ts=int(START.timestamp()) + n * 60, tick_size=0.05,
    )  # fmt: skip
    template = Instrument.objects.get(exchange="NSE", symbol="RELIANCE")
    loads: list[float] = []
    try:
        with transaction.atomic():
            inst = Instrument.objects.create(
                exchange="BENCHX", symbol=f"LIM{time.time_ns()}", tick_size=template.tick_size,
                lot_size=template.lot_size,
            )  # fmt: skip
            t = time.perf_counter()
            Bar.objects.bulk_create(
                (
                    Bar(
                        instrument=inst,
                        timeframe="1m",
                        ts=datetime.fromtimestamp(int(ts), UTC),
                        open=Decimal(f"{o:.2f}"),
                        high=Decimal(f"{h:.2f}"),
                        low=Decimal(f"{lo:.2f}"),
                        close=Decimal(f"{c:.2f}"),
                        volume=int(v),
                    )
                    for ts, o, h, lo, c, v in zip(
                        syn.ts, syn.open, syn.high, syn.low, syn.close, syn.volume, strict=True
                    )
                ),
                batch_size=5000,
            )
            insert_s = time.perf_counter() - t
            config = {
                "instrument": {
                    "id": inst.pk, "exchange": "BENCHX", "symbol": inst.symbol,
                    "tick_size": str(inst.tick_size),
                },
                "timeframe": "1m",
            }  # fmt: skip
            probe = Backtest(config=config, start=None, end=None)  # never saved
            for _ in range(repeat):
                t = time.perf_counter()
                bars, source = backtest_bars(probe)
                loads.append(time.perf_counter() - t)
            assert source == "stored" and len(bars) == n, (source, len(bars))
            raise _Rollback
    except _Rollback:
        pass
    return loads, insert_s


def synthetic_load(days: int, repeat: int) -> tuple[int, list[float]]:
    user, strategy = _strategy()
    services.sweep_chunk_enqueue = lambda *a: None
    sweep = _request(user, strategy, {"fast": [5], "slow": [30]}, START.date(),
                     START.date() + timedelta(days=days), 50)  # fmt: skip
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        bars, _ = services._bars_and_config(sweep)
        times.append(time.perf_counter() - t)
    services.sweep_cancel(sweep=sweep)
    return len(bars), times


def result_writes(chunks: int, size: int, writers: int) -> tuple[float, int]:
    """Wall seconds for ``writers`` threads to record ``chunks`` chunks of one sweep."""
    user, strategy = _strategy()
    services.sweep_chunk_enqueue = lambda *a: None
    fast = list(range(2, 2 + chunks))
    slow = list(range(2 + chunks, 2 + chunks + size))  # every pair has fast < slow
    # chunks of exactly ``size``: no tapering tail here (``chunk_sizes``)
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_MIN": size}
    sweep = _request(user, strategy, {"fast": fast, "slow": slow}, START.date(),
                     START.date() + timedelta(days=3), size)  # fmt: skip
    stats = {  # the size and shape of a real result's statistics (~400 bytes of JSON)
        "total_return_pct": 1.234567, "final_equity": 1012345.67, "max_drawdown_pct": -3.21,
        "sharpe": 0.87, "sortino": 1.2, "calmar": 0.4, "trades": 321, "win_rate_pct": 41.2,
        "profit_factor": 1.07, "avg_trade_pct": 0.01, "exposure_pct": 98.1, "bars": 100000,
        "total_charges": 0.0, "best_trade_pct": 2.3, "worst_trade_pct": -1.9,
    }  # fmt: skip
    ids = list(sweep.chunks.order_by("seq").values_list("pk", flat=True))
    lock = threading.Lock()

    def work() -> None:
        try:
            while True:
                with lock:
                    if not ids:
                        return
                    chunk_id = ids.pop()
                chunk = services._start(chunk_id)
                outs = [Outcome(params=p, value=1.0, stats=stats) for p in chunk.params]
                assert services._record(chunk, outs, refused=0, seconds=0.0) == "done"
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(writers)]
    t = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    seconds = time.perf_counter() - t
    sweep.refresh_from_db()
    assert sweep.status == "COMPLETE" and sweep.results.count() == chunks * size
    return seconds, chunks * size


def _mmm(xs: list[float]) -> str:
    xs = sorted(xs)
    return f"min {xs[0]:.3f}  median {xs[len(xs) // 2]:.3f}  max {xs[-1]:.3f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bars", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--chunks", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=50)
    ap.add_argument("--writers", default="1,4")
    args = ap.parse_args()
    print(f"load {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores\n")

    loads, insert_s = bar_load(args.bars, args.repeat)
    print(f"stored bars: {args.bars:,} inserted in {insert_s:.1f} s; load {_mmm(loads)}")
    n, times = synthetic_load(455, args.repeat)
    print(f"synthetic feed: {n:,} session bars; load {_mmm(times)}\n")

    for w in (int(x) for x in args.writers.split(",")):
        c = time.process_time()
        seconds, rows = result_writes(args.chunks, args.chunk, w)
        print(
            f"result writes, {w} writer(s) on one sweep: {args.chunks} chunks x {args.chunk} in "
            f"{seconds:.2f} s = {args.chunks / seconds:.0f} chunk commits/s, "
            f"{rows / seconds:,.0f} rows/s (client CPU {time.process_time() - c:.2f} s)"
        )


if __name__ == "__main__":
    main()
