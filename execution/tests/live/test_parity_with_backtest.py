"""ARCHITECTURE §2: a deployment replaying stored bars, step by step, is the backtest of them.

A new instrument's bars are imported, a strategy on them is deployed on the replay feed and
stepped bar by bar (and, separately, in uneven chunks); its orders, fills and equity points
must be exactly those of ``Engine(...).run(bars)`` over the same bars with the same config.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from execution.marketdata.csvbars import ParsedBar
from execution.models import EquitySnapshot, Order, Position, Trade
from execution.services.live import _dt, deployment_step
from execution.services.marketdata import bars_import, instrument_get_or_create
from execution.tests.live.conftest import (
    assert_books,
    assert_event_chains,
    backtest_of,
    deploy,
    live_of,
    make_strategy,
)

pytestmark = pytest.mark.django_db

N_BARS = 160
SECONDS_PER_BAR = 1.0
TICK = Decimal("0.05")


def _tick(x: float) -> Decimal:
    return (Decimal(repr(x)) / TICK).quantize(Decimal("1")) * TICK


@pytest.fixture
def replay_instrument(db):
    """A fresh instrument with a choppy random walk of minute bars (tick-aligned prices)."""
    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol="PARITYTEST", tick_size=TICK, lot_size=1
    )
    rng = np.random.default_rng(20240611)
    start = datetime(2024, 6, 11, 3, 45, tzinfo=UTC)
    price = 500.0
    bars = []
    for i in range(N_BARS):
        open_ = price
        close = open_ * float(np.exp(rng.normal(0, 0.004)))
        high = max(open_, close) * (1 + abs(rng.normal(0, 0.002)))
        low = min(open_, close) * (1 - abs(rng.normal(0, 0.002)))
        o, h, lo, c = _tick(open_), _tick(high), _tick(low), _tick(close)
        h, lo = max(h, o, c), min(lo, o, c)
        bars.append(
            ParsedBar(start + timedelta(minutes=i), o, h, lo, c, int(rng.integers(1e4, 1e5)))
        )
        price = float(c)
    assert bars_import(instrument=instrument, timeframe="1m", bars=bars) == N_BARS
    return instrument


def _replay_deploy(user, instrument, name):
    strategy = make_strategy(user, name=name, instrument=instrument, timeframe="1m")
    return deploy(strategy, feed="replay", seconds_per_bar=SECONDS_PER_BAR)


def _release(deployment, k: int) -> datetime:
    """Wall time at which the replay has released ``k`` bars."""
    live = live_of(deployment)
    return _dt(live.replay_origin_ts + k * live.replay_seconds_per_bar)


def _dec(x: float, places: str) -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal(places))


def _assert_same_as_backtest(deployment, instrument):
    ref = backtest_of(deployment, instrument)
    assert len(ref.orders) >= 10 and len(ref.fills) >= 10  # it trades: the test means something

    orders = list(Order.objects.filter(deployment=deployment).order_by("id"))
    assert [
        (o.client_order_id, o.side, o.order_type, o.quantity, o.status, o.filled_quantity,
         o.average_price, int(o.created_at.timestamp()))
        for o in orders
    ] == [
        (r.client_order_id, r.side, r.order_type, r.quantity, r.status, r.filled_quantity,
         _dec(r.average_price, "0.0001") if r.filled_quantity else None, r.created_ts)
        for r in ref.orders  # in the order they were placed (unfilled: no average price)
    ]  # fmt: skip

    trades = list(Trade.objects.filter(deployment=deployment).order_by("id"))
    assert [
        (t.fill_id, t.order.client_order_id, t.side, t.quantity, t.price, t.charges,
         int(t.executed_at.timestamp()))
        for t in trades
    ] == [
        (f.fill_id, f.client_order_id, str(f.side), f.quantity, _dec(f.price, "0.0001"),
         _dec(f.charges.total, "0.01"), f.ts)
        for f in ref.fills
    ]  # fmt: skip

    snaps = list(EquitySnapshot.objects.filter(deployment=deployment).order_by("ts"))
    curve = ref.equity
    assert len(snaps) == len(curve) == N_BARS
    assert [(int(s.ts.timestamp()), s.cash, s.equity) for s in snaps] == [
        (int(curve.ts[i]), _dec(curve.cash[i], "0.01"), _dec(curve.equity[i], "0.01"))
        for i in range(N_BARS)
    ]

    ledger = ref.state.ledger
    position = Position.objects.get(deployment=deployment)
    assert position.quantity == ledger.qty("PARITYTEST")
    assert position.realised_pnl == _dec(ledger.realised_pnl, "0.01")
    assert_event_chains(deployment)
    assert_books(deployment)


def test_bar_by_bar_replay_equals_the_backtest(user, replay_instrument):
    deployment = _replay_deploy(user, replay_instrument, "bar by bar")

    statuses = [
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k)).status
        for k in range(1, N_BARS + 1)
    ]

    assert statuses == ["stepped"] * N_BARS
    live = live_of(deployment)
    assert live.steps == N_BARS and live.bars_processed == N_BARS
    _assert_same_as_backtest(deployment, replay_instrument)
    # the replay is over: later steps find nothing new
    late = deployment_step(deployment_id=deployment.pk, now=_release(deployment, N_BARS + 50))
    assert late.status == "idle"


def test_replay_in_uneven_chunks_equals_the_backtest(user, replay_instrument):
    deployment = _replay_deploy(user, replay_instrument, "chunks")
    released = 0
    for k in (1, 2, 9, 10, 11, 48, 49, 97, 150, N_BARS):
        outcome = deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
        assert (outcome.status, outcome.bars) == ("stepped", k - released)
        released = k

    _assert_same_as_backtest(deployment, replay_instrument)


def test_a_step_between_two_releases_processes_nothing(user, replay_instrument):
    deployment = _replay_deploy(user, replay_instrument, "between")
    deployment_step(deployment_id=deployment.pk, now=_release(deployment, 3))

    outcome = deployment_step(
        deployment_id=deployment.pk, now=_release(deployment, 4) - timedelta(milliseconds=600)
    )

    assert outcome.status == "idle"
    assert live_of(deployment).next_due_at == _release(deployment, 4)
