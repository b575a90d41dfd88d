"""Manual orders on a running deployment: the paper broker's matching, checks and risk gate.

Bars are a pure function of time, so each test looks ahead at the bars it is about to step
through and picks prices that must (or must not) trade, then checks the broker did exactly that.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from execution.engine.state import EngineState
from execution.marketdata.csvbars import ParsedBar
from execution.models import Order, Trade
from execution.selectors import bar_series
from execution.services.live import (
    DeploymentNotLive,
    OrderNotOpen,
    deployment_step,
    order_cancel,
    order_modify,
    order_place,
)
from execution.services.marketdata import bars_import, instrument_get_or_create
from execution.tests.live.conftest import (
    assert_books,
    assert_event_chains,
    bar_ts,
    counts,
    deploy,
    future_bars,
    live_of,
    make_strategy,
    step,
)
from strategies import services

pytestmark = pytest.mark.django_db

TICK = Decimal("0.05")
LOOKAHEAD = 600
# The synthetic walk is a function of time, and at some moments it climbs for hours without a
# dip: pin the clock the services read, so every run sees the same bars (a Monday session).
FIXED_NOW = datetime(2026, 1, 5, 4, 0, 2, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch):
    monkeypatch.setattr("execution.services.live.timezone.now", lambda: FIXED_NOW)


def _d(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal("0.01"))


def _dip(deployment, k: int) -> tuple[Decimal, int]:
    """A price no bar after ``k`` reaches for a while, then one bar ``j`` trades below.

    Returns ``(price, j)``: bars ``k+1 .. j-1`` stay above ``price`` (their lows are higher),
    bar ``j`` trades through it. A buy LIMIT there rests, then fills in bar ``j``; a sell SL-M
    triggered there waits, then triggers in bar ``j``.
    """
    bars = future_bars(deployment, k + 1, k + 1 + LOOKAHEAD)
    lows = [_d(x) for x in bars.low]
    floor = lows[0]
    for i in range(1, len(lows)):
        if i >= 2 and lows[i] <= floor - 2 * TICK:
            return floor - TICK, k + 1 + i
        floor = min(floor, lows[i])
    raise AssertionError("the synthetic walk never dipped; widen LOOKAHEAD")


def _open(deployment, j: int) -> Decimal:
    return _d(future_bars(deployment, j, j + 1).open[0])


def _history(order: Order) -> list[tuple[str, str]]:
    return list(order.events.order_by("id").values_list("status", "trigger"))


def test_limit_below_the_market_rests_then_fills_when_a_bar_trades_through(deployment):
    step(deployment, 2)
    price, j = _dip(deployment, 2)

    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=price
    )

    assert (order.status, order.source, order.product) == ("OPEN", "manual", "MIS")
    assert order.client_order_id.startswith(f"m{deployment.pk}-")
    assert order.price == price and order.pending_quantity == 5
    step(deployment, j - 1)
    order.refresh_from_db()
    assert order.status == "OPEN" and order.filled_quantity == 0  # no bar reached it yet

    step(deployment, j)

    order.refresh_from_db()
    expected = min(price, _open(deployment, j))  # at the limit, or the open if it gapped below
    assert (order.status, order.filled_quantity, order.average_price) == ("COMPLETE", 5, expected)
    fill = Trade.objects.get(order=order)
    assert (fill.side, fill.quantity, fill.price) == ("BUY", 5, expected)
    assert int(fill.executed_at.timestamp()) == bar_ts(deployment, j)
    assert fill.charges > 0
    assert _history(order) == [("PENDING", ""), ("OPEN", "ACCEPT"), ("COMPLETE", "FILL")]
    assert_event_chains(deployment)
    assert_books(deployment)


def test_market_fills_at_the_next_bar_open(deployment):
    step(deployment, 4)

    order = order_place(deployment=deployment, side="SELL", order_type="MARKET", quantity=3)

    assert order.status == "OPEN" and order.price is None
    step(deployment, 5)
    order.refresh_from_db()
    assert order.status == "COMPLETE"
    assert order.average_price == _open(deployment, 5)
    assert int(Trade.objects.get(order=order).executed_at.timestamp()) == bar_ts(deployment, 5)
    assert_books(deployment)


def test_sl_m_waits_for_its_trigger_then_fills(deployment):
    step(deployment, 1)
    trigger, j = _dip(deployment, 1)

    order = order_place(
        deployment=deployment,
        side="SELL",
        order_type="SL-M",
        quantity=4,
        trigger_price=trigger,
    )

    assert order.status == "TRIGGER_PENDING" and order.trigger_price == trigger
    step(deployment, j - 1)
    order.refresh_from_db()
    assert order.status == "TRIGGER_PENDING"

    step(deployment, j)

    order.refresh_from_db()
    expected = min(trigger, _open(deployment, j))  # at the trigger, or the open gapping below
    assert (order.status, order.average_price) == ("COMPLETE", expected)
    assert _history(order) == [
        ("PENDING", ""),
        ("TRIGGER_PENDING", "ACCEPT_STOP"),
        ("OPEN", "TRIGGER"),
        ("COMPLETE", "FILL"),
    ]
    assert_books(deployment)


def test_lot_and_tick_violations_are_rejected_with_the_reason(user):
    lot5, _ = instrument_get_or_create(exchange="NSE", symbol="LOTFIVE", tick_size=TICK, lot_size=5)
    deployment = deploy(make_strategy(user, instrument=lot5))
    step(deployment, 0)

    odd_lot = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=7)
    off_tick = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5,
        price=Decimal("100.03"),
    )  # fmt: skip

    assert odd_lot.status == "REJECTED" and "lot size 5" in odd_lot.status_message
    assert off_tick.status == "REJECTED" and "tick size 0.05" in off_tick.status_message
    for order in (odd_lot, off_tick):
        assert order.filled_quantity == 0 and order.broker_status == "REJECTED"
        assert _history(order) == [("PENDING", ""), ("REJECTED", "REJECT")]
    step(deployment, 10)
    assert not Trade.objects.filter(order__in=[odd_lot, off_tick]).exists()


def test_the_risk_gate_denies_with_the_rule(user):
    deployment = deploy(make_strategy(user, risk_limits={"max_order_quantity": 20}))
    step(deployment, 0)

    denied = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=50)
    allowed = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=20)

    assert (denied.status, denied.denial_rule) == ("DENIED", "max_order_quantity")
    assert denied.status_message and denied.broker_order_id == ""
    assert _history(denied) == [("DENIED", "")]
    assert allowed.status == "OPEN" and allowed.denial_rule == ""
    step(deployment, 1)
    denied.refresh_from_db()
    assert denied.status == "DENIED" and not Trade.objects.filter(order=denied).exists()


def test_cancel_then_cancel_again(deployment):
    step(deployment, 0)
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )

    cancelled = order_cancel(order=order)

    assert cancelled.status == "CANCELLED"
    assert _history(cancelled)[-1] == ("CANCELLED", "CANCEL")
    with pytest.raises(OrderNotOpen) as err:
        order_cancel(order=cancelled)
    assert err.value.code == "order_not_open"
    assert cancelled.events.count() == 3
    step(deployment, 30)
    cancelled.refresh_from_db()
    assert cancelled.status == "CANCELLED" and cancelled.filled_quantity == 0


def test_modify_the_price_of_an_open_limit(deployment):
    step(deployment, 2)
    price, j = _dip(deployment, 2)
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )

    modified = order_modify(order=order, price=price)

    assert (modified.status, modified.price) == ("OPEN", price)
    assert _history(modified)[-1] == ("OPEN", "MODIFY")
    step(deployment, j)
    modified.refresh_from_db()
    assert modified.status == "COMPLETE"
    assert modified.average_price == min(price, _open(deployment, j))
    with pytest.raises(OrderNotOpen):
        order_modify(order=modified, price=price - TICK)
    assert_event_chains(deployment)


def test_orders_on_a_stopped_deployment_are_refused(deployment, strategy):
    step(deployment, 0)
    resting = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )
    services.strategy_stop(strategy=strategy, actor=strategy.owner)
    deployment.refresh_from_db()
    before = Order.objects.count()

    with pytest.raises(DeploymentNotLive) as err:
        order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=1)
    assert err.value.code == "deployment_not_running"
    resting.refresh_from_db()
    with pytest.raises(DeploymentNotLive):
        order_cancel(order=resting)
    with pytest.raises(DeploymentNotLive):
        order_modify(order=resting, price=Decimal("105"))
    assert Order.objects.count() == before
    assert resting.status == "CANCELLED"


# ----------------------------------------------------------------------------- placed mid-bar


def test_a_market_order_placed_mid_bar_fills_at_the_next_open_not_an_earlier_one(
    deployment, monkeypatch
):
    step(deployment, 2)
    # Bar 3 has closed and bar 4 is half-way when the order comes in; the next step (late, at
    # the close of bar 5) still has bars 3 and 4 to process, which opened before the order.
    placed = bar_ts(deployment, 4) + 2
    monkeypatch.setattr(
        "execution.services.live.timezone.now", lambda: datetime.fromtimestamp(placed, UTC)
    )

    order = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=3)
    step(deployment, 5)

    order.refresh_from_db()
    fill = Trade.objects.get(order=order)
    assert int(fill.executed_at.timestamp()) == bar_ts(deployment, 5)
    assert (order.status, order.average_price) == ("COMPLETE", _open(deployment, 5))
    assert_event_chains(deployment)
    assert_books(deployment)


def _replay_bars(instrument, n: int) -> None:
    """Minute bars whose opens all differ (100, 101, ...), each trading 2 either side."""
    start = datetime(2024, 6, 11, 3, 45, tzinfo=UTC)
    bars = [
        ParsedBar(start + timedelta(minutes=i), Decimal(100 + i), Decimal(102 + i),
                  Decimal(98 + i), Decimal(100 + i), 10_000)
        for i in range(n)
    ]  # fmt: skip
    assert bars_import(instrument=instrument, timeframe="1m", bars=bars) == n


def test_on_a_replay_an_order_placed_mid_bar_fills_at_the_next_replayed_open(
    user, monkeypatch, settings
):
    """Replayed bars keep their 2024 times: the order's wait is on the replay's clock."""
    # these bars climb 1 a minute: four minutes on, the open is beyond a 2 % market protection
    # band around the price the order was placed at (test_market_protection has that case)
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MARKET_PROTECTION_PCT": None}
    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol="REPLAYMID", tick_size=TICK, lot_size=1
    )
    _replay_bars(instrument, 12)
    strategy = make_strategy(user, instrument=instrument, timeframe="1m", params={
        "fast": 2, "slow": 5, "mode": "long_only"})  # fmt: skip
    deployment = deploy(strategy, feed="replay", seconds_per_bar=10.0)
    origin = live_of(deployment).replay_origin_ts
    history = bar_series(instrument=instrument, timeframe="1m")

    def clock(t: float) -> datetime:
        return datetime.fromtimestamp(origin + t, UTC)

    deployment_step(deployment_id=deployment.pk, now=clock(30))  # bars 0-2 released
    monkeypatch.setattr("execution.services.live.timezone.now", lambda: clock(55))  # bar 5
    order = order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=3)
    deployment_step(deployment_id=deployment.pk, now=clock(80))  # bars 3-7

    order.refresh_from_db()
    fill = Trade.objects.get(order=order)
    assert int(fill.executed_at.timestamp()) == int(history.ts[6])
    assert (order.status, order.average_price) == ("COMPLETE", Decimal("106"))
    assert_books(deployment)


# ----------------------------------------------------------------------------- a late step


def _clock_at(monkeypatch, ts: int) -> None:
    monkeypatch.setattr(
        "execution.services.live.timezone.now", lambda: datetime.fromtimestamp(ts, UTC)
    )


@pytest.mark.parametrize("change", ["modify", "cancel"])
def test_a_change_after_bars_the_late_step_missed_keeps_the_fill_of_the_old_terms(
    deployment, monkeypatch, change
):
    """Bar ``j`` trades through the resting limit and closes; the step is late. A change that
    comes then meets only later bars, so bar ``j`` is processed first, under the old terms."""
    step(deployment, 2)
    price, j = _dip(deployment, 2)
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=price
    )
    _clock_at(monkeypatch, bar_ts(deployment, j + 1) + 2)  # bar j closed, not stepped

    with pytest.raises(OrderNotOpen) as err:
        if change == "modify":
            order_modify(order=order, price=Decimal("100"))
        else:
            order_cancel(order=order)

    assert err.value.extra["current_state"] == "COMPLETE"
    order.refresh_from_db()
    expected = min(price, _open(deployment, j))
    assert (order.status, order.filled_quantity, order.average_price) == ("COMPLETE", 5, expected)
    assert _history(order) == [("PENDING", ""), ("OPEN", "ACCEPT"), ("COMPLETE", "FILL")]
    fill = Trade.objects.get(order=order)
    assert int(fill.executed_at.timestamp()) == bar_ts(deployment, j)
    live = live_of(deployment)
    assert live.cursor_ts == bar_ts(deployment, j)  # the late bars were stepped, bar j+1 not
    before = counts(deployment)
    assert step(deployment, j).status == "idle"  # the step finds them done
    assert counts(deployment) == before
    assert step(deployment, j + 1).bars == 1
    assert_event_chains(deployment)
    assert_books(deployment)


def test_a_change_when_the_step_is_not_behind_applies_at_once(deployment, monkeypatch):
    step(deployment, 2)
    price, _j = _dip(deployment, 2)
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )
    _clock_at(monkeypatch, bar_ts(deployment, 3) + 2)  # bar 2 stepped, bar 3 in progress
    before = counts(deployment)

    modified = order_modify(order=order, price=price)

    assert (modified.status, modified.price) == ("OPEN", price)
    assert live_of(deployment).cursor_ts == bar_ts(deployment, 2)
    assert counts(deployment)["equity"] == before["equity"]  # no bar processed by the change


# ----------------------------------------------------------------------------- the order book


def _written(fn) -> tuple[int, list[str]]:
    """Bytes of SQL (parameters included) ``fn`` sends, and the statements themselves."""
    with CaptureQueriesContext(connection) as ctx:
        fn()
    sqls = [q["sql"] for q in ctx.captured_queries]
    return sum(len(q) for q in sqls), sqls


def test_a_manual_request_reads_and_writes_only_the_orders_it_touches(deployment):
    """The broker's order book is not the engine state: a request's cost does not grow with
    the deployment's open orders (the engine state holds only what they add up to)."""
    step(deployment, 2)

    def rest():
        return order_place(
            deployment=deployment, side="BUY", order_type="LIMIT", quantity=1, price=Decimal("1")
        )

    first = rest()
    one, _ = _written(rest)
    for _ in range(30):
        rest()
    many, sqls = _written(rest)
    target = rest()
    cancel, _ = _written(lambda: order_cancel(order=first))
    modify, _ = _written(lambda: order_modify(order=target, price=Decimal("1.05")))

    assert abs(many - one) < 200, (one, many)  # not ~30 order records more
    assert all(first.broker_order_id not in q for q in sqls)  # another order: not touched
    state = live_of(deployment).engine_state
    assert "orders" not in state["broker"] and state["broker"]["book"]["working"] == 34 - 1
    assert max(cancel, modify) < 2 * one
    # the working orders are all there for the next step: the first one's bar trades through
    live = live_of(deployment)
    records = live.paper_orders.filter(working=True).values_list("client_order_id", flat=True)
    assert len(records) == 33 and first.client_order_id not in set(records)
    modified = live.paper_orders.get(client_order_id=target.client_order_id).record
    assert (modified["price"], modified["status"]) == (1.05, "OPEN")


def test_a_state_saved_with_its_orders_inside_is_moved_to_rows_on_its_next_write(deployment):
    """Deployments running before the book had rows keep every order in their engine state."""
    step(deployment, 2)
    resting = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=1, price=Decimal("1")
    )
    live = live_of(deployment)
    records = list(live.paper_orders.values_list("record", flat=True))
    old = EngineState.from_dict(live.engine_state, records).to_dict()  # the former layout
    held = [o["cid"] for o in old["broker"]["orders"]]
    assert resting.client_order_id in held
    live.engine_state = old
    live.save(update_fields=["engine_state"])
    live.paper_orders.all().delete()

    order_cancel(order=resting)

    live = live_of(deployment)
    assert "orders" not in live.engine_state["broker"]
    assert live.engine_state["broker"]["book"]["working"] == 0
    assert sorted(live.paper_orders.values_list("client_order_id", flat=True)) == sorted(held)
    row = live.paper_orders.get(client_order_id=resting.client_order_id)
    assert (row.client_order_id, row.working, row.record["status"]) == (
        resting.client_order_id,
        False,
        "CANCELLED",
    )
    resting.refresh_from_db()
    assert resting.status == "CANCELLED"
    assert_event_chains(deployment)
