"""Ledger and order invariants (ARCHITECTURE §4, §8) on random bars and random order streams:
strategy decisions plus manual MARKET/LIMIT/SL/SL-M orders, cancels and modifies between steps."""

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from execution.brokers.base import BrokerError
from execution.engine.charges import FlatCommission, IndiaEquityCharges
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.orders import TERMINAL_STATUSES, Product
from execution.engine.risk import RiskLimits
from execution.engine.runner import Engine, RiskDenied
from execution.tests.engine.helpers import HashedDecisions, Scripted
from execution.tests.engine.test_split_parity import random_bars

manual = st.tuples(
    st.sampled_from(["BUY", "SELL"]),
    st.sampled_from(["MARKET", "LIMIT", "SL", "SL-M"]),
    st.integers(1, 40),
    st.floats(-0.04, 0.04),  # price offset from the last close
    st.sampled_from(["DAY", "IOC"]),
    st.sampled_from(["MIS", "CNC"]),
    st.sampled_from(["place", "place", "place", "cancel", "modify"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    chunks=st.lists(st.tuples(st.integers(5, 60), st.lists(manual, max_size=4)), min_size=2,
                    max_size=8),
    volume_share=st.sampled_from([None, 0.1, 0.5]),
    india=st.booleans(),
    nse=st.booleans(),
)  # fmt: skip
def test_invariants_on_random_order_streams(seed, chunks, volume_share, india, nse):
    bars = random_bars(seed)
    cfg = EngineConfig(
        instrument=InstrumentSpec("SYN", "NSE" if nse else "NASDAQ", 0.01, 1,
                                  allow_short_cnc=not nse),
        starting_capital=20_000.0,
        allocation_pct=40.0,
        product=Product.MIS,
        charges=IndiaEquityCharges() if india else FlatCommission(0.1),
        volume_share=volume_share,
        slippage_bps=3,
        risk=RiskLimits(max_open_orders=6, price_band_pct=3.0),
    )  # fmt: skip
    strat = HashedDecisions(every=6, seed=seed)
    state = None
    end = 0
    signed_fills = 0
    charges = 0.0
    filled_by_order: dict[str, int] = {}
    final_seen: dict[str, str] = {}
    created: list[str] = []
    placed = 0
    for length, orders in chunks:
        if end >= len(bars):
            break
        eng = Engine(cfg, strat, {}, state=state)
        end = min(end + length, len(bars))
        r = eng.run(bars.slice(0, end))
        eq = r.equity
        np.testing.assert_allclose(
            eq.equity, eq.cash + eq.position * bars.close[end - len(eq) : end], atol=1e-6
        )
        for e in r.events:
            assert e.client_order_id not in final_seen, "a final status changed"
            if e.status in TERMINAL_STATUSES:
                final_seen[e.client_order_id] = e.status
        last_close = float(bars.close[end - 1])
        for side, otype, qty, off, validity, product, action in orders:
            now = int(bars.ts[end - 1]) + 1
            try:
                if action == "place" or not created:
                    price = round(last_close * (1 + off), 2)
                    trigger = round(last_close * (1 - off if side == "BUY" else 1 + off), 2)
                    if otype == "SL":
                        lo, hi = sorted((price, trigger))
                        price, trigger = (hi, lo) if side == "BUY" else (lo, hi)
                    placed += 1
                    res = eng.submit_order(
                        client_order_id=f"m{placed}",
                        side=side,
                        order_type=otype,
                        quantity=qty,
                        price=price if otype in ("LIMIT", "SL") else None,
                        trigger_price=trigger if otype in ("SL", "SL-M") else None,
                        product=product,
                        validity=validity,
                        now_ts=now,
                    )
                    created.append(res.order.client_order_id)
                elif action == "cancel":
                    res = eng.cancel_order(created[qty % len(created)], now_ts=now)
                else:
                    res = eng.modify_order(
                        created[qty % len(created)], quantity=qty + 1, now_ts=now
                    )
            except (BrokerError, RiskDenied):
                continue
            for e in res.events:
                assert e.client_order_id not in final_seen, "a final status changed"
                if e.status in TERMINAL_STATUSES:
                    final_seen[e.client_order_id] = e.status
        for f in r.fills:
            signed_fills += f.signed_quantity
            charges += f.charges.total
            filled_by_order[f.client_order_id] = filled_by_order.get(f.client_order_id, 0) + (
                f.quantity
            )
        for o in r.orders:
            assert o.filled_quantity <= o.quantity
            assert filled_by_order.get(o.client_order_id, 0) == o.filled_quantity
        led = eng.state.ledger
        acct = eng.state.broker.account
        # position = sum of signed fills; the books agree with the broker's account
        assert led.qty("SYN") == signed_fills == acct.qty("SYN")
        assert led.cash == pytest.approx(acct.cash, abs=1e-6)
        assert led.total_charges == pytest.approx(charges, abs=1e-6)
        # cash + market value = equity; realised + unrealised = equity - start + charges
        led.mark("SYN", last_close)
        assert led.equity == pytest.approx(eq.equity[-1], abs=1e-6)
        assert led.realised_pnl + led.unrealised_pnl == pytest.approx(
            led.equity - cfg.starting_capital + led.total_charges, abs=1e-6
        )
        state = json.loads(json.dumps(eng.state.to_dict(), allow_nan=False))
    # no client order id was ever placed twice
    assert len(set(created)) == len(created)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    decisions=st.lists(st.tuples(st.integers(0, 199), st.sampled_from([-1.0, 0.0, 1.0])),
                       min_size=1, max_size=40),
    long_short=st.booleans(),
    quantity=st.one_of(st.none(), st.integers(1, 400)),
    volume_share=st.sampled_from([0.01, 0.05, 0.1, 0.3, 1.0]),
    cuts=st.lists(st.integers(1, 199), max_size=4),
)  # fmt: skip
def test_volume_capped_legs_never_overshoot_the_target(
    seed, decisions, long_short, quantity, volume_share, cuts
):
    """With partial fills, the position moves only towards the target and never past it.

    Each fill is checked against the target in force at its bar (the last decision before
    it): a flat target only shrinks the position, never flips it; a long (short) target only
    buys (sells); a long_only run is never short; a fixed quantity is never exceeded. The run
    goes in live-style steps with the state through JSON in between.
    """
    bars = random_bars(seed, n=200)
    script = {i: (v if long_short else max(v, 0.0)) for i, v in decisions}
    cfg = EngineConfig(
        instrument=InstrumentSpec("SYN", "NASDAQ", 0.01, 1, allow_short_cnc=True),
        starting_capital=50_000.0,
        quantity=quantity,
        allocation_pct=None if quantity else 100.0,
        product=Product.MIS,
        charges=FlatCommission(0.1),
        volume_share=volume_share,
        close_at_end="none",
    )
    target = np.zeros(len(bars))  # in force at each bar's open
    for i in range(1, len(bars)):
        prev = script.get(i - 1)
        target[i] = target[i - 1] if prev is None else prev
    fills = []
    state = None
    for end in [*sorted(set(cuts)), len(bars)]:
        eng = Engine(cfg, Scripted(script), state=state)
        fills += eng.run(bars.slice(0, end)).fills
        state = json.loads(json.dumps(eng.state.to_dict()))
    pos = 0
    for f in fills:
        before, pos = pos, pos + f.signed_quantity
        want = target[int(np.searchsorted(bars.ts, f.ts))]
        if want == 0:
            assert before * pos >= 0 and abs(pos) <= abs(before), (f, before, pos)
        elif want > 0:
            assert pos > before, (f, before, pos)
        else:
            assert pos < before, (f, before, pos)
        assert long_short or pos >= 0
        assert quantity is None or abs(pos) <= quantity
