"""The risk gate's rules, one by one."""

import pytest

from execution.engine.risk import Denial, OrderIntent, RiskGate, RiskLimits


def intent(**kw):
    base = dict(side="BUY", quantity=10, order_type="MARKET", price=None, ref_price=100.0,
                position_qty=0, open_orders=0, now_ts=1_000)  # fmt: skip
    base.update(kw)
    return OrderIntent(**base)


@pytest.mark.parametrize(
    ("limits", "kw", "rule"),
    [
        (RiskLimits(max_order_quantity=5), {}, "max_order_quantity"),
        (RiskLimits(max_order_value=999.0), {}, "max_order_value"),
        (RiskLimits(max_order_value=5_000.0), {"order_type": "LIMIT", "price": 600.0,
                                                 "quantity": 10}, "max_order_value"),
        (RiskLimits(max_position_value=1_500.0), {"position_qty": 6}, "max_position_value"),
        (RiskLimits(max_open_orders=3), {"open_orders": 3}, "max_open_orders"),
        (RiskLimits(price_band_pct=5.0), {"order_type": "LIMIT", "price": 94.0}, "price_band_pct"),
    ],
)  # fmt: skip
def test_each_rule_denies_with_its_name(limits, kw, rule):
    d = RiskGate(limits).check(intent(**kw))
    assert isinstance(d, Denial) and d.rule == rule and d.message


def test_within_limits_passes():
    limits = RiskLimits(max_order_quantity=10, max_order_value=1_000.0, max_position_value=1_000.0,
                        max_open_orders=1, max_orders_per_minute=1, price_band_pct=5.0)  # fmt: skip
    assert RiskGate(limits).check(intent(order_type="LIMIT", price=96.0)) is None


def test_orders_per_minute_slides_with_time():
    recent: list[int] = []
    gate = RiskGate(RiskLimits(max_orders_per_minute=2), recent)
    for t in (0, 10):
        assert gate.check(intent(now_ts=t)) is None
        gate.record(t)
    assert gate.check(intent(now_ts=59)).rule == "max_orders_per_minute"
    assert gate.check(intent(now_ts=61)) is None  # the order at t=0 left the window
    assert recent == [10]  # the caller's list is the gate's memory (saved with the state)


def test_reducing_orders_skip_size_and_rate_limits_but_not_the_price_band():
    limits = RiskLimits(max_order_quantity=1, max_open_orders=0, price_band_pct=1.0)
    gate = RiskGate(limits)
    assert gate.check(intent(side="SELL", quantity=10, position_qty=10)) is None
    d = gate.check(intent(side="SELL", quantity=10, position_qty=10, order_type="LIMIT",
                          price=90.0))  # fmt: skip
    assert d.rule == "price_band_pct"
    # a flip is not a pure reduction
    assert gate.check(intent(side="SELL", quantity=20, position_qty=10)).rule == (
        "max_order_quantity"
    )


def test_daily_loss():
    gate = RiskGate(RiskLimits(max_daily_loss=100.0))
    assert gate.daily_loss(10_000.0, 9_950.0) is None
    assert gate.daily_loss(10_000.0, 9_900.0).rule == "max_daily_loss"
    assert RiskGate(RiskLimits()).daily_loss(10_000.0, 0.0) is None


def test_limits_tighten_rule_by_rule_and_round_trip():
    user = RiskLimits(max_order_quantity=100, max_daily_loss=500.0)
    strategy = RiskLimits(max_order_quantity=10, price_band_pct=2.0)
    both = user.tightened(strategy)
    assert both == RiskLimits(max_order_quantity=10, max_daily_loss=500.0, price_band_pct=2.0)
    assert RiskLimits.from_dict(both.to_dict()) == both
    assert not RiskLimits().any_order_rule and both.any_order_rule
