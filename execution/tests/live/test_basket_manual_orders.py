"""Manual orders on a basket deployment: each names its member and trades that member's book.

The basket is the replay one of ``test_basket_replay`` (two members whose bar times differ,
caps adding up to 200 % so they share the pool). A manual order routed to a member fills on
that member's bars only, moves that member's position only, and an order placed, changed and
cancelled before the next step leaves the replay equal to the basket's backtest bar for bar.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from algosaas.errors import DomainError
from execution.models import Order, Position, Trade
from execution.selectors import bar_series
from execution.services.live import deployment_step, order_cancel, order_modify, order_place
from execution.services.marketdata import instrument_get_or_create
from execution.tests.live.conftest import assert_event_chains, deploy, live_of
from execution.tests.live.test_basket_replay import (  # noqa: F401 (the fixture)
    N_BARS,
    _assert_same_as_backtest,
    _release,
    basket,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(request, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MARKET_PROTECTION_PCT": None}
    strategy, instruments = request.getfixturevalue("basket")
    return deploy(strategy, feed="replay", seconds_per_bar=1.0), instruments


def _clock(monkeypatch, when: datetime) -> None:
    monkeypatch.setattr("execution.services.live_orders.timezone.now", lambda: when)


def _mid(deployment, k: int) -> datetime:
    """Half way through the replay's k-th bar (k bars released before it)."""
    return datetime.fromtimestamp(live_of(deployment).replay_origin_ts + k + 0.5, UTC)


def test_a_market_order_on_a_member_fills_on_that_members_next_bar(run, monkeypatch):
    deployment, (a, b) = run
    for k in range(1, 21):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    _clock(monkeypatch, _mid(deployment, 20))  # bar 20 in progress: the order waits for 21

    order = order_place(
        deployment=deployment, side="BUY", order_type="MARKET", quantity=3,
        product="MIS", instrument="BASKETB",
    )  # fmt: skip

    assert (order.instrument_id, order.source, order.status) == (b.pk, "manual", "OPEN")
    deployment_step(deployment_id=deployment.pk, now=_release(deployment, 23))
    order.refresh_from_db()
    fill = Trade.objects.get(order=order)
    history = bar_series(instrument=b, timeframe="1m")
    assert order.status == "COMPLETE" and fill.quantity == 3
    # B has no bar at minutes 17 and 18: minute 21 is its bar 19
    first = int(fill.executed_at.timestamp())
    assert first == int(history.ts[19]) and fill.price == Decimal(repr(float(history.open[19])))
    for inst in (a, b):  # each member's position is the net of its own trades
        net = sum(
            t.quantity if t.side == "BUY" else -t.quantity
            for t in Trade.objects.filter(deployment=deployment, order__instrument=inst)
        )
        assert Position.objects.get(deployment=deployment, instrument=inst).quantity == net
    assert not Order.objects.filter(instrument=a, source="manual").exists()
    assert_event_chains(deployment)


def test_an_order_placed_changed_and_cancelled_between_steps_keeps_the_replay_parity(
    run, monkeypatch
):
    """The member's book and state go through the manual calls and come back as they were:
    the replay still equals the basket's backtest bar for bar."""
    deployment, instruments = run
    for k in range(1, 31):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    _clock(monkeypatch, _mid(deployment, 30))
    b = instruments[1]
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=2,
        price=Decimal("1.00"), product="MIS", instrument=str(b.pk),
    )  # fmt: skip
    assert (order.status, order.instrument_id) == ("OPEN", b.pk)
    order = order_modify(order=order, price=Decimal("1.50"))
    assert order.price == Decimal("1.50") and order.status == "OPEN"
    order = order_cancel(order=order)
    assert order.status == "CANCELLED"

    for k in range(31, N_BARS + 1):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))

    _assert_same_as_backtest(deployment, instruments)
    assert Order.objects.filter(deployment=deployment, source="manual").count() == 1


def test_a_resting_order_is_cancelled_on_its_own_members_book(run, monkeypatch):
    deployment, (a, _) = run
    for k in range(1, 11):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    _clock(monkeypatch, _mid(deployment, 10))
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=1,
        price=Decimal("1.00"), product="MIS", instrument="NSE:BASKETA",
    )  # fmt: skip
    for k in range(11, 16):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    order.refresh_from_db()
    assert (order.instrument_id, order.status) == (a.pk, "OPEN")  # survived the steps

    _clock(monkeypatch, _mid(deployment, 15))
    assert order_cancel(order=order).status == "CANCELLED"
    deployment_step(deployment_id=deployment.pk, now=_release(deployment, 20))
    order.refresh_from_db()
    assert order.status == "CANCELLED" and not Trade.objects.filter(order=order).exists()
    assert_event_chains(deployment)


@pytest.mark.parametrize("instrument", [None, "", "NOPE", "NSE:BASKETC", "999999"])
def test_an_order_naming_no_member_is_refused_naming_the_field(run, instrument):
    deployment, _ = run
    instrument_get_or_create(exchange="NSE", symbol="BASKETC", tick_size=Decimal("0.05"))
    deployment_step(deployment_id=deployment.pk, now=_release(deployment, 3))
    with pytest.raises(DomainError) as err:
        order_place(
            deployment=deployment, side="BUY", order_type="MARKET", quantity=1,
            product="MIS", instrument=instrument,
        )  # fmt: skip
    assert err.value.status_code == 400 and "instrument" in err.value.fields
    assert not Order.objects.filter(deployment=deployment, source="manual").exists()
