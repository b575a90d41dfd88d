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

    out = import_bars(*args, "--tick-size", "0.01")
    assert "Found NYSE:ACME" in out and "imported 0 new" in out
    assert list(Bar.objects.filter(instrument=instrument).values_list("pk", "close")) == before
    instrument.refresh_from_db()
    assert instrument.tick_size == Decimal("0.01")  # NYSE's default tick

    # another tick for an existing instrument is refused, not silently ignored
    with pytest.raises(CommandError, match=r"already has tick size 0\.01000000, not 0\.05"):
        import_bars(*args, "--tick-size", "0.05")
    instrument.refresh_from_db()
    assert instrument.tick_size == Decimal("0.01")

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


# --- ticks and prices finer than 4 places (FX, currency derivatives, crypto) -------------------

FX_CSV = """Date,Open,High,Low,Close,Volume
2024-01-02,1.10412,1.10498,1.10321,1.10457,0
2024-01-03,1.10457,1.23456,1.10400,1.23456,0
"""


def test_a_five_decimal_tick_and_prices_are_stored_exactly(db, tmp_path):
    """The defect: tick 0.00001 was stored as 0.0000 and 1.23456 as 1.2346, without a word."""
    path = tmp_path / "eurusd.csv"
    path.write_text(FX_CSV)
    out = import_bars("EURUSD", str(path), "--exchange", "FX", "--timeframe", "1d",
                      "--tick-size", "0.00001")  # fmt: skip

    instrument = Instrument.objects.get(exchange="FX", symbol="EURUSD")
    assert instrument.tick_size == Decimal("0.00001") and instrument.tick_size > 0
    assert instrument.currency == "USD"  # the exchange's currency when none is given
    assert "tick 0.00001" in out and "imported 2 new 1d bars" in out
    bars = list(Bar.objects.filter(instrument=instrument).order_by("ts"))
    assert [b.open for b in bars] == [Decimal("1.10412"), Decimal("1.10457")]
    assert (bars[1].high, bars[1].close) == (Decimal("1.23456"), Decimal("1.23456"))


def test_a_crypto_tick_of_1e_8_is_kept(db, tmp_path):
    path = tmp_path / "btc.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02,43210.12345678,43300.00000001,43100.5,43250.87654321,12\n"
    )
    import_bars("BTCUSDT", str(path), "--exchange", "crypto", "--timeframe", "1d")

    instrument = Instrument.objects.get(exchange="CRYPTO", symbol="BTCUSDT")
    assert instrument.tick_size == Decimal("0.00000001")  # CRYPTO's default tick
    assert instrument.currency == "USDT"
    bar = Bar.objects.get(instrument=instrument)
    assert (bar.open, bar.high, bar.close) == (
        Decimal("43210.12345678"),
        Decimal("43300.00000001"),
        Decimal("43250.87654321"),
    )


@pytest.mark.parametrize(
    ("tick", "match"),
    [
        ("0.000000001", r"Tick size 0\.000000001 is finer than 0\.00000001"),
        ("0.0000000125", r"Tick size 0\.0000000125 is finer"),
        ("0", "positive"),
        ("0.0000", "positive"),
        ("NaN", "number"),
        ("100000000", r"Tick size 100000000 is too large"),
    ],
)
def test_a_tick_the_database_cannot_hold_is_refused_naming_it(db, csv_file, tick, match):
    with pytest.raises(CommandError, match=match):
        import_bars("ACME", str(csv_file), "--exchange", "NYSE", "--timeframe", "1d",
                    "--tick-size", tick)  # fmt: skip
    assert not Instrument.objects.filter(symbol="ACME").exists()


def test_prices_off_the_tick_are_refused_naming_them(db, tmp_path):
    path = tmp_path / "eurusd.csv"
    path.write_text(FX_CSV.replace("1.10498", "1.104985"))
    with pytest.raises(CommandError) as info:
        import_bars("EURUSD", str(path), "--exchange", "FX", "--timeframe", "1d",
                    "--tick-size", "0.0001")  # fmt: skip
    message = str(info.value)
    assert "not multiples of the tick size 0.0001" in message
    # every off-tick price counted; the first ones named with their bar and column
    assert message.startswith(f"{path}: 7 price(s)")
    assert "2024-01-02T00:00:00+00:00 Open 1.10412" in message
    assert "High 1.104985" in message and "--round-to-tick" in message
    assert not Instrument.objects.filter(symbol="EURUSD").exists()
    assert not Bar.objects.filter(instrument__symbol="EURUSD").exists()


def test_round_to_tick_rounds_and_reports_how_many(db, tmp_path):
    path = tmp_path / "usdinr.csv"
    path.write_text(
        "Date,Open,High,Low,Close,Volume\n"
        "2024-01-02,83.2500,83.3130,83.2400,83.3000,1000\n"  # 83.3130 -> 83.3125
        "2024-01-03,83.3000,83.3000,83.2011,83.2512,1000\n"  # 83.2011 -> 83.2, 83.2512 -> 83.25
    )
    out = import_bars("USDINR", str(path), "--exchange", "CDS", "--timeframe", "1d",
                      "--lot-size", "1000", "--round-to-tick")  # fmt: skip

    instrument = Instrument.objects.get(exchange="CDS", symbol="USDINR")
    assert (instrument.tick_size, instrument.lot_size) == (Decimal("0.0025"), 1000)
    assert "Rounded 3 price(s) to the tick 0.0025" in out and "imported 2 new" in out
    first, second = Bar.objects.filter(instrument=instrument).order_by("ts")
    assert first.high == Decimal("83.3125")
    assert (second.low, second.close) == (Decimal("83.2000"), Decimal("83.2500"))
    assert all(
        getattr(b, f) % instrument.tick_size == 0
        for b in (first, second)
        for f in ("open", "high", "low", "close")
    )


def test_round_to_tick_refuses_a_price_that_would_become_zero(db, tmp_path):
    path = tmp_path / "penny.csv"
    path.write_text("Date,Open,High,Low,Close,Volume\n2024-01-02,0.02,0.03,0.02,0.02,5\n")
    with pytest.raises(CommandError, match=r"Open 0\.02 rounds to zero on the tick size 0\.05"):
        import_bars("PENNY", str(path), "--exchange", "NSE", "--timeframe", "1d",
                    "--round-to-tick")  # fmt: skip
    assert not Instrument.objects.filter(symbol="PENNY").exists()


@pytest.mark.parametrize(
    ("exchange", "currency", "tick"),
    [
        ("NFO", "INR", "0.05"),
        ("BFO", "INR", "0.05"),
        ("CDS", "INR", "0.0025"),
        ("MCX", "INR", "0.05"),
        ("FX", "USD", "0.00001"),
        ("CRYPTO", "USDT", "0.00000001"),
        ("NYSE", "USD", "0.01"),
    ],
)
def test_new_exchanges_are_accepted_with_their_currency_and_tick(
    db, csv_file, exchange, currency, tick
):
    out = import_bars("ACME", str(csv_file), "--exchange", exchange.lower(), "--timeframe", "1d")
    instrument = Instrument.objects.get(exchange=exchange, symbol="ACME")
    assert (instrument.currency, instrument.tick_size) == (currency, Decimal(tick))
    assert f"Created {exchange}:ACME" in out and "imported 3 new" in out
