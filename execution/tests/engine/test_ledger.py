"""Ledger invariants (ARCHITECTURE §8), property-based on random fill streams."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from execution.engine.ledger import Ledger

prices = st.integers(100, 100_000).map(lambda c: c / 100)  # 1.00 .. 1000.00
fills = st.lists(
    st.tuples(
        st.integers(-500, 500).filter(bool),  # signed quantity
        prices,
        st.floats(0, 50).map(lambda x: round(x, 2)),  # charges
        prices,  # a mark after the fill
    ),
    max_size=60,
)


@given(fills=fills)
def test_invariants_hold_after_every_fill(fills):
    led = Ledger(100_000.0)
    signed_sum = 0
    flows = 0.0
    fees = 0.0
    since_flat: list[float] = []
    for qty, price, charges, mark in fills:
        before = led.qty("X")
        led.apply_fill("X", qty, price, charges)
        signed_sum += qty
        flows += qty * price
        fees += charges
        after = led.qty("X")
        if before == 0 or (before > 0) != (after > 0) or after == 0:
            since_flat = []
        if after != 0:
            since_flat.append(price)
        led.mark("X", mark)
        pos = led.positions["X"]
        # position = sum of signed fill quantities
        assert pos.qty == signed_sum
        # cash + market value = equity, with cash = start - traded value - charges
        assert led.cash == pytest.approx(100_000.0 - flows - fees, abs=1e-6)
        assert led.equity == pytest.approx(led.cash + pos.qty * mark, abs=1e-6)
        # realised + unrealised = equity - starting capital + charges (realised is gross)
        assert led.realised_pnl + led.unrealised_pnl == pytest.approx(
            led.equity - 100_000.0 + led.total_charges, abs=1e-5
        )
        assert led.total_charges == pytest.approx(fees, abs=1e-9)
        # the average price follows the fills of the current position
        if pos.qty:
            assert min(since_flat) - 1e-9 <= pos.avg_price <= max(since_flat) + 1e-9
        else:
            assert pos.avg_price == 0.0
            # flat: everything is realised, and it is the net of the cash flows
            assert led.realised_pnl == pytest.approx(-flows, abs=1e-6)


def test_flip_through_zero_realises_the_closing_part_and_reopens_at_the_fill():
    led = Ledger(10_000.0)
    led.apply_fill("X", 10, 100.0, 1.0)
    led.apply_fill("X", 10, 110.0, 1.0)
    assert led.positions["X"].avg_price == 105.0
    realised = led.apply_fill("X", -25, 120.0, 2.0)  # sell 20 to close, 5 more to go short
    assert realised == pytest.approx(20 * (120.0 - 105.0))
    pos = led.positions["X"]
    assert pos.qty == -5 and pos.avg_price == 120.0
    realised = led.apply_fill("X", 2, 100.0, 0.0)  # cover 2 of the short at a profit
    assert realised == pytest.approx(2 * 20.0)
    assert pos.qty == -3 and pos.avg_price == 120.0
    led.mark("X", 90.0)
    assert pos.unrealised_pnl == pytest.approx(-3 * (90.0 - 120.0))
    assert led.equity == pytest.approx(led.cash - 3 * 90.0)


def test_round_trip_through_json():
    led = Ledger(5_000.0)
    led.apply_fill("A", 3, 100.0, 0.5)
    led.apply_fill("B", -2, 50.0, 0.25)
    led.mark("A", 101.0)
    again = Ledger.from_dict(json.loads(json.dumps(led.to_dict())))
    assert again.to_dict() == led.to_dict()
    assert again.equity == led.equity
