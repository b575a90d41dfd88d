"""Where a deployment's bars come from, behind one interface (ARCHITECTURE §6).

- ``SyntheticSource``: the seeded random walk of ``execution.engine.feeds``; every bar is a pure
  function of instrument and time, so any worker computes the same bars with no shared state.
  The synthetic market is open around the clock, or, in "NSE hours" mode (with a
  ``calendar``), only in NSE's sessions: bars outside 09:15-15:30 IST, on weekends and on
  holidays do not exist.
- ``ReplaySource``: stored historical bars released one by one on a wall-clock schedule
  (``seconds_per_bar``), so a past year can be paper-traded in minutes.

- ``BrokerSource``: the broker's live feed, the one-minute bars ``run_ticker`` stores, grouped
  into the deployment's interval.

All answer "which bars have *closed* by ``now``, from ``since_ts`` on". Plain Python: the
Django layer loads stored bars and hands them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.feeds import synthetic_bars
from execution.engine.session import SessionCalendar, session_only

SYNTHETIC_BASE_PRICE = 1000.0


def synthetic_key(exchange: str, symbol: str) -> str:
    return f"{exchange}:{symbol}"


@dataclass(frozen=True, slots=True)
class SyntheticSource:
    instrument_key: str
    interval_s: int
    tick_size: float
    calendar: SessionCalendar | None = None

    def last_closed_open(self, now_ts: int) -> int:
        """Open time of the newest bar whose close is at or before ``now_ts``."""
        return (int(now_ts) // self.interval_s - 1) * self.interval_s

    def closed_bars(self, *, since_ts: int, now_ts: int) -> BarSeries:
        return self.bars(start_ts=since_ts, end_ts=self.last_closed_open(now_ts) + 1)

    def bars(self, *, start_ts: int, end_ts: int) -> BarSeries:
        """Bars whose open time is in ``[start_ts, end_ts)`` (in session, with a calendar)."""
        bars = synthetic_bars(
            instrument_key=self.instrument_key,
            interval_s=self.interval_s,
            start_ts=start_ts,
            end_ts=end_ts,
            base_price=SYNTHETIC_BASE_PRICE,
            tick_size=self.tick_size,
        )
        return session_only(bars, self.calendar)

    def next_close_after(self, ts: int) -> int:
        """Wall time at which the bar after the one opening at ``ts`` closes.

        With a calendar that is the first bar opening in session: after the close, the
        first bar of the next session.
        """
        step = self.interval_s
        nxt = int(ts) + step
        cal = self.calendar
        if cal is not None and not cal.is_open(nxt):
            nxt = -(-cal.next_open(nxt) // step) * step  # first bar boundary at or after it
        return nxt + step

    def warmup_span(self, bars: int) -> int:
        """Seconds back from now that hold at least ``bars`` bars (over nights and weekends
        in NSE hours: a session holds a quarter of a day's bars, and a long weekend 4 days)."""
        span = bars * self.interval_s
        if self.calendar is None:
            return span
        return span * 4 + 4 * 86_400


@dataclass(frozen=True, slots=True)
class ReplaySource:
    """Stored bars released at ``origin_ts + (k + 1) * seconds_per_bar`` for the k-th bar."""

    history: BarSeries
    origin_ts: int
    seconds_per_bar: float

    def released(self, now_ts: int) -> int:
        """How many bars have closed on the replay clock by ``now_ts``."""
        k = int((now_ts - self.origin_ts) // self.seconds_per_bar)
        return max(0, min(len(self.history), k))

    def closed_bars(self, *, since_ts: int, now_ts: int) -> BarSeries:
        stop = self.released(now_ts)
        start = int(np.searchsorted(self.history.ts, since_ts, side="left"))
        return self.history.slice(min(start, stop), stop)

    def release_time(self, k: int) -> float:
        """Wall time at which bar ``k`` (0-based) closes on the replay clock."""
        return self.origin_ts + (k + 1) * self.seconds_per_bar

    @property
    def exhausted_at(self) -> float:
        return self.release_time(len(self.history) - 1)


# Seconds after a bucket's end by which its last one-minute bar is expected; past it the bucket
# is released with the minutes it has (the ticker completes a broken minute from history
# within about ``history_delay`` + a request, so this waits for that, not for a silent market).
BROKER_BAR_GRACE = 90
BROKER_POLL_SECONDS = 5


@dataclass(frozen=True, slots=True)
class BrokerSource:
    """Bars of the broker's live feed: the stored one-minute bars (``run_ticker`` writes them),
    grouped into the deployment's interval (epoch-aligned buckets, as the synthetic feed's).

    A bucket is *closed* once its end has passed and either its last minute is stored or
    ``grace`` seconds more have passed: a bucket is never released while its last minute may
    still come, and a quiet last minute cannot hold the deployment forever. ``load(start, end)``
    returns the stored minutes opening in ``[start, end)`` (the Django layer reads them).
    """

    load: Callable[[int, int], BarSeries]
    interval_s: int
    grace: int = BROKER_BAR_GRACE
    poll_s: int = BROKER_POLL_SECONDS

    def last_closed_open(self, now_ts: int) -> int:
        return (int(now_ts) // self.interval_s - 1) * self.interval_s

    def closed_bars(self, *, since_ts: int, now_ts: int) -> BarSeries:
        step = self.interval_s
        start = int(since_ts) // step * step
        end = self.last_closed_open(now_ts) + step  # buckets ending by now
        minutes = self.load(start, end)
        bars = resample(minutes, step)
        if len(bars) and now_ts < int(bars.ts[-1]) + step + self.grace:
            last_minute = int(bars.ts[-1]) + step - 60
            if int(minutes.ts[-1]) < last_minute:  # its last minute may still come
                bars = bars.slice(0, len(bars) - 1)
        return bars

    def next_close_after(self, ts: int) -> int:
        return int(ts) + 2 * self.interval_s

    def warmup_span(self, bars: int) -> int:
        """Seconds back holding ``bars`` bars over nights and weekends (a session is about a
        quarter of a day, a long weekend 4 days), as the NSE-hours synthetic feed counts."""
        return bars * self.interval_s * 4 + 4 * 86_400


def resample(minutes: BarSeries, interval_s: int) -> BarSeries:
    """One-minute bars into ``interval_s`` buckets (open of the first, high/low over all,
    close of the last, volume summed); buckets with no minute are absent."""
    if interval_s == 60 or len(minutes) == 0:
        return minutes
    keys = minutes.ts // interval_s * interval_s
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)] - 1
    return BarSeries(
        ts=keys[starts],
        open=minutes.open[starts],
        high=np.maximum.reduceat(minutes.high, starts),
        low=np.minimum.reduceat(minutes.low, starts),
        close=minutes.close[ends],
        volume=np.add.reduceat(minutes.volume, starts),
    )
