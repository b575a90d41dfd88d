"""Benchmark: a basket backtest (``bench.backtest --basket``), next to its members run alone.

    .venv/bin/python -m bench.backtest --basket                       # 50 x 100,000 bars
    .venv/bin/python -m bench.backtest --basket --members 10 --basket-bars 20000
    .venv/bin/python -m bench.backtest --basket --aligned --mode long_short  # always in time

Each member is the synthetic feed's one-minute bars of its own seeded random walk; the caps
are an equal split of the capital. Prints the basket's time and bars/s, the time of the same
members run one by one as single backtests, and whether their trades agree.
"""

from __future__ import annotations

import argparse
import gc
import time
from dataclasses import replace

from execution.engine.basket import run_basket
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.runner import Engine
from execution.engine.stats import compute_stats
from strategies.catalog import get


def basket_bench(args: argparse.Namespace, cfg: EngineConfig, make_bars) -> None:
    n = args.members
    t = time.perf_counter()
    bars = [make_bars(args.basket_bars, args.seed + k) for k in range(n)]
    feed_s = time.perf_counter() - t
    share = args.capital / n
    members = [
        (
            replace(
                cfg,
                instrument=InstrumentSpec(f"SYN{k}", "NSE", tick_size=0.05, allow_short_cnc=True),
                starting_capital=share,
                client_order_prefix=f"m{k}",
            ),
            b,
        )
        for k, b in enumerate(bars)
    ]
    params = {"fast": args.fast, "slow": args.slow, "mode": args.mode}
    stype = get("sma_crossover")

    gc.collect()
    t = time.perf_counter()
    cpu = time.process_time()  # on a shared machine wall time counts the other jobs' turns
    res = run_basket(members, stype, params, capital=args.capital, aligned=args.aligned or None)
    stats = compute_stats(
        ts=res.equity.ts,
        equity=res.equity.equity,
        trades=res.trades,
        starting_capital=args.capital,
        total_charges=res.total_charges,
        position=res.equity.position,
    )
    basket_s = time.perf_counter() - t
    basket_cpu = time.process_time() - cpu

    gc.collect()
    t = time.perf_counter()
    cpu = time.process_time()
    alone = [Engine(c, stype, params).run(b) for c, b in members]
    singles_s = time.perf_counter() - t
    singles_cpu = time.process_time() - cpu
    same = all(
        [(x.entry_ts, x.exit_ts, x.quantity, x.pnl) for x in a.trades]
        == [(x.entry_ts, x.exit_ts, x.quantity, x.pnl) for x in m.trades]
        for a, m in zip(alone, res.members, strict=True)
    )
    total = n * args.basket_bars
    print(f"basket          {n} instruments x {args.basket_bars:,} one-minute bars = {total:,} "
          f"bars (feed: {feed_s:.2f} s)")  # fmt: skip
    print(f"strategy        sma_crossover fast={args.fast} slow={args.slow} {args.mode}, "
          f"capital {args.capital:,.0f} split equally")  # fmt: skip
    print(f"activity        {len(res.trades):,} round trips, "
          f"{sum(len(m.orders) for m in res.members):,} orders")  # fmt: skip
    how = "stepped in time" if args.aligned else "members alone unless one goes short"
    print(f"basket time     {basket_s:.2f} s = {total / basket_s:,.0f} bars/s end to end "
          f"({how}; shared cash, total statistics); cpu {basket_cpu:.2f} s")  # fmt: skip
    ratio = basket_cpu / singles_cpu
    print(f"members alone   {singles_s:.2f} s for the {n} single backtests one after another; "
          f"cpu {singles_cpu:.2f} s (basket / alone: {ratio:.1f}x cpu)")  # fmt: skip
    print(f"same trades     {'yes' if same else 'no'} as alone (a short under water on an equal "
          "split draws on the shared pool, so long_short may differ)")  # fmt: skip
    print(f"final equity    {stats['final_equity']:,.2f}")
