"""Where a deployment's bars come from: its feed's session calendar and bar source.

The synthetic feed (around the clock or NSE hours), a replay of stored bars released on the
wall clock, or the broker's one-minute bars; and the feed's own clock, which an order placed
between steps waits behind. Split from ``live`` (the step), which re-exports these names.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from execution.engine.bars import BarSeries
from execution.engine.session import SessionCalendar, calendar_for, session_only
from execution.marketdata.sources import (
    BrokerSource,
    ReplaySource,
    SyntheticSource,
    synthetic_key,
)
from execution.models import DeploymentState, Feed, Instrument
from execution.selectors import bar_series
from execution.services.engine_setup import session_calendar
from execution.services.live_broker_feed import broker_source


def _feed_calendar(feed: str, snap: dict[str, Any]) -> SessionCalendar | None:
    """The session a deployment's bars follow: NSE's for the NSE-hours synthetic feed, the
    instrument exchange's for a replay of its intraday bars, none around the clock."""
    timeframe = snap["timeframe"]
    if feed == Feed.NSE_HOURS:
        if timeframe == "1d":
            return None
        return calendar_for("NSE", squareoff=settings.ALGOSAAS["MIS_SQUAREOFF"])
    if feed in (Feed.REPLAY, Feed.BROKER):
        return session_calendar(exchange=snap["instrument"]["exchange"], timeframe=timeframe)
    return None


def _replay_history(snap: dict[str, Any], calendar: SessionCalendar | None) -> BarSeries:
    history = bar_series(
        instrument=Instrument(pk=snap["instrument"]["id"]), timeframe=snap["timeframe"]
    )
    return session_only(history, calendar)


def _synthetic(
    snap: dict[str, Any], interval: int, calendar: SessionCalendar | None = None
) -> SyntheticSource:
    inst = snap["instrument"]
    return SyntheticSource(
        instrument_key=synthetic_key(inst["exchange"], inst["symbol"]),
        interval_s=interval,
        tick_size=float(inst["tick_size"]),
        calendar=calendar,
    )


def _live_source(
    feed: str, snap: dict[str, Any], interval: int, calendar: SessionCalendar | None
) -> SyntheticSource | BrokerSource:
    if feed == Feed.BROKER:
        return broker_source(snap, interval, calendar)
    return _synthetic(snap, interval, calendar)


def _source(live: DeploymentState) -> SyntheticSource | ReplaySource | BrokerSource:
    snap = live.deployment.config
    calendar = SessionCalendar.from_dict(live.engine_config.get("calendar"))
    if live.feed == Feed.REPLAY:
        history = _replay_history(snap, calendar)
        return ReplaySource(history, live.replay_origin_ts, live.replay_seconds_per_bar)
    return _live_source(live.feed, snap, live.interval_s, calendar)


def _feed_now(live: DeploymentState, now_ts: int) -> int:
    """The feed's time at wall time ``now_ts``, for an order placed or changed between steps.

    The engine lets such an order meet only bars that open after this time, so it can never
    fill at a price from before it existed, even though the next step may still process
    bars that had opened (or even closed) before it. Synthetic bars are stamped with wall
    time. Replayed bars keep their historical timestamps and are released on the wall clock:
    the bar in progress at ``now_ts`` is the one after those released, and the order waits
    for the bar after that one.
    """
    if live.feed != Feed.REPLAY:
        return now_ts
    source = _source(live)
    ts = source.history.ts
    if len(ts) == 0:
        return now_ts
    return int(ts[min(source.released(now_ts), len(ts) - 1)])
