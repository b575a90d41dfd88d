"""A ``feed: "broker"`` deployment steps on the one-minute bars the ticker stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from unittest import mock

import pytest

from algosaas.errors import DomainError
from execution.marketdata.minutebars import MinuteBar
from execution.models import Bar, DeploymentState, Feed, Trade
from execution.services.broker_data import minute_bars_write
from execution.services.live import deployment_step
from execution.tests.live.conftest import deploy, make_strategy
from strategies.tests.factories import seeded_instrument

pytestmark = pytest.mark.django_db

# Friday 4 Dec 2026, 10:30 IST: in NSE's session
T0 = int(datetime(2026, 12, 4, 5, 0, tzinfo=UTC).timestamp())
OPEN = int(datetime(2026, 12, 4, 3, 45, tzinfo=UTC).timestamp())  # 09:15 IST


def _write(inst, start: int, prices: list[str]) -> None:
    """What the ticker writes: one bar per minute from ``start`` (open = close of the last)."""
    bars = []
    for i, p in enumerate(prices):
        c = D(p)
        o = c - D("0.5") if i else c
        bars.append((inst, MinuteBar(0, start + 60 * i, o, max(o, c), min(o, c), c, 100)))
    minute_bars_write(bars)


def _deploy(user, timeframe="1m"):
    inst = seeded_instrument("RELIANCE")
    inst.kite_token = 738561
    inst.save(update_fields=["kite_token"])
    # the session so far, drifting down (the warm-up): the fast average is below the slow
    _write(inst, OPEN, [str(1100 - D("0.5") * i) for i in range((T0 - OPEN) // 60)])
    strategy = make_strategy(user, timeframe=timeframe, quantity=10, product="MIS")
    with mock.patch("django.utils.timezone.now", return_value=datetime.fromtimestamp(T0, UTC)):
        deployment = deploy(strategy, feed="broker")
    return inst, deployment


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def test_a_broker_feed_deployment_trades_the_tickers_bars(user):
    inst, deployment = _deploy(user)
    live = DeploymentState.objects.get(pk=deployment.pk)
    assert live.feed == Feed.BROKER and live.cursor_ts == T0 - 60
    assert live.engine_config["calendar"] is not None  # NSE's session (MIS square-off)

    # no new minute stored yet: the step waits, and polls again soon
    assert deployment_step(deployment_id=deployment.pk, now=_at(T0 + 61)).status == "idle"
    # the ticker stores 10:30 and 10:31: prices turn up, the fast average crosses the slow
    _write(inst, T0, ["1070", "1080", "1090"])
    out = deployment_step(deployment_id=deployment.pk, now=_at(T0 + 181))
    assert (out.status, out.bars) == ("stepped", 3)
    trades = list(Trade.objects.filter(deployment=deployment))
    assert len(trades) == 1
    fill_bar = Bar.objects.get(instrument=inst, timeframe="1m", ts=_at(T0 + 60))
    assert trades[0].side == "BUY" and trades[0].quantity == 10
    assert trades[0].price == fill_bar.open  # the signal bar's next bar opens the position
    live.refresh_from_db()
    assert live.cursor_ts == T0 + 120
    # a re-run of the same step finds nothing new
    assert deployment_step(deployment_id=deployment.pk, now=_at(T0 + 181)).status == "idle"


def test_a_five_minute_bar_waits_for_its_last_minute(user):
    inst, deployment = _deploy(user, timeframe="5m")
    live = DeploymentState.objects.get(pk=deployment.pk)
    assert live.cursor_ts == T0 - 300
    _write(inst, T0, ["1001", "1002", "1003", "1004"])  # 10:30-10:33 of the 10:30 bucket
    # the bucket has ended but its 10:34 minute may still come: not released
    assert deployment_step(deployment_id=deployment.pk, now=_at(T0 + 301)).status == "idle"
    _write(inst, T0 + 240, ["1005"])
    out = deployment_step(deployment_id=deployment.pk, now=_at(T0 + 302))
    assert (out.status, out.bars) == ("stepped", 1)
    live.refresh_from_db()
    assert live.cursor_ts == T0
    # a bucket whose last minute never comes (a quiet market) is released after the grace
    _write(inst, T0 + 300, ["1006"])
    assert deployment_step(deployment_id=deployment.pk, now=_at(T0 + 610)).status == "idle"
    assert deployment_step(deployment_id=deployment.pk, now=_at(T0 + 700)).bars == 1


def test_deploying_an_instrument_without_a_broker_token_is_refused(user):
    strategy = make_strategy(user, timeframe="1m")
    with pytest.raises(DomainError) as err:
        deploy(strategy, feed="broker")
    assert "feed" in err.value.fields
    assert not DeploymentState.objects.exists()


def test_resample_groups_minutes_into_buckets():
    import numpy as np

    from execution.engine.bars import BarSeries
    from execution.marketdata.sources import resample

    ts = np.array([0, 60, 120, 300, 360], dtype=np.int64)
    m = BarSeries(
        ts=ts,
        open=np.array([1.0, 2, 3, 4, 5]),
        high=np.array([2.0, 9, 4, 5, 6]),
        low=np.array([0.5, 1, 2, 3, 1]),
        close=np.array([1.5, 2.5, 3.5, 4.5, 5.5]),
        volume=np.array([1.0, 2, 3, 4, 5]),
    )
    r = resample(m, 300)
    assert list(r.ts) == [0, 300]
    assert list(r.open) == [1, 4] and list(r.high) == [9, 6] and list(r.low) == [0.5, 1]
    assert list(r.close) == [3.5, 5.5] and list(r.volume) == [6, 9]
    assert timedelta(seconds=int(r.ts[1])) == timedelta(minutes=5)


def test_the_api_refuses_a_broker_feed_without_a_token_with_a_4xx_naming_feed(api_client, user):
    strategy = make_strategy(user, timeframe="1m")
    r = api_client.post(f"/api/strategies/{strategy.pk}/deploy/", {"feed": "broker"},
                        format="json")  # fmt: skip
    assert 400 <= r.status_code < 500
    assert "feed" in str(r.json())
    inst = seeded_instrument("RELIANCE")
    inst.kite_token = 738561
    inst.save(update_fields=["kite_token"])
    r = api_client.post(f"/api/strategies/{strategy.pk}/deploy/", {"feed": "broker"},
                        format="json")  # fmt: skip
    assert r.status_code == 201
    assert DeploymentState.objects.get(pk=r.json()["id"]).feed == Feed.BROKER
