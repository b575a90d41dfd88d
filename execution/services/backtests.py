"""Backtests: request one (queued as a django-q2 job on commit), run it, store its results.

The job runs the same engine a paper deployment runs, over the whole range in memory, then
bulk-saves the equity curve (downsampled for very long runs) and the round-trip trades.

A queued or running backtest holds a *lease* (``lease_expires_at``): set when it is queued,
renewed by the running job with its progress. A worker killed mid-run, or a task the broker
lost, leaves the lease to expire, and ``backtests_sweep`` (one schedule) queues the backtest
again or, after ``BACKTEST_MAX_ATTEMPTS`` runs, fails it with the reason. Each run carries its
attempt number as a fencing token, so a run that lost its lease can no longer write.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from time import monotonic
from typing import Any

import numpy as np
import structlog
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from algosaas.errors import LimitExceeded
from execution.engine.bars import BarSeries
from execution.engine.feeds import synthetic_bars
from execution.engine.runner import Engine
from execution.engine.session import session_only
from execution.engine.state import ClosedTrade, EquityCurve
from execution.engine.stats import compute_stats
from execution.exceptions import BacktestInvalid
from execution.marketdata.exchanges import costs_or_default
from execution.marketdata.ticks import PRICE_QUANTUM
from execution.models import (
    Backtest,
    BacktestEquity,
    BacktestStatus,
    BacktestTrade,
    Instrument,
)
from execution.selectors import bar_series, bars_available
from execution.services.backtest_baskets import basket_backtest_run
from execution.services.engine_setup import charges_model, engine_config, session_calendar
from execution.validation import backtest_range_errors
from strategies import catalog
from strategies.models import TIMEFRAME_SECONDS, Strategy
from strategies.services import strategy_config_snapshot

logger = structlog.get_logger(__name__)

MAX_EQUITY_POINTS = 5000
SYNTHETIC_DEFAULT_BARS = 5000
MAX_BARS = 2_000_000
PAISE = Decimal("0.01")

# (status, trigger) -> next status: the only moves a backtest makes (``_transition``).
BACKTEST_TRANSITIONS: dict[tuple[str, str], str] = {
    (BacktestStatus.QUEUED, "start"): BacktestStatus.RUNNING,
    # a redelivered task takes over a run whose lease expired (its worker died)
    (BacktestStatus.RUNNING, "start"): BacktestStatus.RUNNING,
    (BacktestStatus.RUNNING, "complete"): BacktestStatus.COMPLETE,
    (BacktestStatus.RUNNING, "fail"): BacktestStatus.FAILED,
    # the sweeper: a dead run goes back to the queue, a queued one whose task is lost is re-sent
    (BacktestStatus.RUNNING, "requeue"): BacktestStatus.QUEUED,
    (BacktestStatus.QUEUED, "requeue"): BacktestStatus.QUEUED,
}


class LeaseLost(Exception):
    """Raised inside a run whose lease was taken over: another attempt owns the backtest now."""


def _lease(key: str) -> datetime:
    return timezone.now() + timedelta(seconds=settings.ALGOSAAS[key])


def _live_lease() -> Q:
    return Q(lease_expires_at__gt=timezone.now())


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
    charges: str | None = None,
    commission_pct: Decimal | None = None,
    slippage_bps: Decimal = Decimal("0"),
    close_at_end: str = "close",
    params: dict[str, Any] | None = None,
    request_token: str = "",
) -> Backtest:
    """Queue a backtest of ``strategy`` as configured now; the job starts after commit.

    Without ``charges`` the costs are the exchange's default (``charges_default``): Indian
    equity charges on NSE/BSE, a flat commission (unless one is given) elsewhere. ``params``
    (a sweep's result) replaces the strategy's parameters in this backtest only, checked by
    its type (``BacktestInvalid`` naming ``params``); the strategy itself is not changed.
    ``request_token`` (``idempotency_token``) links the backtest to the API request's key.

    The task is sent after the commit; if sending fails (the broker is down) the backtest is
    still queued and committed, so the request succeeds and ``backtests_sweep`` sends it once
    its queued lease is over, rather than the failure freeing the request's Idempotency-Key
    for a retry that would queue a second backtest.
    """
    charges, commission_pct = costs_or_default(
        strategy.instrument.exchange, charges, commission_pct
    )
    range_errors = backtest_range_errors(start=start, end=end)
    if range_errors:
        raise BacktestInvalid("end: must not be before start.", fields=range_errors)
    # Lock the user's row so two concurrent requests cannot both pass the cap check.
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()
    cap = settings.ALGOSAAS["MAX_ACTIVE_BACKTESTS_PER_USER"]
    # Only live work counts: a backtest whose worker or task is gone lets its lease expire.
    active = Backtest.objects.filter(
        _live_lease(), owner=user, status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING]
    ).count()
    if active >= cap:
        raise LimitExceeded(f"You already have {active} backtests queued or running; wait for one.")
    config = strategy_config_snapshot(strategy)
    if params is not None:
        try:
            config["params"] = catalog.get(config["strategy_type"]).validate_params(params)
        except (catalog.ParamsInvalid, catalog.UnknownStrategyType) as e:
            errors = e.errors if isinstance(e, catalog.ParamsInvalid) else [str(e)]
            raise BacktestInvalid(
                "params: refused by the strategy type.", fields={"params": errors}
            ) from e
    backtest = Backtest.objects.create(
        owner=user,
        strategy=strategy,
        config=config,
        start=start,
        end=end,
        capital=capital if capital is not None else strategy.capital,
        charges=charges,
        commission_pct=commission_pct,
        slippage_bps=slippage_bps,
        close_at_end=close_at_end,
        lease_expires_at=_lease("BACKTEST_QUEUED_LEASE_SECONDS"),
        request_token=request_token,
    )
    transaction.on_commit(lambda: _enqueue_or_leave_to_sweeper(backtest.pk))
    return backtest


def _enqueue(backtest_id: int) -> None:
    async_task("execution.tasks.backtest_run", backtest_id, task_name=f"backtest-{backtest_id}")


def _enqueue_or_leave_to_sweeper(backtest_id: int) -> None:
    """Send a committed backtest's task; if the queue refuses, the sweeper sends it later."""
    try:
        _enqueue(backtest_id)
    except Exception:  # the row is committed and leased: backtests_sweep recovers it
        logger.exception("backtest_enqueue_failed", backtest_id=backtest_id)


def backtest_for_request(*, user, strategy: Strategy, request_token: str) -> Backtest | None:
    """The backtest of ``strategy`` an API request with this key's token queued, if any."""
    if not request_token:
        return None
    return Backtest.objects.filter(
        owner=user, strategy=strategy, request_token=request_token
    ).first()


def backtest_bars(
    backtest: Backtest, instrument: dict[str, Any] | None = None
) -> tuple[BarSeries, str]:
    """Return the bars a backtest replays and their source: stored bars, else the synthetic feed.

    ``instrument`` picks a basket's member (a snapshot's entry); by default the strategy's own.

    Stored bars are used whenever the instrument has any at the timeframe (``start``/``end`` are
    inclusive dates). Otherwise the synthetic feed provides the range, or, with no range given,
    the last 5,000 bars that closed before now. Intraday bars of an exchange with a session
    calendar (NSE, BSE) keep only the bars inside its sessions: none outside 09:15-15:30 IST,
    on weekends or on holidays (a range with no session in it has no bars).
    """
    inst = instrument or backtest.config["instrument"]
    timeframe = backtest.config["timeframe"]
    calendar = session_calendar(exchange=inst["exchange"], timeframe=timeframe)
    instrument = Instrument.objects.get(pk=inst["id"])
    start = _day_start(backtest.start) if backtest.start else None
    end = _day_start(backtest.end) + timedelta(days=1) if backtest.end else None
    if bars_available(instrument=instrument, timeframe=timeframe):
        stored = bar_series(instrument=instrument, timeframe=timeframe, start=start, end=end)
        return session_only(stored, calendar), "stored"
    interval = TIMEFRAME_SECONDS[timeframe]
    now = int(timezone.now().timestamp()) // interval * interval
    end_ts = min(int(end.timestamp()) if end else now, now)
    start_ts = int(start.timestamp()) if start else end_ts - SYNTHETIC_DEFAULT_BARS * interval
    if (end_ts - start_ts) // interval > MAX_BARS:
        raise BacktestInvalid(
            f"The range holds more than {MAX_BARS:,} bars; shorten it.",
            fields={"start": [f"Range too long for a {timeframe} backtest."]},
        )

    def synthetic(first: int) -> BarSeries:
        bars = synthetic_bars(
            instrument_key=f"{inst['exchange']}:{inst['symbol']}",
            interval_s=interval,
            start_ts=first,
            end_ts=end_ts,
            tick_size=float(inst["tick_size"]),
        )
        return session_only(bars, calendar)

    bars = synthetic(start_ts)
    if calendar is not None and start is None:
        # the last 5,000 bars *in session*: reach back over nights, weekends and holidays
        span = end_ts - start_ts
        while len(bars) < SYNTHETIC_DEFAULT_BARS and span < 60 * 86_400:
            span *= 2
            bars = synthetic(end_ts - span)
        bars = bars.slice(max(0, len(bars) - SYNTHETIC_DEFAULT_BARS))
    return bars, "synthetic"


def _transition(bt: Backtest, trigger: str, **fields: Any) -> bool:
    """Apply ``trigger`` to a locked backtest through the table; False if the edge is missing."""
    to = BACKTEST_TRANSITIONS.get((bt.status, trigger))
    if to is None:
        logger.info("backtest_transition_refused", backtest_id=bt.pk, status=bt.status, to=trigger)
        return False
    logger.info("backtest_transition", backtest_id=bt.pk, frm=bt.status, to=to, trigger=trigger)
    bt.status = to
    for name, value in fields.items():
        setattr(bt, name, value)
    bt.save(update_fields=["status", *fields])
    return True


def _claim(backtest_id: int) -> Backtest | None:
    """Start a queued backtest, or take over a run whose lease expired; None if it is not ours.

    A redelivered task finds a finished backtest, or one another worker runs under a live
    lease, and does nothing. Each start counts an attempt; past the limit the backtest fails.
    """
    with transaction.atomic():
        bt = Backtest.objects.select_for_update().filter(pk=backtest_id).first()
        if bt is None:
            return None
        now = timezone.now()
        alive = bt.lease_expires_at is not None and bt.lease_expires_at > now
        if bt.status == BacktestStatus.RUNNING and alive:
            return None
        if bt.status == BacktestStatus.RUNNING and bt.attempts >= _max_attempts():
            _transition(bt, "fail", error=_dead_reason(bt), finished_at=now, lease_expires_at=None)
            return None
        started = _transition(
            bt,
            "start",
            started_at=now,
            progress=0,
            attempts=bt.attempts + 1,
            lease_expires_at=_lease("BACKTEST_LEASE_SECONDS"),
        )
        return bt if started else None


def _max_attempts() -> int:
    return settings.ALGOSAAS["BACKTEST_MAX_ATTEMPTS"]


def _dead_reason(bt: Backtest) -> str:
    return (
        f"The worker running this backtest stopped (killed, timed out or lost) {bt.attempts} "
        f"time(s), at {bt.progress}% the last time; it is not retried again."
    )


def _heartbeat(bt: Backtest, *, progress: int | None = None) -> None:
    """Renew the run's lease (and save its progress); raise ``LeaseLost`` if another owns it."""
    fields: dict[str, Any] = {"lease_expires_at": _lease("BACKTEST_LEASE_SECONDS")}
    if progress is not None:
        fields["progress"] = progress
    owned = Backtest.objects.filter(
        pk=bt.pk, status=BacktestStatus.RUNNING, attempts=bt.attempts
    ).update(**fields)
    if not owned:
        raise LeaseLost(f"backtest {bt.pk}: attempt {bt.attempts} lost its lease")


def _locked_own_run(bt: Backtest) -> Backtest:
    """Lock the row for this run's final write; raise ``LeaseLost`` if the run is not ours."""
    row = Backtest.objects.select_for_update().get(pk=bt.pk)
    if row.status != BacktestStatus.RUNNING or row.attempts != bt.attempts:
        raise LeaseLost(f"backtest {bt.pk}: attempt {bt.attempts} lost its lease")
    return row


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
    return _run(bt)


def _run(bt: Backtest) -> Backtest:
    """Run a claimed backtest (``bt.attempts`` is this run's fencing token); return it fresh."""
    try:
        last_saved = [0, monotonic()]
        beat = settings.ALGOSAAS["BACKTEST_LEASE_SECONDS"] / 3

        def progress(fraction: float) -> None:
            pct = min(99, int(fraction * 100))
            now = monotonic()
            if pct >= last_saved[0] + 5 or now - last_saved[1] >= beat:
                last_saved[:] = [max(pct, last_saved[0]), now]
                _heartbeat(bt, progress=last_saved[0])

        if bt.config.get("instruments"):  # a basket (``backtest_baskets``)
            basket = basket_backtest_run(bt, load=backtest_bars, progress=progress)
            _save_results(
                bt,
                basket.equity,
                basket.trades,
                basket.stats,
                source=basket.source,
                n_bars=basket.bars,
                member_stats=basket.members,
            )
            bt.refresh_from_db()
            return bt
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
            calendar=session_calendar(
                exchange=bt.config["instrument"]["exchange"], timeframe=bt.config["timeframe"]
            ),
        )
        _heartbeat(bt)  # loading the bars may have taken a while

        result = Engine(config, stype, bt.config["params"]).run(bars, progress=progress)
        stats = compute_stats(
            equity=result.equity.equity,
            ts=result.equity.ts,
            position=result.equity.position,
            trades=result.trades,
            starting_capital=float(bt.capital),
            total_charges=result.state.ledger.total_charges,
        )
        iid = bt.config["instrument"]["id"]
        trades = [(t, iid) for t in result.trades]
        _save_results(bt, result.equity, trades, stats, source=source, n_bars=len(bars))
    except LeaseLost:
        logger.warning("backtest_lease_lost", backtest_id=bt.pk, attempt=bt.attempts)
    except Exception as e:  # the job must record every failure, not lose it
        logger.exception("backtest_failed", backtest_id=bt.pk)
        message = e.message if isinstance(e, BacktestInvalid) else f"{type(e).__name__}: {e}"
        with transaction.atomic():
            try:
                row = _locked_own_run(bt)
            except LeaseLost:
                logger.warning("backtest_lease_lost", backtest_id=bt.pk, attempt=bt.attempts)
            else:
                _transition(
                    row,
                    "fail",
                    error=message[:2000],
                    finished_at=timezone.now(),
                    lease_expires_at=None,
                )
    bt.refresh_from_db()
    return bt


@transaction.atomic
def _save_results(
    bt: Backtest,
    curve: EquityCurve,
    trades: list[tuple[ClosedTrade, int]],
    stats: dict[str, Any],
    *,
    source: str,
    n_bars: int,
    member_stats: list[dict[str, Any]] | None = None,
):
    """Store the equity curve (the basket's total for a basket), the trades with the
    instrument each traded, the statistics and, for a basket, each member's figures."""
    row = _locked_own_run(bt)  # a run that lost its lease must not write over the new one
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
                instrument_id=iid,
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
            for n, (t, iid) in enumerate(trades, start=1)
        ],
        batch_size=2000,
    )
    _transition(
        row,
        "complete",
        progress=100,
        stats=stats,
        member_stats=member_stats,
        bars=n_bars,
        data_source=source,
        error="",
        finished_at=timezone.now(),
        lease_expires_at=None,
    )


def backtests_sweep(*, limit: int = 500) -> dict[str, int]:
    """Re-queue or fail the backtests whose lease expired: their worker or their task is gone.

    A dead run goes back to the queue until it has used ``BACKTEST_MAX_ATTEMPTS`` runs, then
    fails with the reason; a queued backtest whose task was lost (the Redis broker keeps no
    receipt) is sent again, and the duplicate of a task still waiting finds it taken and skips.
    """
    counts = {"requeued": 0, "failed": 0}
    ids: list[int] = []
    with transaction.atomic():
        expired = (
            Backtest.objects.select_for_update(skip_locked=True)
            .filter(status__in=[BacktestStatus.QUEUED, BacktestStatus.RUNNING])
            .exclude(_live_lease())
            .order_by("lease_expires_at")[:limit]
        )
        now = timezone.now()
        for bt in expired:
            if bt.status == BacktestStatus.RUNNING and bt.attempts >= _max_attempts():
                reason = _dead_reason(bt)
                _transition(bt, "fail", error=reason, finished_at=now, lease_expires_at=None)
                counts["failed"] += 1
                continue
            logger.warning(
                "backtest_requeued", backtest_id=bt.pk, status=bt.status, attempts=bt.attempts
            )
            _transition(
                bt, "requeue", progress=0, lease_expires_at=_lease("BACKTEST_QUEUED_LEASE_SECONDS")
            )
            ids.append(bt.pk)
            counts["requeued"] += 1
        transaction.on_commit(lambda: [_enqueue(pk) for pk in ids])
    return counts
