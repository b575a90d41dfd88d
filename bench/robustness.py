"""Benchmark: Monte Carlo of trade sequences (inline in the request?) and one walk-forward task.

    .venv/bin/python -m bench.robustness                 # reduced sizes, well under a minute
    .venv/bin/python -m bench.robustness --bars 100000   # a bigger walk-forward
    .venv/bin/python -m bench.robustness --basket 5      # and a 5-member basket's

No database: the engine, ``optimisation.montecarlo`` and ``optimisation.walkforward`` alone.
Printed: Monte Carlo seconds per (trades, paths, method), and a walk-forward's seconds and
in-sample backtests/s (SMA crossover, a grid of ``--fast`` x ``--slow``, rolling windows, over
synthetic one-minute bars). Quote the machine's load average with the figures.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from execution.engine.charges import FlatCommission
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.feeds import synthetic_bars
from optimisation.markets import BasketMarket
from optimisation.montecarlo import monte_carlo
from optimisation.walkforward import walk_forward
from strategies.catalog import get


def bench_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    print("Monte Carlo                         seconds")
    for trades in (100, 1000, 5000):
        pnl = np.round(rng.normal(10, 300, trades), 2).tolist()
        for paths in (1000, 10_000):
            if trades * paths > 10_000_000:
                continue
            for method in ("shuffle", "bootstrap"):
                began = time.perf_counter()
                monte_carlo(pnl=pnl, capital=100_000, paths=paths, seed=1, method=method)
                took = time.perf_counter() - began
                print(f"  {trades:>5} trades x {paths:>6} paths {method:<9}  {took:7.3f}")


def bench_walk_forward(bars_n: int, fast: list[int], slow: list[int], windows: int) -> None:
    bars = synthetic_bars(
        instrument_key="NSE:BENCH", interval_s=60, start_ts=1_767_000_000 // 60 * 60,
        end_ts=1_767_000_000 // 60 * 60 + 60 * bars_n,
    )  # fmt: skip
    sets = [{"fast": f, "slow": s, "mode": "long_short"} for f in fast for s in slow if f < s]

    def make_config(capital: float) -> EngineConfig:
        return EngineConfig(
            instrument=InstrumentSpec("BENCH", "NSE", tick_size=0.05, lot_size=1,
                                      allow_short_cnc=True),
            starting_capital=capital, allocation_pct=100.0, charges=FlatCommission(0.03),
        )  # fmt: skip

    began = time.perf_counter()
    report = walk_forward(
        bars=bars, make_config=make_config, stype=get("sma_crossover"), param_sets=sets,
        objective="return", capital=100_000.0, windows=windows, in_sample_ratio=3.0,
        mode="rolling",
    )  # fmt: skip
    took = time.perf_counter() - began
    runs = len(sets) * windows
    print(
        f"Walk-forward: {len(bars):,} bars, {len(sets)} sets x {windows} windows = {runs} "
        f"in-sample backtests (+{windows} out-of-sample): {took:.2f} s, {runs / took:.1f}/s; "
        f"ratio {report['ratio']}"
    )


def bench_basket_walk_forward(
    bars_n: int, members: int, fast: list[int], slow: list[int], windows: int
) -> None:
    """A basket of ``members`` synthetic instruments on equal caps, each with ``bars_n`` bars
    on one clock, walked forward as the task does (``BasketMarket``)."""
    start = 1_767_000_000 // 60 * 60
    end = start + 60 * bars_n
    series = [
        synthetic_bars(instrument_key=f"NSE:BENCH{m}", interval_s=60, start_ts=start, end_ts=end)
        for m in range(members)
    ]
    sets = [{"fast": f, "slow": s, "mode": "long_short"} for f in fast for s in slow if f < s]

    def make_config(capital: float, n: int) -> EngineConfig:
        return EngineConfig(
            instrument=InstrumentSpec(f"BENCH{n}", "NSE", tick_size=0.05, lot_size=1,
                                      allow_short_cnc=True),
            starting_capital=capital / members, allocation_pct=100.0,
            charges=FlatCommission(0.03), client_order_prefix=f"wfm{n}",
        )  # fmt: skip

    market = BasketMarket(
        members=series, labels=[f"NSE:BENCH{m}" for m in range(members)], make_config=make_config
    )
    began = time.perf_counter()
    report = walk_forward(
        market=market, stype=get("sma_crossover"), param_sets=sets, objective="return",
        capital=100_000.0, windows=windows, in_sample_ratio=3.0, mode="rolling",
    )  # fmt: skip
    took = time.perf_counter() - began
    runs = len(sets) * windows
    print(
        f"Basket walk-forward: {members} members x {bars_n:,} bars, {len(sets)} sets x {windows}"
        f" windows = {runs} in-sample basket runs ({runs * members} member backtests): "
        f"{took:.2f} s, {runs * members / took:.1f} member backtests/s; ratio {report['ratio']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bars", type=int, default=10_000)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--basket", type=int, default=0, help="members of a basket to walk too")
    args = parser.parse_args()
    print(f"load average: {os.getloadavg()}")
    bench_monte_carlo()
    bench_walk_forward(args.bars, [5, 10, 15, 20], [30, 40, 50, 60, 80], args.windows)
    if args.basket:
        grid = ([5, 10, 15, 20], [30, 40, 50, 60, 80])
        bench_basket_walk_forward(args.bars, args.basket, *grid, args.windows)


if __name__ == "__main__":
    main()
