"""Benchmark: the engine side of a live basket step, next to its members stepped alone.

    .venv/bin/python -m bench.basket_live                     # 50 members, 2,000 bars, 50 steps
    .venv/bin/python -m bench.basket_live --members 10 --history 20000 --steps 20

A live step restores each member's engine from its JSON state (as ``live_basket`` does), runs
the bars closed since the cursor (one new bar per step here) over the history its indicators
read, and saves the state back to JSON. The basket steps its members together
(``engine.basket.step_members``: shared pool, entries in bar time); "alone" steps each member
as a single-instrument deployment would. Database writes are not included (they are the same
rows either way). Prints ms per step, and whether both gave the same trades.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from dataclasses import replace

from bench.backtest import config, make_bars
from execution.engine.basket import MemberEngine, step_members
from execution.engine.config import InstrumentSpec
from execution.engine.runner import Engine, new_state
from execution.engine.state import EngineState
from strategies.catalog import get


def _restore(saved: list[str], cfgs, stype, params, cls):
    return [
        cls(c, stype, params, state=EngineState.from_dict(json.loads(s)))
        for c, s in zip(cfgs, saved, strict=True)
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--members", type=int, default=50)
    p.add_argument("--history", type=int, default=2000, help="bars the indicators read")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--fast", type=int, default=2)
    p.add_argument("--slow", type=int, default=5)
    p.add_argument("--mode", default="long_only", choices=["long_only", "long_short"])
    p.add_argument("--capital", type=float, default=1e7)
    args = p.parse_args(argv)

    n, h, steps = args.members, args.history, args.steps
    bars = [make_bars(h + steps, k) for k in range(n)]
    base = config("india", args.capital)
    cap = args.capital / n
    cfgs = [
        replace(
            base,
            instrument=InstrumentSpec(f"SYN{k}", "NSE", tick_size=0.05, allow_short_cnc=True),
            starting_capital=cap,
            client_order_prefix=f"m{k}",
            close_at_end="none",
        )
        for k in range(n)
    ]
    params = {"fast": args.fast, "slow": args.slow, "mode": args.mode}
    stype = get("sma_crossover")

    def start() -> list[str]:
        out = []
        for c, b in zip(cfgs, bars, strict=True):
            st = new_state(c)
            st.cursor = int(b.ts[h - 1])  # the history is warm-up: trading starts after it
            out.append(json.dumps(st.to_dict()))
        return out

    def run(basket: bool) -> tuple[float, list]:
        saved = start()
        trades: list[list] = [[] for _ in range(n)]
        gc.collect()
        t = time.perf_counter()
        for s in range(steps):
            window = [b.slice(s + 1, h + s + 1) for b in bars]  # history + the new bar
            if basket:
                engines = _restore(saved, cfgs, stype, params, MemberEngine)
                results = step_members(engines, window, idle=0.0)
            else:
                engines = _restore(saved, cfgs, stype, params, Engine)
                results = [e.run(w) for e, w in zip(engines, window, strict=True)]
            saved = [json.dumps(e.state.to_dict()) for e in engines]
            for k, r in enumerate(results):
                trades[k].extend((x.entry_ts, x.exit_ts, x.quantity, x.pnl) for x in r.trades)
        return time.perf_counter() - t, trades

    basket_s, basket_trades = run(True)
    alone_s, alone_trades = run(False)
    print(f"basket step     {n} members, {h:,} bars of history each, {steps} steps of one bar")
    print(f"basket          {basket_s / steps * 1000:8.1f} ms per step "
          f"({basket_s / steps / n * 1000:.2f} ms per member)")  # fmt: skip
    print(f"members alone   {alone_s / steps * 1000:8.1f} ms per step for the {n} "
          "single-instrument steps")  # fmt: skip
    print(
        f"round trips     {sum(len(t) for t in basket_trades):,}; same as alone: "
        f"{'yes' if basket_trades == alone_trades else 'no'} (equal split, {args.mode})"
    )


if __name__ == "__main__":
    main()
