"""Where a deployment's bars come from, behind one interface (ARCHITECTURE §6).

- ``SyntheticSource``: the seeded random walk of ``execution.engine.feeds``; every bar is a pure
  function of instrument and time, so any worker computes the same bars with no shared state.
  The synthetic market is open around the clock, or, in "NSE hours" mode (with a
  ``calendar``), only in NSE's sessions: bars outside 09:15-15:30 IST, on weekends and on
  holidays do not exist.
- ``ReplaySource``: stored historical bars released one by one on a wall-clock schedule
  (``seconds_per_bar``), so a past year can be paper-traded in minutes.

Both answer "which bars have *closed* by ``now``, from ``since_ts`` on". Plain Python: the
Django layer loads stored bars and hands them in.
"""

from __future__ import annotations

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
