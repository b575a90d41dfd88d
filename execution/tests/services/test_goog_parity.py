"""Parity with backtesting.py through the product's path: strategy → backtest service → job.

``data/GOOG-reference.json`` holds what backtesting.py 0.6.6 reports for SMA(10)/SMA(20)
crossovers on GOOG (stats and every trade); every expected figure is read from it. A second,
synthetic data set checks that parity is a property of the rules rather than of GOOG: the same
service runs on random walks imported as new instruments and is compared with a plain per-bar
reference implementation of backtesting.py's rules written below (with the engine's documented
crossing rule, which differs from backtesting.py's only through exact ties).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings

from execution.models import BacktestStatus, Bar, Instrument
from execution.services.backtests import backtest_request
from execution.services.marketdata import bars_import_csv, instrument_get_or_create
from strategies.services import strategy_create

REFERENCE = json.loads((Path(settings.BASE_DIR) / "data" / "GOOG-reference.json").read_text())
REL = 1e-3  # 0.1 % relative
CENT = 0.01


def _ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _rel_close(actual, expected, rel: float = REL) -> bool:
    return math.isclose(float(actual), float(expected), rel_tol=rel)


def _backtest(user, instrument, capture, *, mode, capital, commission_pct, fast=10, slow=20):
    """Create the strategy and run its backtest as the product does: the job runs on commit."""
    strategy = strategy_create(
        owner=user,
        name=f"SMA {fast}/{slow} {mode} on {instrument.symbol}",
        strategy_type="sma_crossover",
        params={"fast": fast, "slow": slow, "mode": mode},
        instrument=instrument,
        timeframe="1d",
        allocation_pct=Decimal("100"),
        capital=Decimal(capital),
    )
    with capture(execute=True):  # on_commit → async_task (sync in tests) → backtest_run
        bt = backtest_request(
            strategy=strategy,
            user=user,
            commission_pct=Decimal(commission_pct),
            slippage_bps=Decimal("0"),
            # backtesting.py 0.6 closes a position still open after the last bar at the last
            # bar's OPEN (its finalize step re-runs the broker over the last bar): in the JSON the
            # final trades exit on 2013-03-01 at 797.80, that bar's open, not its close (806.19),
            # whatever GOOG-reference.md's prose says; the assertions below check exactly that.
            close_at_end="last_open",
        )
        assert bt.status == BacktestStatus.QUEUED
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    return bt


# --------------------------------------------------------------------------- GOOG


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["long_only", "long_short"])
def test_goog_parity_through_backtest_service(user, mode, django_capture_on_commit_callbacks):
    ref = REFERENCE[f"GOOG/{mode}"]
    stats_ref = ref["stats"]
    goog = Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")
    assert goog.tick_size == Decimal("0.01")

    bt = _backtest(
        user,
        goog,
        django_capture_on_commit_callbacks,
        mode=mode,
        capital=str(ref["cash"]),
        commission_pct=str(Decimal(str(ref["commission"])) * 100),  # fraction → percent (0.2)
    )

    assert bt.data_source == "stored"
    assert bt.bars == ref["bars"]
    stats = bt.stats
    assert stats["trades"] == int(stats_ref["# Trades"]) == len(ref["trades"])
    assert _rel_close(stats["final_equity"], stats_ref["Equity Final [$]"])
    assert _rel_close(stats["total_return_pct"], stats_ref["Return [%]"])
    assert _rel_close(stats["max_drawdown_pct"], stats_ref["Max. Drawdown [%]"])
    assert _rel_close(stats["total_charges"], stats_ref["Commissions [$]"])

    first, first_ref = bt.trades.order_by("seq").first(), ref["trades"][0]
    assert first.quantity == first_ref["size"]
    assert first.entry_ts == _ts(first_ref["entry_time"])
    assert first.entry_price == Decimal(str(first_ref["entry_price"]))

    trades = list(bt.trades.order_by("seq"))
    assert len(trades) == len(ref["trades"])
    for t, r in zip(trades, ref["trades"], strict=True):
        assert (t.quantity, t.entry_ts, t.exit_ts) == (
            r["size"],
            _ts(r["entry_time"]),
            _ts(r["exit_time"]),
        ), t.seq
        assert abs(float(t.pnl) - r["pnl"]) <= CENT, (t.seq, t.pnl, r["pnl"])
        assert t.side == ("LONG" if r["size"] > 0 else "SHORT")

    # the last round trip ends at the last bar's open, as close_at_end="last_open" promises
    last_bar = Bar.objects.filter(instrument=goog, timeframe="1d").order_by("-ts").first()
    assert trades[-1].exit_ts == last_bar.ts
    assert trades[-1].exit_price == last_bar.open
    assert bt.equity.order_by("-ts").first().equity == Decimal(str(stats["final_equity"]))


# --------------------------------------------------------------------------- any data set


@dataclass(frozen=True)
class RefTrade:
    size: int
    entry_i: int
    exit_i: int
    entry_price: float
    exit_price: float
    pnl: float


@dataclass(frozen=True)
class RefResult:
    trades: list[RefTrade]
    equity: list[float]

    @property
    def final_equity(self) -> float:
        return self.equity[-1]

    def max_drawdown_pct(self, starting_cash: float) -> float:
        peak, worst = starting_cash, 0.0
        for e in self.equity:
            peak = max(peak, e)
            worst = max(worst, 1 - e / peak)
        return -worst * 100


def reference_sma_backtest(
    opens: list[float],
    closes: list[float],
    *,
    fast: int,
    slow: int,
    mode: str,
    cash: float,
    commission: float,
) -> RefResult:
    """backtesting.py's SmaCross rules, written out one bar at a time with no shared code.

    * the averages are backtesting.py's: pandas ``rolling(k).mean()`` of the closes, floats;
    * a golden cross at bar i's close asks for a long; a death cross asks for a short
      (long_short) or flat (long_only); asking for what was last asked changes nothing. A cross
      is a change of sign of ``fast - slow`` across any run of bars where the two are exactly
      equal, counted on the bar with the new sign (touching is not crossing). backtesting.py's
      strict ``crossover`` sees only the crosses without a tie in between; on prices of a 0.01
      grid the averages do tie exactly now and then, and there it misses the cross;
    * what is asked at close i happens at open i+1: the opposite position (if any) is closed
      first, then the new one is opened all-in: ``floor(cash / (open * (1 + c)))`` units;
    * commission ``units * price * c`` at entry and again at exit, taken from cash;
    * equity at each bar = cash + position * close;
    * a position still open after the last bar is closed at the last bar's open (and a decision
      at the last close has no next open to act on).
    """
    n = len(closes)
    fast_sma = pd.Series(closes, dtype=float).rolling(fast).mean().tolist()
    slow_sma = pd.Series(closes, dtype=float).rolling(slow).mean().tolist()
    last_sign = 0  # sign of fast - slow on the last bar where they differed (0: none yet)

    pos = 0
    entry_price = entry_comm = 0.0
    entry_i = -1
    wanted = 0  # the position the strategy last asked for: +1, -1 or 0
    pending: int | None = None
    trades: list[RefTrade] = []
    equity: list[float] = []

    def close_position(i: int, price: float) -> None:
        nonlocal cash, pos
        comm = abs(pos) * price * commission
        cash += pos * price - comm
        pnl = pos * (price - entry_price) - entry_comm - comm
        trades.append(RefTrade(pos, entry_i, i, entry_price, price, pnl))
        pos = 0

    for i in range(n):
        price = opens[i]
        if pending is not None:
            target, pending = pending, None
            if pos != 0 and (target == 0 or (pos > 0) != (target > 0)):
                close_position(i, price)
            if target != 0 and pos == 0:
                units = math.floor(cash / (price * (1 + commission)))
                if units > 0:
                    pos = units if target > 0 else -units
                    entry_price, entry_i = price, i
                    entry_comm = units * price * commission
                    cash -= pos * price + entry_comm
        equity.append(cash + pos * closes[i])
        f1, s1 = fast_sma[i], slow_sma[i]
        if math.isnan(f1) or math.isnan(s1):
            last_sign = 0
            continue
        sign = (f1 > s1) - (f1 < s1)
        if sign == 0:
            continue  # a tie: the sign before it carries on
        ask = None
        if last_sign == -1 and sign == 1:
            ask = 1
        elif last_sign == 1 and sign == -1:
            ask = -1 if mode == "long_short" else 0
        last_sign = sign
        if ask is not None and ask != wanted and i < n - 1:
            wanted = pending = ask
    if pos != 0:
        close_position(n - 1, opens[n - 1])
        equity[-1] = cash
    return RefResult(trades, equity)


def _random_walk(seed: int, n: int) -> list[tuple[date, float, float, float, float, int]]:
    """Deterministic daily OHLCV bars of a geometric random walk, on a 0.01 price grid."""
    rng = np.random.default_rng(seed)
    day = date(2010, 1, 4)
    close = 50.0 + 150.0 * rng.random()
    rows = []
    for _ in range(n):
        open_ = round(close * math.exp(rng.normal(0, 0.006)), 2)
        close = round(open_ * math.exp(rng.normal(0.0004, 0.018)), 2)
        high = round(max(open_, close) * (1 + abs(rng.normal(0, 0.006))) + 0.005, 2)
        low = round(min(open_, close) * (1 - abs(rng.normal(0, 0.006))) - 0.005, 2)
        rows.append((day, open_, high, max(low, 0.01), close, int(rng.integers(1e5, 5e6))))
        day += timedelta(days=1 if day.weekday() < 4 else 3)  # weekdays only
    return rows


def _import(tmp_path: Path, symbol: str, rows) -> Instrument:
    path = tmp_path / f"{symbol}.csv"
    lines = ["Date,Open,High,Low,Close,Volume"]
    lines += [f"{d.isoformat()},{o:.2f},{h:.2f},{lo:.2f},{c:.2f},{v}" for d, o, h, lo, c, v in rows]
    path.write_text("\n".join(lines) + "\n")
    instrument, created = instrument_get_or_create(
        exchange="NYSE", symbol=symbol, tick_size=Decimal("0.01"), currency="USD"
    )
    assert created
    assert bars_import_csv(instrument=instrument, timeframe="1d", path=path).added == len(rows)
    return instrument


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("seed", "mode", "fast", "slow", "commission_pct", "capital"),
    [
        (1, "long_short", 10, 20, "0.2", "10000"),
        (2, "long_only", 10, 20, "0.2", "10000"),
        (3, "long_short", 5, 15, "0.1", "25000"),
        (4, "long_only", 7, 30, "0.5", "100000"),
        (5, "long_short", 12, 26, "0", "10000"),
        (6, "long_short", 1, 2, "0.05", "5000"),
        (7, "long_only", 20, 50, "1", "1000000"),
        (8, "long_short", 3, 8, "0.3", "2000"),
    ],
)
def test_parity_is_not_goog_specific(
    user, tmp_path, django_capture_on_commit_callbacks, seed, mode, fast, slow, commission_pct,
    capital,
):  # fmt: skip
    rows = _random_walk(seed, 1500)
    instrument = _import(tmp_path, f"RW{seed}", rows)
    bt = _backtest(
        user,
        instrument,
        django_capture_on_commit_callbacks,
        mode=mode,
        capital=capital,
        commission_pct=commission_pct,
        fast=fast,
        slow=slow,
    )
    ref = reference_sma_backtest(
        [r[1] for r in rows],
        [r[4] for r in rows],
        fast=fast,
        slow=slow,
        mode=mode,
        cash=float(capital),
        commission=float(commission_pct) / 100,
    )
    assert len(ref.trades) >= 20  # the walk must actually exercise the rules

    assert bt.data_source == "stored"
    assert bt.bars == len(rows)
    assert bt.stats["trades"] == len(ref.trades)
    assert _rel_close(bt.stats["final_equity"], ref.final_equity)
    assert _rel_close(bt.stats["max_drawdown_pct"], ref.max_drawdown_pct(float(capital)))
    stored = list(bt.trades.order_by("seq"))
    assert len(stored) == len(ref.trades)
    for t, r in zip(stored, ref.trades, strict=True):
        assert t.quantity == r.size, t.seq
        assert t.entry_ts.date() == rows[r.entry_i][0], t.seq
        assert t.exit_ts.date() == rows[r.exit_i][0], t.seq
        assert abs(float(t.pnl) - r.pnl) <= CENT, (t.seq, t.pnl, r.pnl)
    if mode == "long_only":
        assert all(t.quantity > 0 for t in stored)
    else:
        assert {t.side for t in stored} == {"LONG", "SHORT"}


def test_reference_implementation_reproduces_goog():
    """The hand-written reference itself agrees with backtesting.py on GOOG (it is a fair judge)."""
    csv_rows = (Path(settings.BASE_DIR) / "data" / "GOOG.csv").read_text().splitlines()[1:]
    cells = [r.split(",") for r in csv_rows if r]
    opens, closes = [float(c[1]) for c in cells], [float(c[4]) for c in cells]
    for mode in ("long_only", "long_short"):
        ref = REFERENCE[f"GOOG/{mode}"]
        out = reference_sma_backtest(
            opens, closes, fast=10, slow=20, mode=mode, cash=ref["cash"],
            commission=ref["commission"],
        )  # fmt: skip
        assert len(out.trades) == len(ref["trades"])
        assert _rel_close(out.final_equity, ref["stats"]["Equity Final [$]"])
        assert _rel_close(out.max_drawdown_pct(ref["cash"]), ref["stats"]["Max. Drawdown [%]"])
        for mine, theirs in zip(out.trades, ref["trades"], strict=True):
            assert mine.size == theirs["size"]
            assert abs(mine.pnl - theirs["pnl"]) <= CENT
