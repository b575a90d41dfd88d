"""Crossings through exact ties: the SMA crossover against backtesting.py 0.6.6, run here.

On FX-like prices with 4 decimals two SMAs are often exactly equal on a bar. backtesting.py's
strict ``crossover`` (``a[-2] < b[-2] and a[-1] > b[-1]``) never sees a cross that passes through
such a tie; our rule (``indicators.crossing``) counts it on the bar where the sign has changed.
Everywhere else the two must agree bar for bit, which needs our SMA to be pandas' rolling mean
bit for bit (an ulp either way decides whether a bar ties).

The reference runs in this process (backtesting.py is in requirements-dev.txt) on hourly random
walks with weekend gaps, rounded to 4 decimals. Each test lists the reference's exact ties and the
*decisive* ones (a sign change across a tie run, where only we trade) and checks:

* our SMAs are pandas' arrays, bit for bit, and our cross bars are the reference's plus the
  decisive ties, nothing else;
* with a fixed size, the trade lists are identical except the trades that hold a position through
  (or are decided at) a decisive tie: the reference stays in, we get out;
* with all-in sizing (backtesting.py's default), every trade before the first decisive tie is
  identical, size and P&L included.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from backtesting import Backtest, Strategy
from backtesting.lib import crossover

from execution.engine import indicators as ind
from execution.engine.bars import BarSeries
from execution.engine.charges import FlatCommission
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.runner import Engine
from strategies.catalog import get

T0 = 1_704_067_200  # Monday 2024-01-01 00:00 UTC
COMMISSION = 0.0002  # 2 bps per side, both engines
CASH = 100_000.0
SIZE = 10_000  # units per entry in the fixed-size runs


def fx_bars(seed: int, n: int = 5000) -> BarSeries:
    """Hourly EUR/USD-like bars, Monday to Friday only, every price rounded to 4 decimals.

    Monday's first bar opens with a gap from Friday's last close (the weekend's news).
    """
    rng = np.random.default_rng(seed)
    hours = T0 + 3600 * np.arange(n * 7 // 5 + 48, dtype=np.int64)
    weekday = (hours // 86400 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    ts = hours[weekday < 5][:n]
    close = np.round(1.1 + np.cumsum(rng.normal(0, 0.0004, n)), 4)
    open_ = np.concatenate(([close[0]], close[:-1]))
    gap = np.flatnonzero(np.diff(ts) > 3600) + 1
    open_[gap] = np.round(open_[gap] + rng.normal(0, 0.002, len(gap)), 4)
    wick = np.round(np.abs(rng.normal(0, 0.0004, (2, n))), 4)
    high = np.maximum(open_, close) + wick[0]
    low = np.minimum(open_, close) - wick[1]
    return BarSeries(ts, open_, high, low, close, np.full(n, 1e6))


def pandas_sma(values, n):
    return pd.Series(values).rolling(n).mean()


class SmaCross(Strategy):
    """backtesting.py's own SmaCross example, with a mode and an optional fixed size."""

    fast = 10
    slow = 20
    mode = "long_only"
    size = 0  # 0: backtesting.py's default (all available equity)

    def init(self):
        self.sma1 = self.I(pandas_sma, self.data.Close, self.fast)
        self.sma2 = self.I(pandas_sma, self.data.Close, self.slow)

    def next(self):
        kw = {"size": self.size} if self.size else {}
        if crossover(self.sma1, self.sma2):
            self.position.close()
            self.buy(**kw)
        elif crossover(self.sma2, self.sma1):
            self.position.close()
            if self.mode == "long_short":
                self.sell(**kw)


def reference(bars: BarSeries, fast: int, slow: int, mode: str, size: int) -> pd.DataFrame:
    df = pd.DataFrame(
        {"Open": bars.open, "High": bars.high, "Low": bars.low, "Close": bars.close,
         "Volume": bars.volume},
        index=pd.to_datetime(bars.ts, unit="s"),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bt = Backtest(df, SmaCross, cash=CASH, commission=COMMISSION, finalize_trades=True)
        stats = bt.run(fast=fast, slow=slow, mode=mode, size=size)
    return stats["_trades"]


def ours(bars: BarSeries, fast: int, slow: int, mode: str, size: int) -> list:
    cfg = EngineConfig(
        instrument=InstrumentSpec("EURUSD", "FX", tick_size=0.0001, lot_size=1,
                                  allow_short_cnc=True),
        starting_capital=CASH,
        quantity=size or None,
        allocation_pct=None if size else 100.0,
        charges=FlatCommission(COMMISSION * 100),
        slippage_bps=0.0,
        close_at_end="last_open",
    )  # fmt: skip
    params = {"fast": fast, "slow": slow, "mode": mode}
    return Engine(cfg, get("sma_crossover"), params).run(bars).trades


def ties(bars: BarSeries, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference's exact ties, and the bars where a sign change across a tie run lands."""
    f = pandas_sma(bars.close, fast).to_numpy()
    s = pandas_sma(bars.close, slow).to_numpy()
    exact = np.flatnonzero(f == s)
    decisive = []
    for i in range(1, len(f)):  # the rule written out bar by bar, as a judge of ``crossing``
        if not (f[i - 1] == s[i - 1] and (f[i] > s[i] or f[i] < s[i])):
            continue
        j = i - 1
        while j >= 0 and f[j] == s[j]:
            j -= 1
        if j >= 0 and (f[j] - s[j]) * (f[i] - s[i]) < 0:
            decisive.append(i)
    return exact, np.array(decisive, dtype=np.int64)


def key(entry_ts, exit_ts, size, entry_price, exit_price) -> tuple:
    return (int(entry_ts), int(exit_ts), int(size), float(entry_price), float(exit_price))


def ref_rows(trades: pd.DataFrame) -> list[tuple]:
    return [
        key(r.EntryTime.value // 10**9, r.ExitTime.value // 10**9, r.Size, r.EntryPrice,
            r.ExitPrice)
        for r in trades.itertuples()
    ]  # fmt: skip


def our_rows(trades: list) -> list[tuple]:
    return [key(t.entry_ts, t.exit_ts, t.quantity, t.entry_price, t.exit_price) for t in trades]


def touches(row: tuple, bars: BarSeries, decisive: np.ndarray) -> bool:
    """Whether a trade's decisions (the bars before its fills) are at or around a decisive tie."""
    entry_decision = int(np.searchsorted(bars.ts, row[0])) - 1
    exit_decision = int(np.searchsorted(bars.ts, row[1])) - 1
    return bool(((decisive >= entry_decision) & (decisive <= exit_decision)).any())


CASES = [
    (seed, fast, slow, mode)
    for seed, (fast, slow) in enumerate([(10, 20), (5, 20), (10, 30), (20, 50)])
    for mode in ("long_only", "long_short")
]


@pytest.mark.parametrize(("seed", "fast", "slow", "mode"), CASES)
def test_sma_and_cross_bars_are_the_reference_plus_decisive_ties(seed, fast, slow, mode):
    bars = fx_bars(seed)
    for n in (fast, slow):
        np.testing.assert_array_equal(ind.sma(bars.close, n), pandas_sma(bars.close, n))
    _, decisive = ties(bars, fast, slow)
    assert len(decisive) > 0, "the data must tie, or the test proves nothing"
    f, s = ind.sma(bars.close, fast), ind.sma(bars.close, slow)
    ref_up = np.zeros(len(bars), dtype=bool)
    ref_down = np.zeros(len(bars), dtype=bool)
    for i in range(1, len(bars)):  # backtesting.py's crossover, bar by bar
        ref_up[i] = crossover(f[: i + 1], s[: i + 1])
        ref_down[i] = crossover(s[: i + 1], f[: i + 1])
    ours_up, ours_down = ind.crosses_above(f, s), ind.crosses_below(f, s)
    assert not (ref_up & ~ours_up).any() and not (ref_down & ~ours_down).any()
    extra = np.flatnonzero((ours_up & ~ref_up) | (ours_down & ~ref_down))
    assert extra.tolist() == decisive.tolist()
    for i in decisive:  # each one ends a run of exact ties with the sign flipped across it
        j = i - 1
        while f[j] == s[j]:
            j -= 1
        assert f[i - 1] == s[i - 1] and np.sign(f[i] - s[i]) == -np.sign(f[j] - s[j]) != 0


@pytest.mark.parametrize(("seed", "fast", "slow", "mode"), CASES)
def test_fixed_size_trades_are_identical_except_at_decisive_ties(seed, fast, slow, mode):
    bars = fx_bars(seed)
    exact, decisive = ties(bars, fast, slow)
    theirs, mine = (
        ref_rows(reference(bars, fast, slow, mode, SIZE)),
        our_rows(ours(bars, fast, slow, mode, SIZE)),
    )
    only_theirs = [r for r in theirs if r not in set(mine)]
    only_mine = [r for r in mine if r not in set(theirs)]
    print(
        f"seed {seed} SMA({fast},{slow}) {mode}: {len(exact)} exact reference ties at bars "
        f"{exact.tolist()}; decisive at {decisive.tolist()}; trades {len(theirs)} theirs, "
        f"{len(mine)} ours, {len(only_theirs)}/{len(only_mine)} differ"
    )
    assert all(touches(r, bars, decisive) for r in only_theirs + only_mine)
    # and where no decisive tie is involved, the same trade is in both lists
    assert [r for r in theirs if not touches(r, bars, decisive)] == [
        r for r in mine if not touches(r, bars, decisive)
    ]
    assert bool(only_theirs or only_mine) == (len(decisive) > 0)


@pytest.mark.parametrize(("seed", "fast", "slow", "mode"), CASES)
def test_all_in_trades_are_identical_up_to_the_first_decisive_tie(seed, fast, slow, mode):
    bars = fx_bars(seed)
    _, decisive = ties(bars, fast, slow)
    first = bars.ts[decisive[0]] if len(decisive) else np.iinfo(np.int64).max
    ref = reference(bars, fast, slow, mode, 0)
    mine = ours(bars, fast, slow, mode, 0)
    theirs = [
        (row, r.PnL)
        for row, r in zip(ref_rows(ref), ref.itertuples(), strict=True)
        if row[1] <= first
    ]
    mine = [(row, t.pnl) for row, t in zip(our_rows(mine), mine, strict=True) if row[1] <= first]
    assert len(mine) == len(theirs) > 0
    for (row, pnl), (their_row, their_pnl) in zip(mine, theirs, strict=True):
        assert row == their_row
        assert pnl == pytest.approx(their_pnl, abs=1e-6)
