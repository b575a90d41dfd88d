"""``manage.py import_bars``: CSV bars into the database, idempotently, with clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from execution.models import Bar, Instrument

CSV = """Date,Open,High,Low,Close,Volume
2024-01-02,100.10,101.50,99.80,101.20,12000
2024-01-03,101.20,102.00,100.90,101.95,9000
2024-01-04,101.95,103.25,101.50,103.00,15500
"""


def import_bars(*args: str) -> str:
    out = StringIO()
    call_command("import_bars", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "acme.csv"
    path.write_text(CSV)
    return path


def test_imports_a_csv_and_creates_the_instrument(db, csv_file):
    out = import_bars(
        "acme", str(csv_file), "--exchange", "nyse", "--timeframe", "1d",
        "--tick-size", "0.01", "--lot-size", "5", "--currency", "USD",
    )  # fmt: skip

    instrument = Instrument.objects.get(exchange="NYSE", symbol="ACME")
    assert instrument.tick_size == Decimal("0.01")
    assert instrument.lot_size == 5
    assert instrument.currency == "USD"
    assert "Created NYSE:ACME" in out and "imported 3 new 1d bars" in out

    bars = list(Bar.objects.filter(instrument=instrument, timeframe="1d").order_by("ts"))
    assert len(bars) == 3
    first = bars[0]
    assert first.ts == datetime(2024, 1, 2, tzinfo=UTC)
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        Decimal("100.10"),
        Decimal("101.50"),
        Decimal("99.80"),
        Decimal("101.20"),
        12000,
    )
    assert bars[-1].close == Decimal("103.00")


def test_reimporting_adds_nothing(db, csv_file, tmp_path):
    args = ("ACME", str(csv_file), "--exchange", "NYSE", "--timeframe", "1d")
    import_bars(*args)
    instrument = Instrument.objects.get(exchange="NYSE", symbol="ACME")
    before = list(Bar.objects.filter(instrument=instrument).values_list("pk", "close"))

    out = import_bars(*args, "--tick-size", "0.05")
    assert "Found NYSE:ACME" in out and "imported 0 new" in out
    assert list(Bar.objects.filter(instrument=instrument).values_list("pk", "close")) == before
    instrument.refresh_from_db()
    assert instrument.tick_size == Decimal("0.05")  # the default: an existing one is not changed

    # a file overlapping the stored bars adds only the new ones
    more = tmp_path / "more.csv"
    more.write_text(CSV + "2024-01-05,103.00,104.00,102.10,103.70,8000\n")
    assert "imported 1 new" in import_bars("ACME", str(more), "--exchange", "NYSE",
                                           "--timeframe", "1d")  # fmt: skip
    assert Bar.objects.filter(instrument=instrument).count() == 4

    # the same file at another timeframe is another series
    assert "imported 3 new 1h bars" in import_bars(
        "ACME", str(csv_file), "--exchange", "NYSE", "--timeframe", "1h"
    )
    assert Bar.objects.filter(instrument=instrument).count() == 7


def test_malformed_row_fails_naming_the_line(db, tmp_path):
    path = tmp_path / "bad.csv"
    lines = CSV.splitlines()
    lines[2] = "2024-01-03,101.20,abc,100.90,101.95,9000"  # the file's third line
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(CommandError) as info:
        import_bars("BAD", str(path), "--exchange", "NYSE", "--timeframe", "1d")
    message = str(info.value)
    assert "line 3" in message
    assert "High" in message
    assert not Bar.objects.filter(instrument__symbol="BAD").exists()  # all or nothing
    assert not Instrument.objects.filter(symbol="BAD").exists()  # nor a stray instrument


def test_unknown_timeframe_is_refused(db, csv_file):
    with pytest.raises(CommandError, match="timeframe"):
        import_bars("ACME", str(csv_file), "--exchange", "NYSE", "--timeframe", "2h")
    assert not Instrument.objects.filter(symbol="ACME").exists()


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (("--tick-size", "-0.01"), "positive"),
        (("--tick-size", "abc"), "number"),
        (("--lot-size", "0"), "lot-size"),
    ],
)
def test_bad_instrument_options_are_refused(db, csv_file, extra, match):
    with pytest.raises(CommandError, match=match):
        import_bars("ACME", str(csv_file), "--exchange", "NYSE", "--timeframe", "1d", *extra)
    assert not Instrument.objects.filter(symbol="ACME").exists()


def test_unknown_exchange_is_refused(db, csv_file):
    with pytest.raises(CommandError, match="--exchange must be one of"):
        import_bars("ACME", str(csv_file), "--exchange", "MOON", "--timeframe", "1d")
    assert not Instrument.objects.filter(symbol="ACME").exists()


def test_missing_file_is_refused(db, tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        import_bars("ACME", str(tmp_path / "nope.csv"), "--exchange", "NYSE", "--timeframe", "1d")
    assert not Instrument.objects.filter(symbol="ACME").exists()


def test_goog_bars_are_in_a_fresh_database(db):
    goog = Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")
    assert goog.tick_size == Decimal("0.01")
    bars = Bar.objects.filter(instrument=goog, timeframe="1d")
    assert bars.count() == 2148
    assert bars.order_by("ts").first().ts == datetime(2004, 8, 19, tzinfo=UTC)
    assert bars.order_by("ts").last().ts == datetime(2013, 3, 1, tzinfo=UTC)
