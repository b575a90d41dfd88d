"""Exchange sessions: trading hours, pre-open and holidays of NSE and BSE (plain Python).

A ``SessionCalendar`` answers when a real exchange trades: ``is_open``, the next open and close,
holidays, the local trading day of an instant, and the MIS square-off time. The synthetic 24-hour
market has no calendar (``calendar_for`` returns ``None`` for it), so demos run at any hour.

Holidays come from the pinned ``exchange-calendars`` package (its ``XBOM`` calendar: NSE and BSE
close on the same trading holidays), for the years it records, plus ``SUPPLEMENT_HOLIDAYS`` for
the years it does not yet cover. docs/calendar.md says where each list comes from and when it was
checked. Muhurat (Diwali evening) sessions are not modelled.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from execution.engine.bars import BarSeries

__all__ = [
    "SUPPLEMENT_HOLIDAYS",
    "SessionCalendar",
    "calendar_for",
    "exchange_holidays",
    "session_only",
]

_EPOCH = date(1970, 1, 1)

# Years the library does not record yet (exchange-calendars 4.13.2 ends XBOM at 2026-12-31).
# 2027: the fixed-date national holidays NSE closes on every year, checked 2026-12-06; NSE's
# circular for 2027 (festival dates) replaces this list when it is published.
SUPPLEMENT_HOLIDAYS: dict[str, frozenset[date]] = {
    "XBOM": frozenset(
        {
            date(2027, 1, 26),  # Republic Day
            date(2027, 4, 14),  # Dr. Baba Saheb Ambedkar Jayanti
            date(2027, 5, 1),  # Maharashtra Day (a Saturday)
            date(2027, 8, 15),  # Independence Day (a Sunday)
            date(2027, 10, 2),  # Mahatma Gandhi Jayanti (a Saturday)
            date(2027, 12, 25),  # Christmas (a Saturday)
        }
    ),
}
_SUPPLEMENT_YEARS: dict[str, range] = {"XBOM": range(2027, 2028)}

# our exchange codes -> the library's calendar of their holidays
_LIBRARY_CODE = {"NSE": "XBOM", "BSE": "XBOM"}


@lru_cache(maxsize=8)
def exchange_holidays(library_code: str) -> frozenset[date]:
    """Return the weekday holidays of a calendar: the library's years plus the supplement.

    Built once per process (the library needs about half a second to build its calendar).
    """
    import exchange_calendars as xcals  # a heavy import, only when a calendar is used
    import pandas as pd

    with warnings.catch_warnings():  # the library's own pandas deprecations, not ours
        warnings.simplefilter("ignore")
        cal = xcals.get_calendar(library_code)
    first, last = cal.first_session.date(), cal.last_session.date()
    weekdays = pd.bdate_range(first, last)
    sessions = set(cal.sessions_in_range(first, last).date)
    found = {d.date() for d in weekdays if d.date() not in sessions}
    extra = {
        d
        for d in SUPPLEMENT_HOLIDAYS.get(library_code, frozenset())
        if d > last and d.weekday() < 5
    }
    return frozenset(found | extra)


@lru_cache(maxsize=8)
def _holiday_days(library_code: str) -> np.ndarray:
    """The holidays as sorted day numbers (days since 1970-01-01), for ``in_session``."""
    days = sorted((h - _EPOCH).days for h in exchange_holidays(library_code))
    return np.array(days, dtype=np.int64)


def _hm(text: str) -> time:
    """``"HH:MM"`` as a time (ValueError otherwise)."""
    hh, mm = (int(x) for x in str(text).split(":"))
    return time(hh, mm)


@lru_cache(maxsize=4096)
def _utc_offset(tz: str, utc_day: int) -> int:
    moment = datetime.fromtimestamp(utc_day * 86400 + 43200, tz=UTC)
    off = moment.astimezone(ZoneInfo(tz)).utcoffset()
    return int(off.total_seconds()) if off is not None else 0


@dataclass(frozen=True, slots=True)
class SessionCalendar:
    """A real exchange's trading day, in its local time zone.

    ``open``/``close`` bound the continuous session (bars opening in ``[open, close)`` on a
    trading day are in session); ``pre_open`` is the order-collection call auction before it;
    ``squareoff`` is when intraday (MIS) positions are closed; DAY orders expire at ``close``.
    ``holidays`` names a holiday list (``exchange_holidays``); ``None`` means weekends only.
    """

    tz: str = "Asia/Kolkata"
    open: str = "09:15"
    close: str = "15:30"
    pre_open: str = "09:00"
    squareoff: str = "15:20"
    holidays: str | None = None

    def __post_init__(self) -> None:
        try:
            times = [_hm(t) for t in (self.pre_open, self.open, self.squareoff, self.close)]
        except ValueError:
            raise ValueError(
                "session times must be HH:MM (pre_open, open, squareoff, close)"
            ) from None
        if not times[0] <= times[1] < times[2] <= times[3]:
            raise ValueError("need pre_open <= open < squareoff <= close")

    # -- days ------------------------------------------------------------------------------

    def session_day(self, ts: int) -> int:
        """Return the local calendar day (days since 1970-01-01) of the instant ``ts``."""
        return int((ts + _utc_offset(self.tz, int(ts) // 86400)) // 86400)

    def day_offset(self, ts: int) -> int:
        """Return the UTC offset (seconds) used to cut days around ``ts``."""
        return _utc_offset(self.tz, int(ts) // 86400)

    def _local_ts(self, day: int, hm: str) -> int:
        local = _EPOCH + timedelta(days=day)
        return int(datetime.combine(local, _hm(hm), tzinfo=ZoneInfo(self.tz)).timestamp())

    def session_close_ts(self, day: int) -> int:
        """Return the epoch second at which local day ``day``'s session closes."""
        return self._local_ts(day, self.close)

    def session_open_ts(self, day: int) -> int:
        """Return the epoch second at which local day ``day``'s continuous session opens."""
        return self._local_ts(day, self.open)

    def squareoff_ts(self, day: int) -> int:
        """Return the epoch second at which local day ``day``'s MIS positions are squared off."""
        return self._local_ts(day, self.squareoff)

    def is_holiday(self, d: date) -> bool:
        """Whether ``d`` is an exchange holiday on a weekday."""
        return self.holidays is not None and d in exchange_holidays(self.holidays)

    def is_trading_day(self, d: date) -> bool:
        """Whether the exchange trades on local date ``d`` (not a weekend, not a holiday)."""
        return d.weekday() < 5 and not self.is_holiday(d)

    # -- instants --------------------------------------------------------------------------

    def is_open(self, ts: int) -> bool:
        """Whether the continuous session is open at ``ts`` (open included, close excluded)."""
        day = self.session_day(ts)
        if not self.is_trading_day(_EPOCH + timedelta(days=day)):
            return False
        return self.session_open_ts(day) <= ts < self.session_close_ts(day)

    def in_pre_open(self, ts: int) -> bool:
        """Whether ``ts`` falls in a trading day's pre-open call auction (before the open)."""
        day = self.session_day(ts)
        if not self.is_trading_day(_EPOCH + timedelta(days=day)):
            return False
        return self._local_ts(day, self.pre_open) <= ts < self.session_open_ts(day)

    def next_open(self, ts: int) -> int:
        """Return the first session open strictly after ``ts``."""
        day = self.session_day(ts)
        for d in range(day, day + 30):
            if self.is_trading_day(_EPOCH + timedelta(days=d)):
                at = self.session_open_ts(d)
                if at > ts:
                    return at
        raise ValueError("no trading day within 30 days")

    def next_close(self, ts: int) -> int:
        """Return the first session close strictly after ``ts``."""
        day = self.session_day(ts)
        for d in range(day, day + 30):
            if self.is_trading_day(_EPOCH + timedelta(days=d)):
                at = self.session_close_ts(d)
                if at > ts:
                    return at
        raise ValueError("no trading day within 30 days")

    def in_session(self, ts: np.ndarray) -> np.ndarray:
        """Vectorised ``is_open`` over bar open times (int64 epoch seconds)."""
        ts = np.asarray(ts, dtype=np.int64)
        if len(ts) == 0:
            return np.zeros(0, dtype=bool)
        utc_days = ts // 86400
        uniq, inv = np.unique(utc_days, return_inverse=True)
        offsets = np.array([_utc_offset(self.tz, int(u)) for u in uniq], dtype=np.int64)[inv]
        local = ts + offsets
        days = local // 86400
        secs = local - days * 86400
        o, c = _hm(self.open), _hm(self.close)
        in_hours = (secs >= o.hour * 3600 + o.minute * 60) & (secs < c.hour * 3600 + c.minute * 60)
        dow = (days + 3) % 7  # 1970-01-01 was a Thursday (weekday 3)
        ok = in_hours & (dow < 5)
        if self.holidays is not None:
            ok &= ~np.isin(days, _holiday_days(self.holidays))
        return ok

    # -- persistence -----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "tz": self.tz,
            "open": self.open,
            "close": self.close,
            "pre_open": self.pre_open,
            "squareoff": self.squareoff,
            "holidays": self.holidays,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> SessionCalendar | None:
        return cls(**d) if d else None


def calendar_for(exchange: str, *, squareoff: str = "15:20") -> SessionCalendar | None:
    """Return the session calendar of an exchange code, or ``None`` (around the clock)."""
    code = _LIBRARY_CODE.get(exchange.upper())
    if code is None:
        return None
    return SessionCalendar(squareoff=squareoff, holidays=code)


def session_only(bars: BarSeries, calendar: SessionCalendar | None) -> BarSeries:
    """Keep the bars that open inside ``calendar``'s sessions (all of them without a calendar).

    Intraday bars only: a daily bar is stamped at midnight, outside any session's hours.
    """
    if calendar is None or len(bars) == 0:
        return bars
    keep = calendar.in_session(bars.ts)
    if keep.all():
        return bars
    return BarSeries(
        bars.ts[keep],
        bars.open[keep],
        bars.high[keep],
        bars.low[keep],
        bars.close[keep],
        bars.volume[keep],
    )
