"""Issue 13: a live basket deployment reproduces its backtest bar for bar on replay.

Two instruments' bars are imported (the second misses some minutes, so the members' bar times
differ), a basket strategy over them is deployed on the replay feed and stepped bar by bar (and
in uneven chunks). Its orders, fills, per-member positions and total equity must be exactly
those of ``run_basket`` (stepped in time) over the same bars with the deployment's configs.
The capital is small and the caps add up to 200 %, so the members compete for the shared pool:
the test fails if the step does not share it as the backtest does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from execution.engine.basket import run_basket
from execution.engine.config import EngineConfig
from execution.marketdata.csvbars import ParsedBar
from execution.models import EquitySnapshot, LivePhase, Order, Position, Trade
from execution.selectors import bar_series
from execution.services.live import _dt, deployment_step
from execution.services.marketdata import bars_import, instrument_get_or_create
from execution.tests.live.conftest import assert_event_chains, deploy, live_of, make_strategy
from strategies import catalog, services
from strategies.baskets import basket_replace

pytestmark = pytest.mark.django_db

N_BARS = 120
TICK = Decimal("0.05")
MISSING = {17, 18, 40, 77}  # minutes the second instrument has no bar


def _tick(x: float) -> Decimal:
    return (Decimal(repr(x)) / TICK).quantize(Decimal("1")) * TICK


def _walk(symbol: str, seed: int, price: float, skip: set[int]):
    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol=symbol, tick_size=TICK, lot_size=1
    )
    rng = np.random.default_rng(seed)
    start = datetime(2024, 6, 11, 3, 45, tzinfo=UTC)
    bars = []
    for i in range(N_BARS):
        open_ = price
        close = open_ * float(np.exp(rng.normal(0, 0.004)))
        high = max(open_, close) * (1 + abs(rng.normal(0, 0.002)))
        low = min(open_, close) * (1 - abs(rng.normal(0, 0.002)))
        o, h, lo, c = _tick(open_), _tick(high), _tick(low), _tick(close)
        h, lo = max(h, o, c), min(lo, o, c)
        if i not in skip:
            bars.append(ParsedBar(start + timedelta(minutes=i), o, h, lo, c, 50_000))
        price = float(c)
    bars_import(instrument=instrument, timeframe="1m", bars=bars)
    return instrument


@pytest.fixture
def basket(user):
    a = _walk("BASKETA", 11, 500.0, set())
    b = _walk("BASKETB", 12, 420.0, MISSING)
    strategy = make_strategy(
        user, name="basket replay", instrument=a, timeframe="1m", capital=Decimal("6000.00")
    )
    basket_replace(
        strategy=strategy,
        members=[
            {"instrument": a, "allocation_pct": Decimal("100")},
            {"instrument": b, "allocation_pct": Decimal("100")},
        ],
    )
    return strategy, [a, b]


def _release(deployment, k: int) -> datetime:
    live = live_of(deployment)
    return _dt(live.replay_origin_ts + k * live.replay_seconds_per_bar)


def _dec(x: float, places: str) -> Decimal:
    return Decimal(repr(float(x))).quantize(Decimal(places))


def _backtest(deployment, instruments):
    live = live_of(deployment)
    members = [
        (EngineConfig.from_dict(c), bar_series(instrument=i, timeframe="1m"))
        for c, i in zip(live.engine_config["members"], instruments, strict=True)
    ]
    snap = deployment.config
    return run_basket(
        members,
        catalog.get(snap["strategy_type"]),
        snap["params"],
        capital=float(deployment.capital),
        aligned=True,
    )


def _assert_same_as_backtest(deployment, instruments):
    ref = _backtest(deployment, instruments)
    assert sum(len(m.fills) for m in ref.members) >= 10
    for n, (inst, member) in enumerate(zip(instruments, ref.members, strict=True)):
        orders = Order.objects.filter(deployment=deployment, instrument=inst, source="strategy")
        orders = orders.order_by("id")  # a manual order is not the backtest's
        assert [
            (o.client_order_id, o.side, o.order_type, o.quantity, o.status, o.filled_quantity,
             o.average_price, int(o.created_at.timestamp()))
            for o in orders
        ] == [
            (r.client_order_id, r.side, r.order_type, r.quantity, r.status, r.filled_quantity,
             _dec(r.average_price, "0.0001") if r.filled_quantity else None, r.created_ts)
            for r in member.orders
        ]  # fmt: skip
        trades = Trade.objects.filter(
            deployment=deployment, order__instrument=inst, order__source="strategy"
        )
        assert [
            # a member's broker names its orders PB{n}-...: fill ids stay unique per deployment
            (t.fill_id.replace(f"PB{n}-", "PB"), t.side, t.quantity, t.price, t.charges,
             int(t.executed_at.timestamp()))
            for t in trades.order_by("id")
        ] == [
            (f.fill_id, str(f.side), f.quantity, _dec(f.price, "0.0001"),
             _dec(f.charges.total, "0.01"), f.ts)
            for f in member.fills
        ]  # fmt: skip
        position = Position.objects.get(deployment=deployment, instrument=inst)
        ledger = member.state.ledger
        assert position.quantity == ledger.qty(inst.symbol)
        assert position.realised_pnl == _dec(ledger.realised_pnl, "0.01")

    snaps = list(EquitySnapshot.objects.filter(deployment=deployment).order_by("ts"))
    curve = ref.equity
    assert len(snaps) == len(curve) == N_BARS
    assert [(int(s.ts.timestamp()), s.cash, s.equity) for s in snaps] == [
        (int(curve.ts[i]), _dec(curve.cash[i], "0.01"), _dec(curve.equity[i], "0.01"))
        for i in range(N_BARS)
    ]
    assert_event_chains(deployment)


def test_the_pool_binds_so_the_basket_differs_from_its_members_alone(user, basket):
    strategy, instruments = basket
    deployment = deploy(strategy, feed="replay", seconds_per_bar=1.0)
    shared = _backtest(deployment, instruments)
    alone = [
        run_basket([m], catalog.get("sma_crossover"), deployment.config["params"], capital=6000.0)
        for m in [
            (EngineConfig.from_dict(c), bar_series(instrument=i, timeframe="1m"))
            for c, i in zip(live_of(deployment).engine_config["members"], instruments, strict=True)
        ]
    ]
    assert [len(m.fills) for m in shared.members] != [len(r.members[0].fills) for r in alone]


def test_bar_by_bar_basket_replay_equals_its_backtest(user, basket):
    strategy, instruments = basket
    deployment = deploy(strategy, feed="replay", seconds_per_bar=1.0)

    statuses = [
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k)).status
        for k in range(1, N_BARS + 1)
    ]

    assert statuses == ["stepped"] * N_BARS
    assert live_of(deployment).bars_processed == N_BARS
    _assert_same_as_backtest(deployment, instruments)
    late = deployment_step(deployment_id=deployment.pk, now=_release(deployment, N_BARS + 5))
    assert late.status == "idle"


def test_basket_replay_in_uneven_chunks_equals_its_backtest(user, basket):
    strategy, instruments = basket
    deployment = deploy(strategy, feed="replay", seconds_per_bar=1.0)
    for k in (1, 2, 9, 17, 18, 19, 41, 60, 97, N_BARS):
        assert deployment_step(deployment_id=deployment.pk, now=_release(deployment, k)).status == (
            "stepped"
        )
    _assert_same_as_backtest(deployment, instruments)


def test_a_redelivered_basket_step_writes_nothing_twice(user, basket):
    strategy, _ = basket
    deployment = deploy(strategy, feed="replay", seconds_per_bar=1.0)
    for k in range(1, 61):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    counts = (Order.objects.count(), Trade.objects.count(), EquitySnapshot.objects.count())
    again = deployment_step(deployment_id=deployment.pk, now=_release(deployment, 60))
    assert again.status == "idle"
    assert (Order.objects.count(), Trade.objects.count(), EquitySnapshot.objects.count()) == counts


def test_stopping_a_basket_with_square_off_flattens_every_member(user, basket):
    strategy, _ = basket
    deployment = deploy(strategy, feed="replay", seconds_per_bar=1.0)
    for k in range(1, 31):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    services.strategy_stop(strategy=strategy, actor=user, square_off=True)
    for k in range(31, 34):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    assert live_of(deployment).phase == LivePhase.DONE
    assert [p.quantity for p in Position.objects.filter(deployment=deployment)] == [0, 0]
    assert not Order.objects.filter(deployment=deployment, status__in=["OPEN", "PENDING"]).exists()
    assert_event_chains(deployment)


def test_a_basket_step_that_dies_before_commit_leaves_nothing_and_is_redone(
    user, basket, monkeypatch
):
    """Crash safety: everything a step wrote for every member rolls back together, and the
    next step replays those bars to the backtest's result."""
    import execution.services.live as live_module

    strategy, instruments = basket
    deployment = deploy(strategy, feed="replay", seconds_per_bar=1.0)
    real_pause = live_module._pause_point
    crashed = []

    def crash(name):
        if not crashed:
            crashed.append(name)
            raise RuntimeError("worker died before commit")
        real_pause(name)

    monkeypatch.setattr(live_module, "_pause_point", crash)
    k = 0
    while not crashed:  # step until a step with orders dies
        k += 1
        before = (Order.objects.count(), EquitySnapshot.objects.count(), live_of(deployment))
        outcome = deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    assert outcome.status == "failed"
    live = live_of(deployment)
    assert (Order.objects.count(), EquitySnapshot.objects.count()) == before[:2]
    assert (live.cursor_ts, live.engine_state) == (before[2].cursor_ts, before[2].engine_state)
    assert live.failures == 1

    for j in range(k, N_BARS + 1):
        assert deployment_step(deployment_id=deployment.pk, now=_release(deployment, j)).status == (
            "stepped"
        )
    _assert_same_as_backtest(deployment, instruments)
