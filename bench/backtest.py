"""Benchmark: an SMA-crossover backtest over synthetic one-minute bars through the real engine.

    .venv/bin/python -m bench.backtest                 # 1,000,000 bars, SMA(10, 20) long_only
    .venv/bin/python -m bench.backtest --fast 50 --slow 200 --mode long_short
    .venv/bin/python -m bench.backtest --compare       # also backtesting.py (see README)
    .venv/bin/python -m bench.backtest --rules         # a 3-condition rule vs the built-in SMA
    .venv/bin/python -m bench.backtest --rules --bars 200000   # reduced size (shared machine)
    .venv/bin/python -m bench.backtest --rules --only rules+exits --repeat 1   # one variant
    .venv/bin/python -m bench.backtest --basket        # 50 x 100,000 bars (bench/basket.py)

Prints bars/s end to end (signals, engine run with orders/fills/events/trades and the equity
curve, statistics), the engine's per-order cost, and peak memory. The bars come from the synthetic
feed (``execution.engine.feeds``), generated once before timing.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.charges import FlatCommission, IndiaEquityCharges, ZeroCharges
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.orders import Product
from execution.engine.runner import Engine
from execution.engine.stats import compute_stats
from strategies.catalog import get


def _bt_python() -> Path:
    """The interpreter that runs backtesting.py: ``BT_PYTHON``, else this one when the dev
    requirements (which pin backtesting==0.6.6) are installed, else ``/tmp/btvenv``."""
    if os.environ.get("BT_PYTHON"):
        return Path(os.environ["BT_PYTHON"])
    if importlib.util.find_spec("backtesting") is not None:
        return Path(sys.executable)
    return Path("/tmp/btvenv/bin/python")


BT_PYTHON = _bt_python()
T0 = 1_704_067_200  # 2024-01-01 00:00 UTC


def make_bars(n: int, seed: int) -> BarSeries:
    """The synthetic feed's one-minute bars (a seeded random walk, prices on a 0.05 tick)."""
    from execution.engine.feeds import synthetic_bars

    return synthetic_bars(
        instrument_key="BENCH:SYN",
        interval_s=60,
        start_ts=T0,
        end_ts=T0 + 60 * n,
        base_price=1000.0,
        tick_size=0.05,
        seed=seed,
    )


def config(charges: str, capital: float, flat_pct: float = 0.2) -> EngineConfig:
    model = {
        "india": IndiaEquityCharges(),
        "flat": FlatCommission(flat_pct),
        "zero": ZeroCharges(),
    }[charges]
    return EngineConfig(
        instrument=InstrumentSpec("SYN", "NSE", tick_size=0.05, lot_size=1, allow_short_cnc=True),
        starting_capital=capital,
        allocation_pct=100.0,
        product=Product.MIS,
        charges=model,
        close_at_end="close",
    )


# The rule ``--rules`` times: the SMA crossover filtered by two more conditions.
RULE_TEXT = (
    "entry_long: sma({fast}) crosses_above sma({slow}) and rsi(14) < 70 and close > ema(50)\n"
    "exit_long: sma({fast}) crosses_below sma({slow})"
)
# ... and the same rule with stop-loss, target and trailing stop legs (``--rules``).
RULE_EXITS = {"stop_loss_pct": 0.15, "target_pct": 0.3, "trailing_stop_pct": 0.1}


def run_once(
    bars: BarSeries, cfg: EngineConfig, params: dict, key: str = "sma_crossover"
) -> tuple[float, dict, object]:
    t = time.perf_counter()
    result = Engine(cfg, get(key), params).run(bars)
    stats = compute_stats(
        ts=result.equity.ts,
        equity=result.equity.equity,
        trades=result.trades,
        starting_capital=cfg.starting_capital,
        total_charges=result.state.ledger.total_charges,
        position=result.equity.position,
    )
    return time.perf_counter() - t, stats, result


def backtesting_py(bars: BarSeries, args: argparse.Namespace) -> dict | None:
    """Run backtesting.py on the same bars in its own virtualenv; None if it is not there.

    ``--compare-repeat`` runs it that many times (a fresh process each) and keeps the best.
    """
    if not BT_PYTHON.exists():
        return None
    n = min(len(bars), args.compare_bars)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bars.npz"
        np.savez(path, ts=bars.ts[:n], o=bars.open[:n], h=bars.high[:n], lo=bars.low[:n],
                 c=bars.close[:n], v=bars.volume[:n])  # fmt: skip
        script = Path(__file__).with_name("_backtesting_py.py")
        for _ in range(max(1, args.compare_repeat)):
            out = subprocess.run(
                [
                    str(BT_PYTHON),
                    str(script),
                    str(path),
                    str(args.fast),
                    str(args.slow),
                    args.mode,
                    str(args.compare_commission),
                ],
                capture_output=True,
                text=True,
                check=False,
                timeout=3600,
            )
            if out.returncode != 0:
                print(out.stderr[-2000:], file=sys.stderr)
                return None
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = min(runs, key=lambda r: r["seconds"])
    best["all"] = [r["seconds"] for r in runs]
    return best


def rules_vs_builtin(bars: BarSeries, cfg: EngineConfig, args: argparse.Namespace) -> None:
    """Time a 3-condition rule and the built-in SMA type on the same bars, interleaved."""
    from strategies.rules.text import parse_text

    doc = parse_text(RULE_TEXT.format(fast=args.fast, slow=args.slow)).json
    sma = {"fast": args.fast, "slow": args.slow, "mode": "long_only"}
    with_exits = {**doc, "exits": RULE_EXITS}
    variants = {"sma_crossover": ("sma_crossover", sma), "rules": ("rules", doc),
                "rules+exits": ("rules", with_exits),
                "sma+exits": ("sma_crossover", {**sma, "exits": RULE_EXITS})}  # fmt: skip
    if args.only:  # one variant per process, for an outside timer's A/B pairs
        variants = {args.only: variants[args.only]}
    runs: dict[str, list[float]] = {name: [] for name in variants}
    cpus: dict[str, list[float]] = {name: [] for name in variants}
    trades, legs = {}, {}
    for _ in range(args.repeat):
        for name, (key, params) in variants.items():
            gc.collect()
            cpu = time.process_time()
            elapsed, stats, result = run_once(bars, cfg, params, key)
            cpus[name].append(time.process_time() - cpu)
            runs[name].append(elapsed)
            trades[name] = stats["trades"]
            ends = [f.client_order_id.rsplit("-", 1)[1] for f in result.fills]  # type: ignore[attr-defined]
            legs[name] = (ends.count("sl"), ends.count("tp"))
            del result
    n = len(bars)
    best = {k: min(v) for k, v in runs.items()}
    print(f"bars            {n:,} one-minute synthetic bars, best of {args.repeat} each")
    print(f"rule            {RULE_TEXT.format(fast=args.fast, slow=args.slow)!r}")
    print(f"exits           {RULE_EXITS} (rules+exits)")
    # CPU seconds too: on a shared machine a run's wall time counts the other jobs' turns
    cpu_best = {k: min(v) for k, v in cpus.items()}
    for name in runs:
        extra = f", {legs[name][0]:,} stops, {legs[name][1]:,} targets" if any(legs[name]) else ""
        print(f"{name:<15} {best[name]:.3f} s = {n / best[name]:,.0f} bars/s "
              f"({trades[name]:,} round trips{extra}; all: "
              f"{', '.join(f'{x:.3f}' for x in runs[name])}; cpu "
              f"{', '.join(f'{x:.3f}' for x in cpus[name])})")  # fmt: skip
    if args.only:
        return
    for name in ("rules", "rules+exits"):
        ratio = best[name] / best["sma_crossover"]
        cpu_ratio = cpu_best[name] / cpu_best["sma_crossover"]
        print(f"ratio           {name} time / built-in time = {ratio:.2f}, cpu {cpu_ratio:.2f} "
              f"(target <= 1.5)")  # fmt: skip
    # the same ratio repetition by repetition (each pair ran back to back, under the same load)
    for name in ("rules", "rules+exits"):
        pairs = sorted(r / s for r, s in zip(cpus[name], cpus["sma_crossover"], strict=True))
        print(f"ratio per rep   {name} cpu / built-in cpu, min/median/max of {len(pairs)}: "
              f"{pairs[0]:.2f} / {statistics.median(pairs):.2f} / {pairs[-1]:.2f}")  # fmt: skip
    # like for like: the built-in type given the same exits places the same kind of legs
    ratio = best["rules+exits"] / best["sma+exits"]
    cpu_ratio = cpu_best["rules+exits"] / cpu_best["sma+exits"]
    print(f"ratio           rules+exits time / sma+exits time = {ratio:.2f}, cpu {cpu_ratio:.2f} "
          f"(the same exits)")  # fmt: skip
    # The rule trades less (it filters the crosses), so also the signals alone, like for like.
    sig = {}
    for key, params in (("sma_crossover", sma), ("rules", doc)):
        stype, times = get(key), []
        for _ in range(args.repeat):
            t = time.perf_counter()
            stype.signals(bars, params)
            times.append(time.perf_counter() - t)
        sig[key] = min(times)
        print(f"signals only    {key:<13} {sig[key] * 1e3:.1f} ms = {n / sig[key]:,.0f} bars/s")
    print(f"signals ratio   {sig['rules'] / sig['sma_crossover']:.2f} "
          f"(the rule computes SMA x2, RSI, EMA and three conditions)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bars", type=int, default=1_000_000)
    p.add_argument("--fast", type=int, default=10)
    p.add_argument("--slow", type=int, default=20)
    p.add_argument("--mode", default="long_only", choices=["long_only", "long_short"])
    p.add_argument("--charges", default="india", choices=["india", "flat", "zero"])
    p.add_argument("--capital", type=float, default=1e9)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--compare", action="store_true", help="also time backtesting.py")
    p.add_argument(
        "--rules", action="store_true", help="time a 3-condition rule next to the built-in SMA"
    )
    p.add_argument(
        "--only",
        choices=["sma_crossover", "rules", "rules+exits", "sma+exits"],
        help="with --rules: time this variant alone (one per process)",
    )
    p.add_argument("--basket", action="store_true", help="time a basket (bench/basket.py)")
    p.add_argument("--members", type=int, default=50, help="--basket: instruments")
    p.add_argument("--basket-bars", type=int, default=100_000, help="--basket: bars each")
    p.add_argument("--aligned", action="store_true", help="--basket: always step in time")
    p.add_argument("--compare-bars", type=int, default=1_000_000)
    p.add_argument("--compare-repeat", type=int, default=1, help="backtesting.py runs (best)")
    p.add_argument(
        "--compare-commission",
        type=float,
        default=0.0,
        help="percent per side for both engines in the comparison (0: every signal trades)",
    )
    args = p.parse_args(argv)
    if args.basket:
        from bench.basket import basket_bench

        basket_bench(args, config(args.charges, args.capital), make_bars)
        return

    t = time.perf_counter()
    bars = make_bars(args.bars, args.seed)
    feed_s = time.perf_counter() - t
    cfg = config(args.charges, args.capital)
    params = {"fast": args.fast, "slow": args.slow, "mode": args.mode}
    if args.rules:
        rules_vs_builtin(bars, cfg, args)
        return

    times = []
    for _ in range(args.repeat):
        gc.collect()
        elapsed, stats, result = run_once(bars, cfg, params)
        times.append(elapsed)
        orders, fills, events = len(result.orders), len(result.fills), len(result.events)
        del result
    best = min(times)
    median = statistics.median(times)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    tracemalloc.start()
    run_once(bars, cfg, params)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    print(f"bars            {len(bars):,} one-minute synthetic bars (feed: {feed_s:.2f} s)")
    print(f"strategy        sma_crossover fast={args.fast} slow={args.slow} {args.mode}, "
          f"charges={args.charges}")  # fmt: skip
    print(f"activity        {orders:,} orders, {fills:,} fills, {events:,} events, "
          f"{stats['trades']:,} round trips")  # fmt: skip
    print(f"time            best {best:.3f} s, median {median:.3f} s of {args.repeat} (all: "
          f"{', '.join(f'{x:.3f}' for x in times)})")  # fmt: skip
    print(f"throughput      {len(bars) / best:,.0f} bars/s end to end (median "
          f"{len(bars) / median:,.0f})")  # fmt: skip
    if orders:
        print(f"per order       {best / orders * 1e6:.1f} us (everything included)")
    print(f"peak memory     {peak / 2**20:.1f} MiB allocated during a run (tracemalloc), "
          f"{rss_mb:.0f} MiB peak RSS of the process")  # fmt: skip
    print(f"final equity    {stats['final_equity']:,.2f}")
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine         {os.cpu_count()} cores, load average {load} (1, 5, 15 min)")

    if args.compare:
        bt = backtesting_py(bars, args)
        if bt is None:
            print(f"backtesting.py  not available (expected at {BT_PYTHON}; see bench/README.md)")
        else:
            n = bt["bars"]
            sub = bars.slice(0, n)
            pct = args.compare_commission
            cmp_cfg = config("flat", 1e9, pct) if pct else config("zero", 1e9)
            ours_times = []
            for _ in range(args.repeat):
                gc.collect()
                ours_times.append(run_once(sub, cmp_cfg, params)[0])
            ours = min(ours_times)
            ours_stats = run_once(sub, cmp_cfg, params)[1]
            print(f"backtesting.py  {n:,} bars in {bt['seconds']:.2f} s = "
                  f"{n / bt['seconds']:,.0f} bars/s ({bt['trades']:,} trades, "
                  f"commission {pct:g}%; best of {len(bt['all'])})")  # fmt: skip
            print(f"this engine     {n:,} bars in {ours:.3f} s = {n / ours:,.0f} bars/s "
                  f"({ours_stats['trades']:,} trades, same settings; best of "
                  f"{args.repeat}, median {statistics.median(ours_times):.3f} s)")  # fmt: skip
            print(f"speed-up        {bt['seconds'] / ours:.1f}x backtesting.py")


if __name__ == "__main__":
    main()
