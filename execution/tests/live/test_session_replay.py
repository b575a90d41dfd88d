"""A replay of intraday NSE bars follows the session exactly as a backtest of them does.

Minute bars of two sessions, with bars after the close that must be skipped, are replayed bar
by bar: the MIS square-off happens at 15:20 IST each day with the same orders and fills as the
backtest, and a DAY order that never fills expires at the session close.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from execution.engine.charges import IndiaEquityCharges
from execution.engine.runner import Engine
from execution.engine.session import session_only
from execution.marketdata.csvbars import ParsedBar
from execution.models import EquitySnapshot, Order, Trade
from execution.selectors import bar_series
from execution.services.engine_setup import engine_config, session_calendar
from execution.services.live import _dt, deployment_step
from execution.services.live_orders import order_place
from execution.services.marketdata import bars_import, instrument_get_or_create
from execution.tests.live.conftest import deploy, live_of, make_strategy
from strategies import catalog

pytestmark = pytest.mark.django_db

IST = ZoneInfo("Asia/Kolkata")
TICK = Decimal("0.05")
DAYS = (21, 22)  # Monday and Tuesday, 21-22 Dec 2026
PER_DAY = 75  # 14:30 .. 15:44 IST; 60 of them (to 15:29) in session
IN_SESSION = 2 * 60


def _tick(x: float) -> Decimal:
    return (Decimal(repr(x)) / TICK).quantize(Decimal("1")) * TICK


@pytest.fixture
def instrument(db):
    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol="MISREPLAY", tick_size=TICK, lot_size=1
    )
    rng = np.random.default_rng(20261221)
    price, bars = 500.0, []
    for day in DAYS:
        start = datetime(2026, 12, day, 14, 30, tzinfo=IST)
        for i in range(PER_DAY):
            close = price * float(np.exp(rng.normal(0, 0.004)))
            o, c = _tick(price), _tick(close)
            h, lo = max(o, c) + TICK, min(o, c) - TICK
            bars.append(ParsedBar(start + timedelta(minutes=i), o, h, lo, c, 50_000))
            price = float(c)
    assert bars_import(instrument=instrument, timeframe="1m", bars=bars) == 2 * PER_DAY
    return instrument


def _release(deployment, k: int) -> datetime:
    live = live_of(deployment)
    return _dt(live.replay_origin_ts + k * live.replay_seconds_per_bar)


def _replay(user, instrument, **fields):
    strategy = make_strategy(user, instrument=instrument, timeframe="1m", **fields)
    return deploy(strategy, feed="replay", seconds_per_bar=1.0)


def _backtest(deployment, instrument):
    config = engine_config(
        snapshot=deployment.config,
        capital=deployment.capital,
        charges=IndiaEquityCharges(),
        prefix=f"d{deployment.pk}",
        seed=deployment.pk,
        calendar=session_calendar(exchange="NSE", timeframe="1m"),
    )
    stype = catalog.get(deployment.config["strategy_type"])
    bars = session_only(bar_series(instrument=instrument, timeframe="1m"), config.calendar)
    return Engine(config, stype, deployment.config["params"]).run(bars)


def _ist(ts: int) -> tuple[int, int, int]:
    t = datetime.fromtimestamp(ts, IST)
    return t.day, t.hour, t.minute


def test_mis_square_off_in_a_replay_is_the_backtests(user, instrument):
    deployment = _replay(user, instrument)
    statuses = [
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k)).status
        for k in range(1, IN_SESSION + 1)
    ]
    assert statuses == ["stepped"] * IN_SESSION  # the bars after 15:30 are never replayed
    later = deployment_step(deployment_id=deployment.pk, now=_release(deployment, 2 * PER_DAY))
    assert later.status == "idle"

    ref = _backtest(deployment, instrument)
    squares = [r for r in ref.orders if r.client_order_id.endswith("-mis")]
    assert [_ist(r.created_ts) for r in squares] == [(d, 15, 20) for d in DAYS]

    orders = list(Order.objects.filter(deployment=deployment).order_by("id"))
    assert [
        (o.client_order_id, o.side, o.quantity, o.status, o.average_price,
         int(o.created_at.timestamp()))
        for o in orders
    ] == [
        (r.client_order_id, r.side, r.quantity, r.status, Decimal(repr(r.average_price))
         .quantize(Decimal("0.0001")), r.created_ts)
        for r in ref.orders
    ]  # fmt: skip
    fills = Trade.objects.filter(deployment=deployment, order__client_order_id__endswith="-mis")
    assert sorted(_ist(int(t.executed_at.timestamp())) for t in fills) == [
        (d, 15, 20) for d in DAYS
    ]
    snaps = EquitySnapshot.objects.filter(deployment=deployment)
    assert snaps.count() == IN_SESSION
    for s in snaps:
        _d, h, m = _ist(int(s.ts.timestamp()))
        assert (14, 30) <= (h, m) < (15, 30)
        if (h, m) >= (15, 20):
            assert s.position_value == 0  # flat from the square-off to the close


def test_a_day_order_expires_at_the_session_close(user, instrument):
    deployment = _replay(user, instrument, product="CNC", params={"fast": 2, "slow": 5})
    order = order_place(
        deployment=deployment,
        side="BUY",
        order_type="LIMIT",
        quantity=1,
        price=Decimal("1.00"),  # far below the market: it never fills
        validity="DAY",
    )
    for k in range(1, IN_SESSION + 1):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    order.refresh_from_db()
    assert order.status == "EXPIRED"
    assert _ist(int(order.updated_at.timestamp())) == (21, 15, 30)
