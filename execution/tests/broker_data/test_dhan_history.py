"""``import_bars --from dhan``: Dhan's intraday charts paged within 90 days a request, daily
candles from ``/charts/historical``, every bar stored once, and refusals that name the problem."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from brokers.services import broker_adapter_for
from execution.brokers.dhan_data import IST, DhanMarketData, chart_pages, feed_key
from execution.models import Bar, Instrument
from tests.fakes.dhan.market import generated, generated_candle

pytestmark = pytest.mark.django_db
FMT = "%Y-%m-%d %H:%M:%S"


@pytest.fixture
def instruments(dhan_account, fake_dhan):
    fake_dhan.generated_history = True
    call_command("import_instruments", "--from", "dhan", "--account", str(dhan_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip


def _import(account, timeframe, start, end, symbol="INFY") -> str:
    out = StringIO()
    call_command("import_bars", symbol, "--from", "dhan", "--account", str(account.pk),
                 "--exchange", "NSE", "--timeframe", timeframe, "--start", start, "--end", end,
                 stdout=out)  # fmt: skip
    return out.getvalue()


def _weekdays(first: date, last: date) -> int:
    return sum(1 for i in range((last - first).days + 1)
               if (first + timedelta(days=i)).weekday() < 5)  # fmt: skip


def test_minute_import_pages_within_90_days_and_stores_every_candle_once(
    dhan_account, fake_dhan, instruments
):
    out = _import(dhan_account, "1m", "2026-09-01", "2026-12-04")
    reqs = [body for path, body in fake_dhan.chart_requests if path == "/charts/intraday"]
    assert len(reqs) == 2  # 95 days in spans of at most 90
    for body in reqs:
        span = datetime.strptime(body["toDate"], FMT) - datetime.strptime(body["fromDate"], FMT)
        assert span <= timedelta(days=90)
        assert (body["securityId"], body["exchangeSegment"], body["instrument"]) == (
            "1594", "NSE_EQ", "EQUITY"
        )  # fmt: skip
        assert body["interval"] == "1"
    assert reqs[0]["fromDate"] == "2026-09-01 00:00:00"
    assert reqs[1]["fromDate"] == reqs[0]["toDate"]  # the pages meet: nothing left out

    infy = Instrument.objects.get(exchange="NSE", symbol="INFY")
    stored = Bar.objects.filter(instrument=infy, timeframe="1m")
    expected = _weekdays(date(2026, 9, 1), date(2026, 12, 4)) * 375
    assert stored.count() == expected
    assert f"Imported {expected} new 1m bars of NSE:INFY from Dhan" in out

    # the stored bar is Dhan's candle at its UTC open time (09:15 IST = 03:45 UTC)
    first = stored.order_by("ts").first()
    assert first.ts == datetime(2026, 9, 1, 3, 45, tzinfo=UTC)
    _, o, h, lo, c, v = generated_candle("1594", "1", int(first.ts.timestamp()))
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal(str(o)), Decimal(str(h)), Decimal(str(lo)), Decimal(str(c)), v
    )  # fmt: skip

    # a re-run writes nothing new; an overlapping range adds only the days it did not have
    assert "Imported 0 new 1m bars" in _import(dhan_account, "1m", "2026-09-01", "2026-12-04")
    assert stored.count() == expected
    out = _import(dhan_account, "1m", "2026-12-01", "2026-12-08")
    assert "Imported 750 new 1m bars" in out  # Mon 7 and Tue 8 December
    assert stored.count() == expected + 750


def test_pages_are_half_open_so_a_candle_on_a_page_edge_comes_once(dhan_account, fake_dhan):
    """The fake includes ``toDate``: a candle opening exactly there is in two answers."""
    edge = datetime(2026, 11, 30, tzinfo=IST)  # 2026-09-01 + 90 days
    fake_dhan.candles[("NSE_EQ", "1594")] = [
        (int((edge + timedelta(minutes=m)).timestamp()), 10.0, 10.5, 9.5, 10.0, 7)
        for m in (-1, 0, 1)
    ]
    data = DhanMarketData(broker_adapter_for(account=dhan_account), requests_per_second=0)
    start, end = datetime(2026, 9, 1, tzinfo=IST), datetime(2026, 12, 4, 23, 59, 59, tzinfo=IST)
    pages = list(data.candle_pages(token=feed_key("NSE_EQ", 1594), timeframe="1m",
                                   start=start, end=end))  # fmt: skip
    assert len(pages) == 2
    seen = [b.ts for page in pages for b in page]
    assert sorted(seen) == [(edge + timedelta(minutes=m)).astimezone(UTC) for m in (-1, 0, 1)]
    _, to = chart_pages(start.replace(tzinfo=None), end.replace(tzinfo=None), 90)[-1]
    assert to == datetime(2026, 12, 5)  # the last page ends a second after --end's 23:59:59


@pytest.mark.parametrize(("timeframe", "interval", "per_day"), [("5m", "5", 75), ("1h", "60", 7)])
def test_intraday_timeframes_ask_dhans_interval(
    dhan_account, fake_dhan, instruments, timeframe, interval, per_day
):
    _import(dhan_account, timeframe, "2026-11-02", "2026-11-06", symbol="NIFTY")
    (body,) = [b for _, b in fake_dhan.chart_requests]
    assert (body["interval"], body["exchangeSegment"], body["instrument"]) == (
        interval, "IDX_I", "INDEX"
    )  # fmt: skip
    n = Bar.objects.filter(instrument__symbol="NIFTY", timeframe=timeframe).count()
    assert n == 5 * per_day


def test_daily_candles_come_from_historical_at_midnight_utc_of_their_ist_date(
    dhan_account, fake_dhan, instruments
):
    out = _import(dhan_account, "1d", "2026-11-02", "2026-11-08")
    (path, body), = fake_dhan.chart_requests  # fmt: skip
    assert path == "/charts/historical"
    assert (body["fromDate"], body["toDate"]) == ("2026-11-02", "2026-11-09")  # toDate excluded
    assert "interval" not in body and "expiryCode" not in body  # an equity has no expiry
    days = list(Bar.objects.filter(instrument__symbol="INFY", timeframe="1d")
                .order_by("ts").values_list("ts", "close"))  # fmt: skip
    assert [ts for ts, _ in days] == [datetime(2026, 11, d, tzinfo=UTC) for d in range(2, 7)]
    want = generated(
        "1594", "D", datetime(2026, 11, 2, tzinfo=IST), datetime(2026, 11, 8, tzinfo=IST)
    )
    assert [c for _, c in days] == [Decimal(str(row[4])) for row in want]
    assert "Imported 5 new 1d bars" in out
    assert "Imported 0 new 1d bars" in _import(dhan_account, "1d", "2026-11-02", "2026-11-08")


def test_requests_carry_the_fields_the_sdk_sends(dhan_account, fake_dhan, instruments):
    """``dhanhq``'s ``intraday_minute_data`` / ``historical_daily_data`` bodies (its
    ``_historical_data.py``): the fake serves exactly those, and we send at least them."""
    _import(dhan_account, "1m", "2026-11-02", "2026-11-02")
    _import(dhan_account, "1d", "2026-11-02", "2026-11-02")
    sdk = {
        "/charts/intraday": {"securityId", "exchangeSegment", "instrument", "interval",
                             "fromDate", "toDate"},
        "/charts/historical": {"securityId", "exchangeSegment", "instrument", "fromDate",
                               "toDate"},
    }  # fmt: skip
    assert {p for p, _ in fake_dhan.chart_requests} == set(sdk)
    for path, body in fake_dhan.chart_requests:
        assert sdk[path] <= set(body), (path, body)
    assert ("POST", "/v2/charts/historical") in fake_dhan.requests


def test_refusals_name_the_problem(dhan_account, fake_dhan, instruments, kite_account):
    with pytest.raises(CommandError, match="Dhan has no 5s candles"):
        _import(dhan_account, "5s", "2026-11-02", "2026-11-06")
    with pytest.raises(CommandError, match="NSE:NOPE has no Dhan securityId"):
        _import(dhan_account, "1d", "2026-11-02", "2026-11-06", symbol="NOPE")
    with pytest.raises(CommandError, match="--end is before --start"):
        _import(dhan_account, "1d", "2026-11-06", "2026-11-02")
    with pytest.raises(CommandError, match="is not a Dhan account"):
        _import(kite_account, "1d", "2026-11-02", "2026-11-06")
    with pytest.raises(CommandError, match="--from dhan needs --account, --start and --end"):
        call_command("import_bars", "INFY", "--from", "dhan", "--exchange", "NSE",
                     "--timeframe", "1d", stdout=StringIO())  # fmt: skip
    # an id Dhan does not know: its DH-905 and message, nothing stored
    Instrument.objects.create(exchange="NSE", symbol="GHOST", tick_size=Decimal("0.05"),
                              lot_size=1, dhan_security_id=424242,
                              dhan_segment="NSE_EQ")  # fmt: skip
    with pytest.raises(CommandError, match=r"Dhan: .*DH-905.*Invalid securityId: 424242"):
        _import(dhan_account, "1m", "2026-11-02", "2026-11-06", symbol="GHOST")
    assert not Bar.objects.filter(instrument__symbol="GHOST").exists()
    fake_dhan.expire_tokens()  # the token expired: a clear error, and the account says so
    with pytest.raises(CommandError, match=r"Dhan: .*DH-901"):
        _import(dhan_account, "1d", "2026-11-02", "2026-11-06")
    dhan_account.refresh_from_db()
    assert dhan_account.status == "relogin_needed"
