"""Backtests: request one (queued as a django-q2 job on commit), run it, store its results.

The job runs the same engine a paper deployment runs, over the whole range in memory, then
bulk-saves the equity curve (downsampled for very long runs) and the round-trip trades.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from algosaas.errors import LimitExceeded
from execution.engine.bars import BarSeries
from execution.engine.feeds import synthetic_bars
from execution.engine.runner import Engine
from execution.engine.stats import compute_stats
from execution.exceptions import BacktestInvalid
from execution.marketdata.ticks import PRICE_QUANTUM
from execution.models import (
    Backtest,
    BacktestEquity,
    BacktestStatus,
    BacktestTrade,
    Instrument,
)
from execution.selectors import bar_series, bars_available
from execution.services.engine_setup import charges_model, engine_config
from strategies import catalog
from strategies.models import TIMEFRAME_SECONDS, Strategy
from strategies.services import strategy_config_snapshot

logger = structlog.get_logger(__name__)

MAX_EQUITY_POINTS = 5000
SYNTHETIC_DEFAULT_BARS = 5000
MAX_BARS = 2_000_000
PAISE = Decimal("0.01")


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=UTC)


@transaction.atomic
def backtest_request(
    *,
    strategy: Strategy,
    user,
    start: date | None = None,
    end: date | None = None,
    capital: Decimal | None = None,
    charges: str = "india_equity",
    commission_pct: Decimal | None = None,
    slippage_bps: Decimal = Decimal("0"),
    close_at_end: str = "close",
) -> Backtest:
    """Queue a backtest of ``strategy`` as configured now; the job starts after commit."""
    if start is not None and end is not None and start > end:
        raise BacktestInvalid(
            "end: must not be before start.", fields={"end": ["Must not be before start."]}
        )
    # Lock the user's row so two concurrent requests cannot both pass the cap check.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    cap = settings.ALGOSAAS["MAX_ACTIVE_BACKTESTS_PER_USER"]
    active = Backtest.objects.filter(
        owner=user, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]
    ).count()
    if active >= cap:
        raise LimitExceeded(f"You already have {active} backtests queued or running; wait for one.")
    backtest = Backtest.objects.create(
        owner=user,
        strategy=strategy,
        config=strategy_config_snapshot(strategy),
        start=start,
        end=end,
        capital=capital if capital is not None else strategy.capital,
        charges=charges,
        commission_pct=commission_pct,
        slippage_bps=slippage_bps,
        close_at_end=close_at_end,
    )
    transaction.on_commit(
        lambda: async_task(
            "execution.tasks.backtest_run", backtest.pk, task_name=f"backtest-{backtest.pk}"
        )
    )
    return backtest


def backtest_bars(backtest: Backtest) -> tuple[BarSeries, str]:
    """Return the bars a backtest replays and their source: stored bars, else the synthetic feed.

    Stored bars are used whenever the instrument has any at the timeframe (``start``/``end`` are
    inclusive dates). Otherwise the synthetic feed provides the range, or, with no range given,
    the last 5,000 bars that closed before now.
    """
    inst = backtest.config["instrument"]
    timeframe = backtest.config["timeframe"]
    instrument = Instrument.objects.get(pk=inst["id"])
    start = _day_start(backtest.start) if backtest.start else None
    end = _day_start(backtest.end) + timedelta(days=1) if backtest.end else None
    if bars_available(instrument=instrument, timeframe=timeframe):
        return bar_series(
            instrument=instrument, timeframe=timeframe, start=start, end=end
        ), "stored"
    interval = TIMEFRAME_SECONDS[timeframe]
    now = int(timezone.now().timestamp()) // interval * interval
    end_ts = min(int(end.timestamp()) if end else now, now)
    start_ts = int(start.timestamp()) if start else end_ts - SYNTHETIC_DEFAULT_BARS * interval
    if (end_ts - start_ts) // interval > MAX_BARS:
        raise BacktestInvalid(
            f"The range holds more than {MAX_BARS:,} bars; shorten it.",
            fields={"start": [f"Range too long for a {timeframe} backtest."]},
        )
    bars = synthetic_bars(
        instrument_key=f"{inst['exchange']}:{inst['symbol']}",
        interval_s=interval,
        start_ts=start_ts,
        end_ts=end_ts,
        tick_size=float(inst["tick_size"]),
    )
    return bars, "synthetic"


def _claim(backtest_id: int) -> Backtest | None:
    """Mark the backtest RUNNING unless it already finished (a redelivered job is a no-op)."""
    with transaction.atomic():
        bt = Backtest.objects.select_for_update().filter(pk=backtest_id).first()
        if bt is None or bt.status in (BacktestStatus.COMPLETE, BacktestStatus.FAILED):
            return None
        bt.status = BacktestStatus.RUNNING
        bt.started_at = timezone.now()
        bt.progress = 0
        bt.save(update_fields=["status", "started_at", "progress"])
        return bt


def _to_dt(ts: int | np.integer) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=UTC)


def _money(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(PAISE)


def _price(x: float) -> Decimal:
    """A fill price back to Decimal: its shortest repr is the tick-rounded decimal, kept exact."""
    return Decimal(repr(float(x))).quantize(PRICE_QUANTUM)


def backtest_execute(*, backtest_id: int) -> Backtest | None:
    """Run a queued backtest to completion, saving progress as it goes; FAILED with the reason."""
    bt = _claim(backtest_id)
    if bt is None:
        return None
    try:
        bars, source = backtest_bars(bt)
        if len(bars) < 2:
            raise BacktestInvalid("No bars in the chosen range.")
        stype = catalog.get(bt.config["strategy_type"])
        config = engine_config(
            snapshot=bt.config,
            capital=bt.capital,
            charges=charges_model(charges=bt.charges, commission_pct=bt.commission_pct),
            slippage_bps=bt.slippage_bps,
            prefix=f"bt{bt.pk}",
            close_at_end=bt.close_at_end,
        )
        last_saved = [0]

        def progress(fraction: float) -> None:
            pct = min(99, int(fraction * 100))
            if pct >= last_saved[0] + 5:
                last_saved[0] = pct
                Backtest.objects.filter(pk=bt.pk).update(progress=pct)

        result = Engine(config, stype, bt.config["params"]).run(bars, progress=progress)
        stats = compute_stats(
            equity=result.equity.equity,
            ts=result.equity.ts,
            position=result.equity.position,
            trades=result.trades,
            starting_capital=float(bt.capital),
            total_charges=result.state.ledger.total_charges,
        )
        _save_results(bt, result, stats, source=source, n_bars=len(bars))
    except Exception as e:  # the job must record every failure, not lose it
        logger.exception("backtest_failed", backtest_id=bt.pk)
        message = e.message if isinstance(e, BacktestInvalid) else f"{type(e).__name__}: {e}"
        Backtest.objects.filter(pk=bt.pk).update(
            status=BacktestStatus.FAILED, error=message[:2000], finished_at=timezone.now()
        )
    bt.refresh_from_db()
    return bt


@transaction.atomic
def _save_results(bt: Backtest, result: Any, stats: dict[str, Any], *, source: str, n_bars: int):
    curve = result.equity
    equity = curve.equity
    peak = np.maximum.accumulate(equity)
    drawdown = (equity / peak - 1.0) * 100.0
    m = len(equity)
    if m > MAX_EQUITY_POINTS:
        idx = np.unique(np.append(np.linspace(0, m - 1, MAX_EQUITY_POINTS).astype(np.int64), m - 1))
    else:
        idx = np.arange(m)
    BacktestEquity.objects.filter(backtest=bt).delete()
    BacktestTrade.objects.filter(backtest=bt).delete()
    BacktestEquity.objects.bulk_create(
        [
            BacktestEquity(
                backtest=bt,
                ts=_to_dt(curve.ts[i]),
                equity=_money(equity[i]),
                cash=_money(curve.cash[i]),
                drawdown_pct=Decimal(repr(float(drawdown[i]))).quantize(Decimal("0.0001")),
            )
            for i in idx
        ],
        batch_size=2000,
    )
    BacktestTrade.objects.bulk_create(
        [
            BacktestTrade(
                backtest=bt,
                seq=n,
                side="LONG" if t.quantity > 0 else "SHORT",
                quantity=t.quantity,
                entry_ts=_to_dt(t.entry_ts),
                entry_price=_price(t.entry_price),
                exit_ts=_to_dt(t.exit_ts),
                exit_price=_price(t.exit_price),
                pnl=_money(t.pnl),
                charges=_money(t.charges),
            )
            for n, t in enumerate(result.trades, start=1)
        ],
        batch_size=2000,
    )
    Backtest.objects.filter(pk=bt.pk).update(
        status=BacktestStatus.COMPLETE,
        progress=100,
        stats=stats,
        bars=n_bars,
        data_source=source,
        error="",
        finished_at=timezone.now(),
    )
