"""Benchmark: the CPU cost of one live-chart answer, by strategy type and window size.

    .venv/bin/python -m bench.live_chart --bars 500,5000,20000 --repeat 30

A chart answer (``execution.services.live_chart.deployment_chart``) computes the engine's whole
window of synthetic bars (up to ``MAX_HISTORY_BARS``), the type's indicator lines over it, and
serialises the newest 500 candles and points as JSON; the database part (the live state, the
fills) is a constant few queries and not measured here. Prints p50/p99 in milliseconds for a
full answer and for an incremental one (``?since=`` the previous bar). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "algosaas.settings.test")
django.setup()

import numpy as np  # noqa: E402

from execution.marketdata.sources import SyntheticSource  # noqa: E402
from execution.services.live_chart import CHART_BARS, _points  # noqa: E402
from strategies import catalog  # noqa: E402

NOW = 1_767_225_600  # 2026-01-01 00:00 UTC


def _answer(source, stype, params, n: int, since: int | None) -> str:
    bars = source.closed_bars(since_ts=NOW - n * 60, now_ts=NOW)
    start = max(len(bars) - CHART_BARS, 0)
    if since is not None:
        start = max(start, int(np.searchsorted(bars.ts, since, side="right")))
    lines = stype.chart_lines(bars, params)
    body = {
        "candles": np.column_stack(
            (bars.ts[start:], bars.open[start:], bars.high[start:], bars.low[start:],
             bars.close[start:])
        ).tolist(),
        "lines": [_points(bars.ts, line.values, start) for line in lines],
    }  # fmt: skip
    return json.dumps(body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", default="500,5000,20000")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    source = SyntheticSource("NSE:BENCH", 60, 0.05)
    print(f"{'type':<22}{'bars':>7}{'full p50':>10}{'p99':>8}{'incr p50':>10}{'p99':>8}  (ms)")
    for stype in catalog.all_types():
        params = stype.defaults()
        for n in (int(x) for x in args.bars.split(",")):
            figures = []
            for since in (None, NOW - 2 * 60):
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    _answer(source, stype, params, n, since)
                    times.append((time.perf_counter() - t) * 1000)
                times.sort()
                p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
                figures += [statistics.median(times), p99]
            print(f"{stype.key:<22}{n:>7}" + "".join(f"{f:>10.1f}{g:>8.1f}" for f, g in
                  zip(figures[::2], figures[1::2], strict=True)))  # fmt: skip


if __name__ == "__main__":
    main()
