"""MIS (intraday) square-off: close the position at the session's square-off time, every day.

An MIS position may not be carried overnight: the broker closes it at a fixed time before the
close (15:20 IST by default, ``SessionCalendar.squareoff``) and cancels the MIS orders still
working. The engine does the same, in a backtest and in a live step alike, because both run the
same ``Engine._run`` over the same bars:

- the square-off bar of a day is the bar whose close reaches the square-off time (it opens
  before it and closes at or after it: the 15:19 bar of 1-minute bars, the 15:15 bar of 5- or
  15-minute ones); the position is closed at that bar's close, by a reduce-only market leg
  ``{prefix}-{time}-mis`` stamped with the bar's close time (15:20 for aligned bars);
- from the square-off bar to the close no new entry is made; a decision still pending (the
  strategy wants a position) is entered at the next session's first bar;
- a day whose bars stop before the square-off time (a data gap) has no square-off bar.

Plain Python over numpy, like the rest of the engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from execution.engine.orders import Product, Side
from execution.engine.risk import Denial
from execution.engine.session import SessionCalendar, _utc_offset

if TYPE_CHECKING:
    from execution.engine.config import EngineConfig
    from execution.engine.state import EngineState

__all__ = ["MisOnDailyBars", "MisPlan", "MisSquareOff", "mis_cutoff_denial", "mis_plan"]

DAY_SECONDS = 86_400


class MisOnDailyBars(ValueError):
    """Raised when an MIS run is given daily (or longer) bars: nothing intraday to square off."""


class MisPlan:
    """Which bars of a run square off (``due``) and which may not open a position (``blocked``).

    ``due_ts[i]`` is the time stamped on bar ``i``'s square-off leg (the bar's close time).
    """

    def __init__(self, calendar: SessionCalendar, ts: np.ndarray, interval: int | None = None):
        ts = np.asarray(ts, dtype=np.int64)
        n = len(ts)
        if interval is None:
            interval = bar_interval(ts)
        if interval >= DAY_SECONDS:
            raise MisOnDailyBars(
                "MIS (intraday) needs intraday bars: daily bars have no square-off time"
            )
        utc_days = ts // DAY_SECONDS
        uniq, inv = np.unique(utc_days, return_inverse=True)
        offsets = np.array([_utc_offset(calendar.tz, int(u)) for u in uniq], dtype=np.int64)
        local_days = (ts + offsets[inv]) // DAY_SECONDS
        days, day_inv = np.unique(local_days, return_inverse=True)
        cut = np.array([calendar.squareoff_ts(int(d)) for d in days], dtype=np.int64)[day_inv]
        closes = ts + interval
        self.due = (ts < cut) & (closes >= cut)
        self.blocked = self.due | (ts >= cut)
        self.due_ts = closes
        self._due_idx = np.flatnonzero(self.due)
        self.n = n

    def next_due(self, i: int) -> int:
        """Return the first square-off bar at or after ``i`` (``n`` when there is none)."""
        k = int(np.searchsorted(self._due_idx, i, side="left"))
        return int(self._due_idx[k]) if k < len(self._due_idx) else self.n


def bar_interval(ts: np.ndarray) -> int:
    """The bars' length in seconds: the shortest gap between consecutive bars (60 if unknown)."""
    if len(ts) < 2:
        return 60
    gaps = np.diff(np.asarray(ts, dtype=np.int64))
    gaps = gaps[gaps > 0]
    return int(gaps.min()) if len(gaps) else 60


def mis_plan(config: EngineConfig, ts: np.ndarray) -> MisPlan | None:
    """The square-off plan of a run, or ``None`` (CNC, or no exchange calendar: no square-off)."""
    if config.product != Product.MIS or config.calendar is None or len(ts) == 0:
        return None
    return MisPlan(config.calendar, ts, config.bar_seconds)


class MisSquareOff:
    """The engine's square-off step (mixed into ``Engine``)."""

    state: EngineState
    _symbol: str

    def _mis_square_off(self, ts: int, close: float) -> None:
        """Cancel what is working and close the position at ``close``, stamped ``ts``.

        The leg fills on a bar of its own at the square-off time (open = close = ``close``), as
        ``_close_at_end`` closes a backtest, so the order log shows it at 15:20.
        """
        st = self.state
        br = st.broker
        sym = self._symbol
        q = st.ledger.qty(sym)
        working = self._working_orders()  # type: ignore[attr-defined]
        if q == 0 and not working:
            return
        br.begin_bar(sym, ts, close, close, close, close, 1e18)
        for o in working:
            br.cancel_order(o.broker_order_id, reason="MIS square-off")
        if q != 0:
            side = str(Side.SELL) if q > 0 else str(Side.BUY)
            self._leg(ts, "mis", side, abs(q), reduce_only=True)  # type: ignore[attr-defined]
        br.match_bar()
        # the strategy's target stands: re-enter at the next session's first bar
        st.pending = st.target != 0 and st.halted_reason is None


def mis_cutoff_denial(config: EngineConfig, product: str, ts: int) -> Denial | None:
    """Refuse a new MIS order between the square-off time and the close (as brokers do).

    Such an order would open a position after the day's square-off and carry it overnight.
    Before the open (or after the close) it waits for the next session, and is accepted.
    """
    cal = config.calendar
    if cal is None or str(product) != Product.MIS:
        return None
    day = cal.session_day(ts)
    if cal.squareoff_ts(day) <= ts < cal.session_close_ts(day):
        return Denial(
            "mis_cutoff",
            f"MIS orders are closed from {cal.squareoff} until the session ends"
            f" ({cal.close}, {cal.tz}); use CNC or wait for the next session.",
        )
    return None
