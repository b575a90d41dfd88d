"""``import_bars --from kite``: paged within Kite's per-request spans, each bar stored once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import CommandError, call_command

from execution.brokers.kite_data import KITE_INTERVALS, history_pages
from execution.models import Bar, Instrument
from tests.fakes.kite.market import DAY_LIMITS, IST, candles

pytestmark = pytest.mark.django_db


@pytest.fixture
def instruments(kite_account):
    call_command("import_instruments", "--from", "kite", "--account", str(kite_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip


def _import(account, timeframe, start, end, symbol="INFY") -> str:
    out = StringIO()
    call_command("import_bars", symbol, "--from", "kite", "--account", str(account.pk),
                 "--exchange", "NSE", "--timeframe", timeframe, "--start", start, "--end", end,
                 stdout=out)  # fmt: skip
    return out.getvalue()


def _span_days(req) -> float:
    fmt = "%Y-%m-%d %H:%M:%S"
    frm, to = datetime.strptime(req["from"], fmt), datetime.strptime(req["to"], fmt)
    return (to - frm).total_seconds() / 86400


@pytest.mark.parametrize("timeframe", list(KITE_INTERVALS))
def test_pages_cover_the_range_once_within_the_limit(timeframe):
    _, limit = KITE_INTERVALS[timeframe]
    start, end = datetime(2020, 1, 1), datetime(2026, 12, 4, 23, 59, 59)
    pages = history_pages(start, end, limit)
    assert pages[0][0] == start and pages[-1][1] == end
    for (_, to), (nxt, _) in pairwise(pages):
        assert nxt - to == timedelta(seconds=1)  # no gap, no overlap
    assert all((to - frm) < timedelta(days=limit) for frm, to in pages)
    span = end - start + timedelta(seconds=1)
    assert len(pages) == -(-span // timedelta(days=limit))  # as few requests as the limit allows


def test_hourly_import_pages_within_400_days_and_stores_every_candle_once(
    kite_account, fake_kite, instruments
):
    out = _import(kite_account, "1h", "2024-01-01", "2026-06-30")
    reqs = fake_kite.history_requests
    assert len(reqs) == 3  # 912 days in spans of at most 400
    assert all(r["interval"] == "60minute" and r["token"] == "408065" for r in reqs)
    assert all(_span_days(r) <= DAY_LIMITS["60minute"] for r in reqs)
    infy = Instrument.objects.get(exchange="NSE", symbol="INFY")
    stored = Bar.objects.filter(instrument=infy, timeframe="1h")
    expected = candles(408065, "60minute", "2024-01-01 00:00:00", "2026-06-30 23:59:59",
                       check_limit=False)  # fmt: skip
    assert stored.count() == len(expected) == len({c[0] for c in expected})
    assert f"Imported {len(expected)} new 1h bars" in out

    # the stored bar is Kite's candle at its UTC open time (09:15 IST = 03:45 UTC)
    ts, o, h, lo, c, v = expected[0]
    first = stored.order_by("ts").first()
    assert first.ts == datetime(2024, 1, 1, 3, 45, tzinfo=UTC)
    assert ts == "2024-01-01T09:15:00+0530"
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal(str(o)), Decimal(str(h)), Decimal(str(lo)), Decimal(str(c)), v,
    )  # fmt: skip

    # a re-run, and an overlapping range, add nothing twice
    assert "Imported 0 new" in _import(kite_account, "1h", "2024-01-01", "2026-06-30")
    _import(kite_account, "1h", "2026-06-01", "2026-07-31")
    july = candles(408065, "60minute", "2026-07-01 00:00:00", "2026-07-31 23:59:59")
    assert stored.count() == len(expected) + len(july)


def test_minute_import_respects_60_days(kite_account, fake_kite, instruments):
    _import(kite_account, "1m", "2026-09-01", "2026-11-10", symbol="NIFTY 50")
    reqs = fake_kite.history_requests
    assert len(reqs) == 2 and all(_span_days(r) <= 60 for r in reqs)
    assert reqs[0]["token"] == "256265" and reqs[0]["interval"] == "minute"
    n = Bar.objects.filter(instrument__symbol="NIFTY 50", timeframe="1m").count()
    weekdays = sum(1 for i in range(71) if (date(2026, 9, 1) + timedelta(days=i)).weekday() < 5)
    assert n == weekdays * 375  # every session minute, once


def test_daily_candles_are_stored_at_midnight_utc_of_their_ist_date(kite_account, instruments):
    _import(kite_account, "1d", "2026-11-02", "2026-11-06")
    days = list(
        Bar.objects.filter(instrument__symbol="INFY", timeframe="1d").values_list("ts", flat=True)
    )
    assert days == [datetime(2026, 11, d, tzinfo=UTC) for d in range(2, 7)]
    assert IST.utcoffset(None) == timedelta(hours=5, minutes=30)


def test_refusals_name_the_problem(kite_account, fake_kite, instruments):
    with pytest.raises(CommandError, match="Kite has no 5s candles"):
        _import(kite_account, "5s", "2026-11-02", "2026-11-06")
    with pytest.raises(CommandError, match="no Kite instrument token"):
        _import(kite_account, "1d", "2026-11-02", "2026-11-06", symbol="NOPE")
    with pytest.raises(CommandError, match="--end is before --start"):
        _import(kite_account, "1d", "2026-11-06", "2026-11-02")
    fake_kite.expire_tokens()  # Kite's daily logout: a clear error, and the account says so
    with pytest.raises(CommandError, match="Kite:"):
        _import(kite_account, "1d", "2026-11-02", "2026-11-06")
    kite_account.refresh_from_db()
    assert kite_account.status == "relogin_needed"


def test_the_sdks_market_requests_hit_exactly_the_paths_the_fake_serves(
    kite_account, fake_kite, instruments
):
    import re

    from kiteconnect import KiteConnect

    _import(kite_account, "1d", "2026-11-02", "2026-11-06")
    routes = {
        name: re.compile("^" + re.sub(r"\{\w+\}", r"[^/]+", KiteConnect._routes[name]) + "$")
        for name in ("market.instruments.all", "market.instruments", "market.historical")
    }
    served = [path for _, path in fake_kite.requests if path.startswith("/instruments")]
    assert "/instruments/NSE" in served and "/instruments/historical/408065/day" in served
    assert all(any(p.match(path) for p in routes.values()) for path in served), served
