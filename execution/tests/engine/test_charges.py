"""Charges models against hand-computed contract-note figures."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.engine.charges import (
    INDIA_EQUITY_RATES,
    INDIA_SCHEDULES,
    ChargesBreakdown,
    FlatCommission,
    IndiaEquityCharges,
    ZeroCharges,
    charges_from_dict,
    charges_schedule,
)

INDIA = IndiaEquityCharges()


def parts(c: ChargesBreakdown) -> tuple[float, ...]:
    return (c.brokerage, c.stt, c.exchange_txn, c.sebi, c.stamp_duty, c.gst, c.total)


# value 1,00,000 (100 x 1000):
#   STT 0.1% = 100; exchange 0.00325% = 3.25; SEBI 10/crore = 0.10; stamp 0.015% = 15 (buy)
#   GST 18% of (0 + 3.25 + 0.10) = 0.603 -> 0.60
def test_cnc_buy():
    c = INDIA.compute("BUY", "CNC", 100, 1000.0)
    assert parts(c) == (0.0, 100.0, 3.25, 0.10, 15.0, 0.60, 118.95)


def test_cnc_sell_has_stt_but_no_stamp_duty():
    c = INDIA.compute("SELL", "CNC", 100, 1000.0)
    assert parts(c) == (0.0, 100.0, 3.25, 0.10, 0.0, 0.60, 103.95)


# MIS 1,00,000: brokerage min(0.03% = 30, 20) = 20 (the cap); GST 18% of 23.35 = 4.203 -> 4.20
def test_mis_buy_brokerage_capped_at_20():
    c = INDIA.compute("BUY", "MIS", 100, 1000.0)
    assert parts(c) == (20.0, 0.0, 3.25, 0.10, 3.0, 4.20, 30.55)


def test_mis_sell_stt_sell_side_only():
    c = INDIA.compute("SELL", "MIS", 100, 1000.0)
    assert parts(c) == (20.0, 25.0, 3.25, 0.10, 0.0, 4.20, 52.55)


# MIS 5,000 (10 x 500): brokerage 0.03% = 1.50 (under the cap); exchange 0.1625 -> 0.16;
# SEBI 0.005 -> 0.01 (half up); stamp 0.003% = 0.15; GST 18% of 1.67 = 0.3006 -> 0.30
def test_mis_small_order_under_the_cap_rounds_half_up_to_paise():
    c = INDIA.compute("BUY", "MIS", 10, 500.0)
    assert parts(c) == (1.50, 0.0, 0.16, 0.01, 0.15, 0.30, 2.12)


def test_brokerage_cap_is_per_order_across_partial_fills():
    first = INDIA.compute("BUY", "MIS", 40, 1000.0)
    second = INDIA.compute("BUY", "MIS", 60, 1000.0, prior_value=40_000.0)
    assert first.brokerage == 12.0  # 0.03% of 40,000
    assert second.brokerage == 8.0  # the order's cumulative brokerage reaches the 20 cap
    whole = INDIA.compute("BUY", "MIS", 100, 1000.0)
    assert parts(first + second) == pytest.approx(parts(whole), abs=1e-9)
    # two separate orders pay the cap twice
    assert INDIA.compute("BUY", "MIS", 100, 1000.0).brokerage * 2 == 40.0


@given(
    qty=st.integers(1, 5000),
    split=st.integers(1, 4999),
    price=st.floats(1, 5000).map(lambda x: round(x, 2)),
    side=st.sampled_from(["BUY", "SELL"]),
    product=st.sampled_from(["CNC", "MIS"]),
)
def test_partial_fills_add_up_to_the_whole_order_to_the_paisa(qty, split, price, side, product):
    split = min(split, qty)
    a = INDIA.compute(side, product, split, price)
    b = INDIA.compute(side, product, qty - split, price, prior_value=split * price)
    whole = INDIA.compute(side, product, qty, price)
    assert parts(a + b) == pytest.approx(parts(whole), abs=1e-6)


@given(
    qty=st.integers(1, 100_000),
    price=st.floats(0.05, 100_000),
    side=st.sampled_from(["BUY", "SELL"]),
    product=st.sampled_from(["CNC", "MIS"]),
)
def test_upper_bound_is_never_below_the_charges(qty, price, side, product):
    exact = INDIA.total(side, product, qty, price)
    assert exact == INDIA.compute(side, product, qty, price).total
    assert exact <= INDIA.upper_bound(side, product, qty * price) + 1e-9


def test_components_are_rounded_to_paise():
    c = INDIA.compute("BUY", "CNC", 7, 1234.57)
    for x in parts(c):
        assert round(x, 2) == x


def test_flat_commission_is_a_percentage_of_value_unrounded():
    flat = FlatCommission(0.2)
    c = flat.compute("SELL", "CNC", 59, 169.02)
    assert c.total == pytest.approx(59 * 169.02 * 0.002, rel=1e-12)
    assert c.brokerage == c.total and c.stt == 0.0
    assert flat.rate_bound("BUY", "CNC") == 0.002
    assert flat.total("BUY", "MIS", 10, 100.0) == pytest.approx(2.0)
    with pytest.raises(ValueError):
        FlatCommission(-1)


def test_zero_charges():
    assert ZeroCharges().compute("BUY", "MIS", 100, 1000.0).total == 0.0


def test_rates_live_in_one_table():
    assert INDIA_EQUITY_RATES["MIS"]["brokerage_cap"] == 20.0
    custom = {**INDIA_EQUITY_RATES, "gst": 0.0}
    assert IndiaEquityCharges(custom).compute("BUY", "MIS", 100, 1000.0).gst == 0.0


@pytest.mark.parametrize("model", [ZeroCharges(), FlatCommission(0.1), IndiaEquityCharges()])
def test_models_round_trip_through_json(model):
    again = charges_from_dict(json.loads(json.dumps(model.to_dict())))
    assert type(again) is type(model)
    assert again.compute("BUY", "MIS", 3, 101.5) == model.compute("BUY", "MIS", 3, 101.5)


def test_breakdown_round_trips():
    c = INDIA.compute("SELL", "MIS", 10, 99.5)
    assert ChargesBreakdown.from_dict(json.loads(json.dumps(c.to_dict()))) == c


# --- the Indian derivative segments (futures), by name -------------------------------------
# NSE futures, value 10,00,000 (50 x 20,000): brokerage min(0.03% = 300, 20) = 20 (the cap);
#   STT 0.02% sell = 200; exchange 0.00173% = 17.30; SEBI 10/crore = 1.00; stamp 0.002% buy = 20;
#   GST 18% of (20 + 17.30 + 1.00) = 6.894 -> 6.89
# BSE futures: no exchange transaction charge; GST 18% of 21.00 = 3.78
# NSE currency futures, 1000 x 83.25 = 83,250: brokerage 24.975 -> cap 20; no STT; exchange
#   0.00035% = 0.291 -> 0.29; SEBI 0.083 -> 0.08; stamp 0.0001% = 0.08; GST 18% of 20.37 -> 3.67
# MCX, 100 x 6,500 = 6,50,000: brokerage 20; CTT 0.01% sell = 65; exchange 0.0021% = 13.65;
#   SEBI 0.65; GST 18% of 34.30 = 6.174 -> 6.17
@pytest.mark.parametrize(
    ("schedule", "side", "qty", "price", "expected"),
    [
        ("india_futures_nse", "SELL", 50, 20000.0, (20.0, 200.0, 17.30, 1.0, 0.0, 6.89, 245.19)),
        ("india_futures_nse", "BUY", 50, 20000.0, (20.0, 0.0, 17.30, 1.0, 20.0, 6.89, 65.19)),
        ("india_futures_bse", "SELL", 50, 20000.0, (20.0, 200.0, 0.0, 1.0, 0.0, 3.78, 224.78)),
        ("india_currency", "BUY", 1000, 83.25, (20.0, 0.0, 0.29, 0.08, 0.08, 3.67, 24.12)),
        ("india_commodity", "SELL", 100, 6500.0, (20.0, 65.0, 13.65, 0.65, 0.0, 6.17, 105.47)),
    ],
)
@pytest.mark.parametrize("product", ["CNC", "MIS"])  # carry (NRML) and intraday alike
def test_segment_schedules_against_hand_computed_notes(
    schedule, side, qty, price, expected, product
):
    model = charges_schedule(schedule)
    assert parts(model.compute(side, product, qty, price)) == expected
    again = charges_from_dict(json.loads(json.dumps(model.to_dict())))
    assert parts(again.compute(side, product, qty, price)) == expected


def test_every_named_schedule_builds_and_unknown_names_are_refused():
    assert isinstance(charges_schedule("none"), ZeroCharges)
    assert set(INDIA_SCHEDULES) >= {"india_equity", "india_futures_nse", "india_commodity"}
    for name in INDIA_SCHEDULES:
        assert charges_schedule(name).compute("BUY", "MIS", 10, 100.0).total > 0
    with pytest.raises(ValueError, match="unknown charges schedule 'moon'"):
        charges_schedule("moon")
