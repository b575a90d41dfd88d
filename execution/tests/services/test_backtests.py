"""The backtest service: request (queued on commit), the job, stored results and failures."""

from __future__ import annotations

import csv
import itertools
import json
import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.db import connection, transaction

from algosaas.errors import LimitExceeded
from execution import tasks
from execution.exceptions import BacktestInvalid
from execution.marketdata.csvbars import ParsedBar
from execution.models import (
    Backtest,
    BacktestEquity,
    BacktestStatus,
    BacktestTrade,
    Instrument,
)
from execution.services import backtests as service
from execution.services.backtests import MAX_EQUITY_POINTS, backtest_execute, backtest_request
from execution.services.marketdata import bars_import, instrument_get_or_create
from strategies.services import strategy_create, strategy_update
from strategies.tests.factories import ensure_seeded_instruments, seeded_instrument

STAT_KEYS = {
    "trades",
    "final_equity",
    "total_return_pct",
    "max_drawdown_pct",
    "max_drawdown_days",
    "cagr_pct",
    "volatility_pct",
    "sharpe",
    "sortino",
    "win_rate_pct",
    "avg_win",
    "avg_loss",
    "profit_factor",
    "exposure_pct",
    "total_charges",
    "notes",
}
GOOG_CSV = Path(settings.BASE_DIR) / "data" / "GOOG.csv"


@pytest.fixture
def goog(db) -> Instrument:
    return Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")


@pytest.fixture
def no_bars(db) -> Instrument:
    """A seeded NSE instrument with no stored bars: backtests use the synthetic feed."""
    instrument = seeded_instrument("RELIANCE")
    assert not instrument.bars.exists()
    return instrument


def make_strategy(user, instrument, **overrides):
    config = {
        "name": "SMA cross",
        "strategy_type": "sma_crossover",
        "params": {"fast": 10, "slow": 20, "mode": "long_short"},
        "instrument": instrument,
        "timeframe": "1d",
        "allocation_pct": Decimal("100"),
        "capital": Decimal("100000"),
    }
    config.update(overrides)
    return strategy_create(owner=user, **config)


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Request a backtest and let its on_commit job run (django-q2 sync mode); return it fresh."""

    def _run(strategy, **kwargs) -> Backtest:
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            bt = backtest_request(strategy=strategy, user=strategy.owner, **kwargs)
        assert len(callbacks) == 1
        bt.refresh_from_db()
        return bt

    return _run


def _json_safe(value) -> bool:
    json.dumps(value, allow_nan=False)
    return True


# --------------------------------------------------------------------------- a complete run


def test_complete_run_has_every_stat_equity_and_trades(user, goog, run):
    strategy = make_strategy(user, goog, capital=Decimal("10000"))
    bt = run(strategy, charges="india_equity")

    assert bt.status == BacktestStatus.COMPLETE, bt.error
    assert bt.progress == 100
    assert bt.error == ""
    assert bt.started_at is not None and bt.finished_at >= bt.started_at
    assert bt.data_source == "stored"
    assert bt.bars == 2148
    stats = bt.stats
    assert set(stats) == STAT_KEYS
    assert _json_safe(stats)
    assert stats.pop("notes") == {}  # nine years of daily bars: every figure is defined
    assert all(v is None or type(v) in (int, float) for v in stats.values()), stats
    assert all(stats[k] is not None for k in STAT_KEYS - {"notes"}), stats
    assert stats["max_drawdown_pct"] <= 0
    assert stats["max_drawdown_days"] >= 0
    assert 0 <= stats["win_rate_pct"] <= 100
    assert 0 < stats["exposure_pct"] <= 100
    assert stats["avg_win"] > 0 > stats["avg_loss"]
    assert stats["total_charges"] > 0
    assert stats["total_return_pct"] == pytest.approx(
        (stats["final_equity"] - 10000) / 10000 * 100, abs=1e-3
    )

    points = list(bt.equity.order_by("ts"))
    assert len(points) == bt.bars  # short enough to keep every bar
    assert points[-1].equity == Decimal(str(stats["final_equity"]))
    assert all(p.drawdown_pct <= 0 for p in points)
    assert min(p.drawdown_pct for p in points) == pytest.approx(
        Decimal(str(stats["max_drawdown_pct"])), abs=Decimal("0.001")
    )

    trades = list(bt.trades.order_by("seq"))
    assert len(trades) == stats["trades"] > 0
    assert [t.seq for t in trades] == list(range(1, len(trades) + 1))
    for t in trades:
        assert t.side == ("LONG" if t.quantity > 0 else "SHORT")
        assert t.entry_ts <= t.exit_ts
        assert t.charges > 0
    # every position is closed by the end (close_at_end="close"), so trades carry every charge
    assert sum(t.charges for t in trades) == pytest.approx(
        Decimal(str(stats["total_charges"])), abs=Decimal("0.01") * len(trades)
    )
    assert sum(t.pnl for t in trades) == pytest.approx(
        Decimal(str(stats["final_equity"])) - Decimal("10000"), abs=Decimal("0.01") * len(trades)
    )


def test_progress_rises_while_running_and_ends_at_100(user, goog, run, monkeypatch):
    seen: list[tuple[str, int]] = []

    class SpyEngine(service.Engine):
        def run(self, bars, *, progress=None, **kw):
            def spy(fraction):
                progress(fraction)
                row = Backtest.objects.values("status", "progress").get()
                seen.append((row["status"], row["progress"]))

            return super().run(bars, progress=spy, **kw)

    monkeypatch.setattr(service, "Engine", SpyEngine)
    bt = run(make_strategy(user, goog))
    assert bt.status == BacktestStatus.COMPLETE
    assert bt.progress == 100
    assert len(seen) > 5
    assert {s for s, _ in seen} == {BacktestStatus.RUNNING}
    values = [p for _, p in seen]
    assert values == sorted(values)
    assert 0 < max(values) < 100  # 100 only once the results are stored


def test_long_synthetic_run_downsamples_equity(user, run):
    # a market open around the clock (NSE's synthetic bars follow its sessions)
    around_the_clock, _ = instrument_get_or_create(exchange="SYNTH", symbol="ALLDAY")
    strategy = make_strategy(
        user, around_the_clock, timeframe="1h", params={"fast": 10, "slow": 20}
    )
    bt = run(strategy, start=date(2024, 1, 1), end=date(2024, 12, 31), charges="none")

    assert bt.status == BacktestStatus.COMPLETE, bt.error
    assert bt.data_source == "synthetic"
    assert bt.bars == 366 * 24  # 2024 is a leap year; both ends inclusive
    points = list(bt.equity.order_by("ts"))
    assert MAX_EQUITY_POINTS // 2 < len(points) <= MAX_EQUITY_POINTS
    assert points[0].ts == datetime(2024, 1, 1, tzinfo=UTC)
    assert points[-1].ts == datetime(2024, 12, 31, 23, tzinfo=UTC)  # the last bar is kept
    assert points[-1].equity == Decimal(str(bt.stats["final_equity"]))
    assert all(a.ts < b.ts for a, b in itertools.pairwise(points))
    assert bt.trades.count() == bt.stats["trades"] > 0


def test_charges_none_and_india_equity(user, no_bars, run):
    strategy = make_strategy(user, no_bars, params={"fast": 5, "slow": 15, "mode": "long_only"})
    window = {"start": date(2019, 1, 1), "end": date(2022, 12, 31)}

    free = run(strategy, charges="none", **window)
    charged = run(strategy, charges="india_equity", **window)

    assert free.stats["trades"] > 0 and charged.stats["trades"] > 0
    assert free.stats["total_charges"] == 0
    assert all(t.charges == 0 for t in free.trades.all())
    assert charged.stats["total_charges"] > 0
    assert all(t.charges > 0 for t in charged.trades.all())
    assert charged.stats["final_equity"] < free.stats["final_equity"]

    flat = run(strategy, charges="none", commission_pct=Decimal("0.1"), **window)
    assert flat.stats["total_charges"] > 0  # a flat commission replaces the schedule


def test_date_range_limits_bars_inclusively(user, goog, run):
    start, end = date(2005, 1, 3), date(2005, 12, 30)
    with GOOG_CSV.open() as f:
        days = [date.fromisoformat(r[0]) for r in list(csv.reader(f))[1:] if r]
    assert start in days and end in days  # both ends are trading days: inclusivity shows
    expected = sum(start <= d <= end for d in days)

    bt = run(make_strategy(user, goog), start=start, end=end)

    assert bt.status == BacktestStatus.COMPLETE, bt.error
    assert bt.bars == expected
    points = bt.equity.order_by("ts")
    assert points.first().ts.date() == start
    assert points.last().ts.date() == end
    assert points.count() == expected
    assert all(start <= t.entry_ts.date() <= t.exit_ts.date() <= end for t in bt.trades.all())


def test_start_after_end_is_refused(user, goog):
    strategy = make_strategy(user, goog)
    with pytest.raises(BacktestInvalid) as info:
        backtest_request(strategy=strategy, user=user, start=date(2010, 1, 2), end=date(2010, 1, 1))
    assert info.value.status_code == 400
    assert "end" in info.value.fields
    assert not Backtest.objects.exists()


def test_range_without_bars_fails_with_reason(user, goog, run):
    bt = run(make_strategy(user, goog), start=date(2020, 1, 1), end=date(2020, 12, 31))
    assert bt.status == BacktestStatus.FAILED
    assert "No bars" in bt.error
    assert bt.stats is None


def test_synthetic_feed_is_reproducible(user, no_bars, run):
    strategy = make_strategy(user, no_bars, params={"fast": 5, "slow": 20, "mode": "long_only"})
    window = {"start": date(2021, 1, 1), "end": date(2023, 6, 30)}
    first = run(strategy, **window)
    second = run(strategy, **window)

    assert first.data_source == second.data_source == "synthetic"
    assert first.status == second.status == BacktestStatus.COMPLETE
    assert first.stats["trades"] > 0
    assert first.stats == second.stats
    fields = ("quantity", "entry_ts", "entry_price", "exit_ts", "exit_price", "pnl", "charges")
    assert list(first.trades.values_list(*fields)) == list(second.trades.values_list(*fields))
    assert list(first.equity.values_list("ts", "equity")) == list(
        second.equity.values_list("ts", "equity")
    )


def test_capital_defaults_to_the_strategys_and_can_be_overridden(user, goog, run):
    strategy = make_strategy(user, goog, capital=Decimal("20000"))
    default = run(strategy, charges="none")
    override = run(strategy, charges="none", capital=Decimal("50000"))
    assert default.capital == Decimal("20000")
    assert override.capital == Decimal("50000")
    assert default.equity.order_by("ts").first().cash <= Decimal("20000")
    assert override.stats["final_equity"] > default.stats["final_equity"]


# --------------------------------------------------------------------------- failures and retries


def test_engine_failure_ends_failed_with_reason(user, goog, run, monkeypatch):
    def boom(self, bars, **kw):
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(service.Engine, "run", boom)
    bt = run(make_strategy(user, goog))

    assert bt.status == BacktestStatus.FAILED
    assert "RuntimeError" in bt.error and "engine exploded" in bt.error
    assert bt.finished_at is not None
    assert bt.stats is None
    assert not BacktestEquity.objects.exists()
    assert not BacktestTrade.objects.exists()


def test_failure_while_saving_keeps_no_partial_results(user, goog, run, monkeypatch):
    """The equity curve is written before the trades: a failure on the trades undoes both."""

    def boom(*args, **kwargs):
        assert BacktestEquity.objects.exists()  # the curve really was written first
        raise RuntimeError("disk full")

    monkeypatch.setattr(BacktestTrade.objects, "bulk_create", boom)
    bt = run(make_strategy(user, goog))

    assert bt.status == BacktestStatus.FAILED
    assert "disk full" in bt.error
    assert bt.stats is None and bt.progress < 100
    assert not BacktestEquity.objects.exists()
    assert not BacktestTrade.objects.exists()


def test_redelivered_job_does_nothing_once_complete(user, goog, run):
    bt = run(make_strategy(user, goog))
    assert bt.status == BacktestStatus.COMPLETE
    trade_ids = list(bt.trades.values_list("pk", flat=True))
    equity_ids = list(bt.equity.values_list("pk", flat=True))

    assert backtest_execute(backtest_id=bt.pk) is None
    assert tasks.backtest_run(bt.pk) == "skipped"

    again = Backtest.objects.get(pk=bt.pk)
    assert (again.status, again.finished_at, again.started_at, again.stats) == (
        bt.status,
        bt.finished_at,
        bt.started_at,
        bt.stats,
    )
    assert list(again.trades.values_list("pk", flat=True)) == trade_ids
    assert list(again.equity.values_list("pk", flat=True)) == equity_ids


def test_redelivered_job_does_nothing_once_failed(user, goog, run, monkeypatch):
    monkeypatch.setattr(service.Engine, "run", lambda self, bars, **kw: 1 / 0)
    bt = run(make_strategy(user, goog))
    assert bt.status == BacktestStatus.FAILED
    monkeypatch.undo()
    assert backtest_execute(backtest_id=bt.pk) is None
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.FAILED and "ZeroDivisionError" in bt.error


def test_job_for_a_deleted_backtest_is_skipped(db):
    assert backtest_execute(backtest_id=987654) is None
    assert tasks.backtest_run(987654) == "skipped"


# --------------------------------------------------------------------------- limits and snapshot


def test_active_backtests_are_capped_per_user(user, other_user, goog, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_ACTIVE_BACKTESTS_PER_USER": 2}
    strategy = make_strategy(user, goog)
    # Without running the on_commit callbacks the backtests stay QUEUED: active.
    first = backtest_request(strategy=strategy, user=user)
    backtest_request(strategy=strategy, user=user)

    with pytest.raises(LimitExceeded) as info:
        backtest_request(strategy=strategy, user=user)
    assert info.value.status_code == 403
    assert info.value.code == "limit_exceeded"
    assert Backtest.objects.filter(owner=user).count() == 2

    # the cap is per user
    backtest_request(strategy=make_strategy(other_user, goog), user=other_user)

    # RUNNING (a worker claimed it and holds its lease) still counts; a finished one frees its slot
    claimed = service._claim(first.pk)
    assert claimed.status == BacktestStatus.RUNNING
    with pytest.raises(LimitExceeded):
        backtest_request(strategy=strategy, user=user)
    service._run(claimed)
    assert Backtest.objects.get(pk=first.pk).status == BacktestStatus.COMPLETE
    backtest_request(strategy=strategy, user=user)
    assert Backtest.objects.filter(owner=user).count() == 3


def test_config_snapshot_is_unaffected_by_later_edits(user, goog, no_bars, run):
    params = {"fast": 10, "slow": 20, "mode": "long_short"}
    strategy = make_strategy(user, goog, params=params)
    twin = make_strategy(user, goog, params=params, name="Twin")

    queued = backtest_request(strategy=strategy, user=user)  # its job has not run yet
    snapshot = dict(queued.config)
    edited_strategy = strategy_update(
        strategy=strategy,
        params={"fast": 3, "slow": 50, "mode": "long_only"},
        instrument=no_bars,
        quantity=5,
    )
    backtest_execute(backtest_id=queued.pk)
    queued.refresh_from_db()

    assert queued.config == snapshot
    assert queued.config["params"] == params
    assert queued.config["instrument"]["symbol"] == "GOOG"
    assert Decimal(queued.config["allocation_pct"]) == 100
    assert queued.data_source == "stored"
    assert queued.stats == run(twin).stats  # ran exactly as the strategy was when requested

    edited = run(edited_strategy)
    assert edited.config["params"] == {"fast": 3, "slow": 50, "mode": "long_only"}
    assert edited.data_source == "synthetic"


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_cannot_both_pass_the_cap(user, settings, monkeypatch):
    """Two requests racing for the last slot: the second waits for the first, then is refused."""
    if connection.vendor != "postgresql":
        pytest.skip("needs real concurrent transactions (PostgreSQL)")
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_ACTIVE_BACKTESTS_PER_USER": 1}
    monkeypatch.setattr(service, "async_task", lambda *a, **kw: None)  # keep it QUEUED
    ensure_seeded_instruments()  # a transactional test may have flushed the migration's rows
    strategy = make_strategy(user, Instrument.objects.get(symbol="RELIANCE"))
    first_inside, release = threading.Event(), threading.Event()
    outcome: dict[str, object] = {}

    def first():
        try:
            with transaction.atomic():
                backtest_request(strategy=strategy, user=user)
                first_inside.set()
                release.wait(5)
        finally:
            connection.close()

    def second():
        try:
            backtest_request(strategy=strategy, user=user)
            outcome["second"] = "created"
        except LimitExceeded:
            outcome["second"] = "refused"
        finally:
            connection.close()

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_inside.wait(5)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(0.5)  # without the lock it would finish here, having counted no active backtest
    release.set()
    t1.join(5)
    t2.join(5)
    assert outcome == {"second": "refused"}
    assert Backtest.objects.filter(owner=user).count() == 1


# ------------------------------------------------------------------ ticks finer than 4 places


def _fx_walk(instrument: Instrument, n: int = 300) -> list:
    """Daily bars of a 5-decimal random walk, every price on the 0.00001 tick."""
    rng = np.random.default_rng(7)
    tick = Decimal("0.00001")
    bars, price = [], 1.10000
    for i in range(n):
        o = price
        c = o * float(np.exp(rng.normal(0, 0.006)))
        hi = max(o, c) * (1 + abs(rng.normal(0, 0.002)))
        lo = min(o, c) * (1 - abs(rng.normal(0, 0.002)))
        o_, h_, l_, c_ = (Decimal(repr(x)).quantize(tick) for x in (o, hi, lo, c))
        bars.append(
            ParsedBar(
                datetime.fromtimestamp(1_700_000_000 + i * 86_400, UTC).replace(hour=0),
                o_, max(h_, o_, c_), min(l_, o_, c_), c_, 1_000_000,
            )
        )  # fmt: skip
        price = float(c_)
    bars_import(instrument=instrument, timeframe="1d", bars=bars)
    return bars


@pytest.mark.parametrize("charges", ["none", "india_currency"])
def test_a_backtest_on_a_five_decimal_tick_keeps_its_prices(user, run, charges):
    """The defect: a 0.00001 tick stored as 0.0000 failed every backtest on the instrument."""
    instrument, _ = instrument_get_or_create(
        exchange="CDS", symbol="EURINR", tick_size=Decimal("0.00001")
    )
    bars = _fx_walk(instrument)
    strategy = make_strategy(user, instrument, params={"fast": 5, "slow": 20, "mode": "long_short"})
    bt = run(strategy, charges=charges)
    assert bt.status == BacktestStatus.COMPLETE, bt.error
    trades = list(bt.trades.all())
    assert len(trades) >= 5
    prices = {p for b in bars for p in (b.open, b.close)}
    fills = [p for t in trades for p in (t.entry_price, t.exit_price)]
    assert all(p in prices for p in fills)  # market orders fill at an open (or the last close)
    assert any(p.normalize().as_tuple().exponent == -5 for p in fills)  # all five places kept
    assert (sum(t.charges for t in trades) > 0) is (charges != "none")
