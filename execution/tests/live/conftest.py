"""Fixtures and checks for the live paper-trading tests.

The synthetic feed is a pure function of time, so every test drives steps with an explicit
``now``: ``at(deployment, k)`` is the wall time at which bar ``k`` after the deploy has closed
(``k = 0`` is the first bar the deployment trades) and ``bar_ts(deployment, k)`` its open time.
Manual orders and stops use the real clock, which is earlier than those bars: an order placed
"now" meets the next bar a step processes, as a broker's would.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from execution.engine.bars import BarSeries
from execution.engine.charges import IndiaEquityCharges
from execution.engine.orders import order_next_status
from execution.engine.runner import Engine
from execution.marketdata.sources import SyntheticSource, synthetic_key
from execution.models import (
    DeploymentState,
    EquitySnapshot,
    Order,
    OrderEvent,
    Position,
    Trade,
)
from execution.selectors import bar_series
from execution.services.engine_setup import engine_config
from execution.services.live import _dt, deployment_step
from execution.tests.factories import deploy
from strategies import catalog
from strategies.tests.factories import StrategyFactory, seeded_instrument
from tests.fakes.dhan.fixtures import dhan_account, fake_dhan  # noqa: F401 (fixtures)
from tests.fakes.kite.fixtures import fake_kite, linked_kite_account  # noqa: F401 (fixtures)

# A fast SMA crossover on 5-second bars, long and short: it trades every few bars.
FAST_SMA = {"fast": 2, "slow": 5, "mode": "long_short"}
PAISA = Decimal("0.01")


def make_strategy(owner, **overrides):
    fields = {
        "owner": owner,
        "strategy_type": "sma_crossover",
        "params": dict(FAST_SMA),
        "instrument": seeded_instrument("RELIANCE"),
        "timeframe": "5s",
        "quantity": 10,
        "allocation_pct": None,
        "product": "MIS",
        "capital": Decimal("100000.00"),
    }
    fields.update(overrides)
    return StrategyFactory(**fields)


def live_of(deployment) -> DeploymentState:
    return DeploymentState.objects.select_related("deployment").get(pk=deployment.pk)


def start_cursor(live: DeploymentState) -> int:
    """Open time of the last bar closed at deploy time (the deploy's cursor, synthetic feed).

    Recomputed from the stored history start and the strategy's warm-up exactly as
    ``deployment_start_live`` set it, so it stays put while steps move the cursor on.
    """
    snap = live.deployment.config
    warmup = max(int(catalog.get(snap["strategy_type"]).warmup(snap["params"])), 1) * 3 + 10
    return live.history_start_ts + warmup * live.interval_s


def bar_ts(deployment, k: int) -> int:
    """Open time (epoch seconds) of bar ``k`` after the deploy."""
    live = live_of(deployment)
    return start_cursor(live) + (k + 1) * live.interval_s


def at(deployment, k: int) -> datetime:
    """Wall time at which bar ``k`` (0-based) after the deploy has closed (synthetic feed)."""
    live = live_of(deployment)
    return _dt(start_cursor(live) + (k + 2) * live.interval_s)


def step(deployment, k: int):
    """Step ``deployment`` at the close of its bar ``k``."""
    return deployment_step(deployment_id=deployment.pk, now=at(deployment, k))


def rewind(deployment, bars: int) -> None:
    """Make a fresh deployment look deployed ``bars`` bars ago, with a step due now.

    A negative ``bars`` moves it ahead instead: no bar closes for a while. Only for a
    deployment that has not stepped yet: its engine state is then just a cursor, so moving the
    cursor back is the same as having deployed earlier. Lets the real clock (the dispatcher,
    ``run_steps``) find closed bars to process.
    """
    live = live_of(deployment)
    assert live.steps == 0, "rewind only a deployment that never stepped"
    shift = bars * live.interval_s
    live.cursor_ts -= shift
    live.history_start_ts -= shift
    live.engine_state = {**live.engine_state, "cursor": live.cursor_ts}
    live.next_due_at = timezone.now() - timedelta(seconds=1)
    live.save()


def synthetic_source(deployment) -> SyntheticSource:
    snap = deployment.config
    inst = snap["instrument"]
    return SyntheticSource(
        instrument_key=synthetic_key(inst["exchange"], inst["symbol"]),
        interval_s=live_of(deployment).interval_s,
        tick_size=float(inst["tick_size"]),
    )


def future_bars(deployment, k0: int, k1: int) -> BarSeries:
    """Bars ``k0 .. k1 - 1`` after the deploy (the feed is a pure function of time)."""
    return synthetic_source(deployment).bars(
        start_ts=bar_ts(deployment, k0), end_ts=bar_ts(deployment, k1)
    )


def counts(deployment) -> dict[str, int]:
    return {
        "orders": Order.objects.filter(deployment=deployment).count(),
        "events": OrderEvent.objects.filter(order__deployment=deployment).count(),
        "trades": Trade.objects.filter(deployment=deployment).count(),
        "equity": EquitySnapshot.objects.filter(deployment=deployment).count(),
    }


def signed(trade: Trade) -> int:
    return trade.quantity if trade.side == "BUY" else -trade.quantity


# ----------------------------------------------------------------------------- invariants


def assert_event_chains(deployment) -> None:
    """Every order's events replay through ORDER_TRANSITIONS to its stored status."""
    events = defaultdict(list)
    for ev in OrderEvent.objects.filter(order__deployment=deployment).order_by("id"):
        events[ev.order_id].append(ev)
    for order in Order.objects.filter(deployment=deployment):
        chain = events[order.pk]
        assert chain, f"{order.client_order_id} has no events"
        first, rest = chain[0], chain[1:]
        assert first.trigger == "" and first.status in ("PENDING", "DENIED"), first
        status = first.status
        for ev in rest:
            status = order_next_status(status, ev.trigger)  # raises on an invalid transition
            assert ev.status == status, (order.client_order_id, ev.trigger, ev.status, status)
        assert status == order.status, order.client_order_id


def assert_books(deployment) -> None:
    """Trades = fills of the orders; position = sum of signed trades; cash + value = equity."""
    trades = list(Trade.objects.filter(deployment=deployment))
    filled = defaultdict(int)
    value = defaultdict(Decimal)
    for t in trades:
        filled[t.order_id] += t.quantity
        value[t.order_id] += t.quantity * t.price
    for order in Order.objects.filter(deployment=deployment):
        assert order.filled_quantity <= order.quantity
        assert filled[order.pk] == order.filled_quantity, order.client_order_id
        if order.filled_quantity:
            avg = value[order.pk] / order.filled_quantity
            assert abs(order.average_price - avg) < Decimal("0.0001"), order.client_order_id
        if order.status == "COMPLETE":
            assert order.filled_quantity == order.quantity
    net = sum(signed(t) for t in trades)
    position = Position.objects.filter(deployment=deployment).first()
    assert (position.quantity if position else 0) == net
    for snap in EquitySnapshot.objects.filter(deployment=deployment):
        assert snap.cash + snap.position_value == snap.equity, snap.ts


def backtest_of(deployment, instrument, *, close_at_end: str = "none"):
    """A backtest of the deployment's stored 1m bars with its own configuration and seed."""
    config = engine_config(
        snapshot=deployment.config,
        capital=deployment.capital,
        charges=IndiaEquityCharges(),
        prefix=f"d{deployment.pk}",
        seed=deployment.pk,
        close_at_end=close_at_end,
    )
    stype = catalog.get(deployment.config["strategy_type"])
    bars = bar_series(instrument=instrument, timeframe="1m")
    return Engine(config, stype, deployment.config["params"]).run(bars)


@pytest.fixture
def strategy(user):
    return make_strategy(user)


@pytest.fixture
def deployment(strategy):
    return deploy(strategy)
