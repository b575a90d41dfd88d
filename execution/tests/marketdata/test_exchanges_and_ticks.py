"""The exchange table, and ticks/lots checked by the model, the import service and the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from execution.engine.charges import INDIA_SCHEDULES, ZeroCharges, charges_schedule
from execution.marketdata.csvbars import ParsedBar
from execution.marketdata.exchanges import EXCHANGES, UnknownExchange, exchange_profile
from execution.marketdata.ticks import OffTickPrices, bars_on_tick, tick_problem
from execution.models import NO_CNC_SHORT_EXCHANGES, Bar, ChargesChoice, Exchange, Instrument
from execution.services.engine_setup import engine_config
from execution.services.marketdata import bars_import, instrument_get_or_create

# --- one exchange table ----------------------------------------------------------------------


def test_the_exchange_choices_are_the_exchange_table():
    assert list(Exchange.values) == list(EXCHANGES)
    assert {"NSE", "BSE", "NFO", "BFO", "CDS", "MCX", "FX", "CRYPTO"} <= set(Exchange.values)
    assert Exchange("NFO").label == "NSE F&O"


@pytest.mark.parametrize(
    ("code", "currency", "charges"),
    [
        ("NSE", "INR", "india_equity"),
        ("BSE", "INR", "india_equity"),
        ("NFO", "INR", "india_futures_nse"),
        ("BFO", "INR", "india_futures_bse"),
        ("CDS", "INR", "india_currency"),
        ("MCX", "INR", "india_commodity"),
        ("NASDAQ", "USD", None),
        ("NYSE", "USD", None),
        ("FX", "USD", None),
        ("CRYPTO", "USDT", None),
    ],
)
def test_each_exchange_has_its_currency_and_charges(code, currency, charges):
    profile = exchange_profile(code.lower())
    assert (profile.currency, profile.charges) == (currency, charges)
    assert profile.flat_commission_only is (charges is None)


def test_every_schedule_named_by_an_exchange_exists_and_can_be_chosen():
    for profile in EXCHANGES.values():
        assert tick_problem(profile.default_tick) is None, profile
        if profile.charges is not None:
            assert profile.charges in INDIA_SCHEDULES and profile.charges in ChargesChoice.values
            assert charges_schedule(profile.charges).compute("BUY", "MIS", 1, 100.0).total > 0
    assert set(INDIA_SCHEDULES) | {"none"} == set(ChargesChoice.values)


def test_only_the_indian_cash_markets_forbid_delivery_short_sales():
    assert frozenset({"NSE", "BSE"}) == NO_CNC_SHORT_EXCHANGES
    snapshot = {
        "instrument": {"symbol": "NIFTY24DECFUT", "exchange": "NFO", "tick_size": "0.05",
                       "lot_size": 25},
        "quantity": 25,
    }  # fmt: skip
    config = engine_config(
        snapshot=snapshot, capital=Decimal("500000"), charges=ZeroCharges(), prefix="t"
    )
    assert config.instrument.allow_short_cnc


def test_an_unknown_exchange_is_named():
    with pytest.raises(UnknownExchange, match=r"'MOON'.*NSE, BSE, NFO"):
        exchange_profile("MOON")


# --- ticks and lots: the model's full_clean ------------------------------------------------


def instrument(**fields) -> Instrument:
    return Instrument(**{"exchange": "FX", "symbol": "EURUSD", "currency": "USD", **fields})


@pytest.mark.parametrize("tick", ["0.00001", "0.0025", "0.00000001", "0.05", "1"])
def test_full_clean_accepts_real_ticks_and_the_database_keeps_them(db, tick):
    inst = instrument(tick_size=Decimal(tick))
    inst.full_clean()
    inst.save()
    inst.refresh_from_db()
    assert inst.tick_size == Decimal(tick)


@pytest.mark.parametrize(
    ("tick", "message"),
    [
        ("0", "Tick size 0 must be positive."),
        ("0.0000", "Tick size 0.0000 must be positive."),
        ("-0.05", "Tick size -0.05 must be positive."),
        ("0.000000001", "Tick size 0.000000001 is finer than 0.00000001"),
    ],
)
def test_full_clean_refuses_a_tick_naming_it(db, tick, message):
    with pytest.raises(ValidationError) as info:
        instrument(tick_size=Decimal(tick)).full_clean(validate_unique=False)
    assert any(m.startswith(message) for m in info.value.message_dict["tick_size"])


def test_full_clean_refuses_a_lot_below_one(db):
    with pytest.raises(ValidationError) as info:
        instrument(tick_size=Decimal("0.00001"), lot_size=0).full_clean(validate_unique=False)
    assert "Lot size 0 must be a whole number of at least 1." in info.value.message_dict["lot_size"]


def test_the_database_refuses_a_zero_tick_or_lot(db):
    for fields in ({"tick_size": Decimal("0")}, {"lot_size": 0}):
        with pytest.raises(IntegrityError), transaction.atomic():
            instrument(**fields).save()


# --- ticks and lots: the import service ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"tick_size": Decimal("0.000000001")}, "tick_size", "0.000000001 is finer"),
        ({"tick_size": Decimal("0")}, "tick_size", "Tick size 0 must be positive"),
        ({"lot_size": 0}, "lot_size", "Lot size 0"),
        ({"exchange": "MOON"}, "exchange", "Unknown exchange 'MOON'"),
    ],
)
def test_the_service_refuses_what_the_database_cannot_hold(db, kwargs, field, message):
    with pytest.raises(ValidationError) as info:
        instrument_get_or_create(**{"exchange": "FX", "symbol": "EURUSD", **kwargs})
    assert any(message in m for m in info.value.message_dict[field])
    assert not Instrument.objects.filter(symbol="EURUSD").exists()


def _bars(*closes: str) -> list[ParsedBar]:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    return [
        ParsedBar(t0 + timedelta(days=i), Decimal(c), Decimal(c), Decimal(c), Decimal(c), 1)
        for i, c in enumerate(closes)
    ]


def test_the_service_refuses_bars_off_the_tick_and_rounds_them_on_request(db):
    inst, created = instrument_get_or_create(exchange="CDS", symbol="EURINR")
    assert created and inst.tick_size == Decimal("0.0025")
    with pytest.raises(OffTickPrices) as info:
        bars_import(instrument=inst, timeframe="1d", bars=_bars("90.1000", "90.1010"))
    assert info.value.count == 4 and "Open 90.1010" in str(info.value)
    assert not Bar.objects.filter(instrument=inst).exists()

    added = bars_import(
        instrument=inst, timeframe="1d", bars=_bars("90.1000", "90.1010"), round_to_tick=True
    )
    assert added == 2
    assert list(Bar.objects.filter(instrument=inst).values_list("close", flat=True)) == [
        Decimal("90.1000"),
        Decimal("90.1000"),
    ]


def test_rounding_is_to_the_nearest_tick_and_keeps_the_bar_ordered():
    bar = ParsedBar(
        datetime(2024, 1, 1, tzinfo=UTC),
        open=Decimal("83.25126"),
        high=Decimal("83.25130"),
        low=Decimal("83.24874"),
        close=Decimal("83.25124"),
        volume=1,
    )
    (out,), rounded = bars_on_tick([bar], tick=Decimal("0.0025"), round_to_tick=True)
    assert rounded == 4
    assert (out.open, out.high, out.low, out.close) == (
        Decimal("83.2525"),
        Decimal("83.2525"),
        Decimal("83.2475"),  # 83.24874 is 33299.496 ticks
        Decimal("83.2500"),
    )
    assert out.low <= min(out.open, out.close) <= max(out.open, out.close) <= out.high
