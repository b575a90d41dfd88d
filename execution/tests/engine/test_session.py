"""The NSE/BSE session calendar: hours, weekends, holidays, IST against UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from execution.engine.bars import BarSeries
from execution.engine.session import SessionCalendar, calendar_for, session_only

IST = ZoneInfo("Asia/Kolkata")


def ist(y, mo, d, h, mi) -> int:
    return int(datetime(y, mo, d, h, mi, tzinfo=IST).timestamp())


@pytest.fixture(scope="module")
def nse() -> SessionCalendar:
    cal = calendar_for("NSE")
    assert cal is not None
    return cal


def test_only_indian_cash_markets_have_a_calendar():
    assert calendar_for("BSE") == calendar_for("NSE")
    assert calendar_for("SYNTH") is None  # the synthetic market trades around the clock
    assert calendar_for("NASDAQ") is None


def test_open_and_close_boundaries_in_ist(nse):
    # Monday 2026-12-07
    assert not nse.is_open(ist(2026, 12, 7, 9, 14))
    assert nse.is_open(ist(2026, 12, 7, 9, 15))
    assert nse.is_open(ist(2026, 12, 7, 15, 29))
    assert not nse.is_open(ist(2026, 12, 7, 15, 30))
    assert nse.in_pre_open(ist(2026, 12, 7, 9, 0))
    assert not nse.in_pre_open(ist(2026, 12, 7, 9, 15))


def test_ist_is_not_utc(nse):
    # 09:15 IST is 03:45 UTC: a UTC 09:15 is 14:45 IST (open), a UTC 10:00 is 15:30 IST (closed)
    assert nse.is_open(int(datetime(2026, 12, 7, 3, 45, tzinfo=UTC).timestamp()))
    assert not nse.is_open(int(datetime(2026, 12, 7, 3, 44, tzinfo=UTC).timestamp()))
    assert not nse.is_open(int(datetime(2026, 12, 7, 10, 0, tzinfo=UTC).timestamp()))
    # 23:00 UTC on Sunday is 04:30 IST on Monday: the session day is Monday's
    sunday_late = int(datetime(2026, 12, 6, 23, 0, tzinfo=UTC).timestamp())
    assert nse.session_day(sunday_late) == (date(2026, 12, 7) - date(1970, 1, 1)).days


def test_weekends_are_closed(nse):
    assert not nse.is_trading_day(date(2026, 12, 5))  # Saturday
    assert not nse.is_open(ist(2026, 12, 6, 11, 0))  # Sunday
    assert nse.next_open(ist(2026, 12, 4, 15, 30)) == ist(2026, 12, 7, 9, 15)  # Fri -> Mon


def test_a_known_2026_holiday_is_closed(nse):
    # Republic Day, Monday 2026-01-26; Christmas, Friday 2026-12-25
    assert nse.is_holiday(date(2026, 1, 26))
    assert not nse.is_open(ist(2026, 1, 26, 11, 0))
    assert nse.is_holiday(date(2026, 12, 25))
    assert nse.next_open(ist(2026, 12, 24, 16, 0)) == ist(2026, 12, 28, 9, 15)
    assert nse.next_close(ist(2026, 12, 24, 16, 0)) == ist(2026, 12, 28, 15, 30)
    assert nse.is_trading_day(date(2026, 1, 27))


def test_years_past_the_library_come_from_the_supplement(nse):
    assert nse.is_holiday(date(2027, 1, 26))  # Republic Day 2027, a Tuesday
    assert nse.is_trading_day(date(2027, 1, 27))


def test_square_off_time_is_configurable(nse):
    assert nse.squareoff_ts(nse.session_day(ist(2026, 12, 7, 12, 0))) == ist(2026, 12, 7, 15, 20)
    late = calendar_for("NSE", squareoff="15:25")
    assert late.squareoff_ts(late.session_day(ist(2026, 12, 7, 12, 0))) == ist(2026, 12, 7, 15, 25)


def test_session_only_drops_bars_outside_hours_weekends_and_holidays(nse):
    ts = np.array(
        [
            ist(2026, 12, 24, 9, 10),  # before the open
            ist(2026, 12, 24, 9, 15),  # in
            ist(2026, 12, 24, 15, 29),  # in
            ist(2026, 12, 24, 15, 30),  # the close
            ist(2026, 12, 25, 10, 0),  # Christmas
            ist(2026, 12, 26, 10, 0),  # Saturday
            ist(2026, 12, 28, 10, 0),  # in
        ],
        dtype=np.int64,
    )
    one = np.ones(len(ts))
    kept = session_only(BarSeries(ts, one, one, one, one, one), nse)
    assert kept.ts.tolist() == [ts[1], ts[2], ts[6]]
    assert np.array_equal(nse.in_session(ts), [nse.is_open(int(t)) for t in ts])


def test_calendar_round_trips_through_json(nse):
    assert SessionCalendar.from_dict(nse.to_dict()) == nse


@pytest.mark.parametrize("squareoff", ["3pm", "15:45", "09:00"])
def test_a_square_off_time_outside_the_session_is_refused(squareoff):
    with pytest.raises(ValueError, match=r"squareoff|HH:MM"):
        calendar_for("NSE", squareoff=squareoff)
