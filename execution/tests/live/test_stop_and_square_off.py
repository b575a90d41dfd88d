"""Stopping a deployment: open orders cancelled at once, optional square-off, then nothing more."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import transaction

from execution.models import DeploymentState, EquitySnapshot, Order, Position, Trade
from execution.services.live import order_place
from execution.tests.live.conftest import (
    assert_books,
    assert_event_chains,
    at,
    bar_ts,
    counts,
    deploy,
    future_bars,
    live_of,
    step,
)
from strategies import services
from strategies.models import Deployment, DeploymentStatus, StrategyStatus

pytestmark = pytest.mark.django_db


def _step_until_holding(deployment, *, pending: bool) -> int:
    """Step bar by bar until the deployment holds a position; return the last bar stepped.

    With ``pending`` the strategy must also have just decided to change it at that close, so
    its order would go out at the next open: the moment a stop must not let it through.
    """
    for k in range(200):
        step(deployment, k)
        state = live_of(deployment).engine_state
        qty = sum(p["qty"] for p in state["ledger"]["positions"])
        if qty and state["pending"] == pending:
            return k
    raise AssertionError("the strategy never held a position")


def _far_limit(deployment) -> Order:
    """A resting manual BUY far below the market: it never fills."""
    order = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
    )
    assert order.status == "OPEN"
    return order


def _strategy_orders_after(deployment, ts: int) -> list[str]:
    """Strategy orders for bars after ``ts`` (their client ids carry the bar's open time)."""
    late = []
    for cid in Order.objects.filter(deployment=deployment).values_list(
        "client_order_id", flat=True
    ):
        m = re.fullmatch(rf"d{deployment.pk}-(\d+)-(e|x)", cid)
        if m and int(m[1]) > ts:
            late.append(cid)
    return late


def test_stop_cancels_open_orders_and_keeps_the_position(deployment, strategy):
    k = _step_until_holding(deployment, pending=False)
    resting = _far_limit(deployment)
    held = Position.objects.get(deployment=deployment).quantity
    stop_cursor = live_of(deployment).cursor_ts

    services.strategy_stop(strategy=strategy, actor=strategy.owner)

    resting.refresh_from_db()
    assert resting.status == "CANCELLED" and resting.filled_quantity == 0
    assert list(resting.events.values_list("status", "trigger")) == [
        ("PENDING", ""),
        ("OPEN", "ACCEPT"),
        ("CANCELLED", "CANCEL"),
    ]
    live = live_of(deployment)
    assert live.phase == "DONE"
    assert not any(o.status in ("OPEN", "PENDING", "TRIGGER_PENDING") for o in Order.objects.all())
    before = counts(deployment)

    for later in (k + 1, k + 5, k + 30):
        assert step(deployment, later).status == "skipped"

    assert counts(deployment) == before
    assert Position.objects.get(deployment=deployment).quantity == held != 0
    assert _strategy_orders_after(deployment, stop_cursor) == []
    assert live_of(deployment).cursor_ts == stop_cursor


def test_the_cancellation_commits_with_the_stop_or_not_at_all(deployment, strategy):
    step(deployment, 3)
    resting = _far_limit(deployment)

    with pytest.raises(RuntimeError), transaction.atomic():
        services.strategy_stop(strategy=strategy, actor=strategy.owner)
        raise RuntimeError("the stop's transaction fails after the runner ran")

    resting.refresh_from_db()
    strategy.refresh_from_db()
    assert resting.status == "OPEN" and resting.events.count() == 2
    assert strategy.status == StrategyStatus.RUNNING
    assert live_of(deployment).phase == "RUNNING"


@pytest.mark.parametrize("pending", [False, True], ids=["quiet", "decision-pending"])
def test_square_off_closes_the_position_at_the_next_open(deployment, strategy, pending):
    k = _step_until_holding(deployment, pending=pending)
    resting = _far_limit(deployment)
    held = Position.objects.get(deployment=deployment).quantity
    stop_cursor = live_of(deployment).cursor_ts
    assert stop_cursor == bar_ts(deployment, k)

    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)

    orders_at_stop = Order.objects.filter(deployment=deployment).count()
    resting.refresh_from_db()
    assert resting.status == "CANCELLED"
    square = Order.objects.get(deployment=deployment, client_order_id__endswith="-sq")
    assert square.client_order_id == f"d{deployment.pk}-{stop_cursor}-sq"  # the legs' format
    assert (square.order_type, square.quantity) == ("MARKET", abs(held))
    assert square.side == ("SELL" if held > 0 else "BUY")
    assert square.status == "OPEN"
    assert live_of(deployment).phase == "SQUARING_OFF"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.STOPPED and deployment.square_off

    # nothing trades until the next step; then the square-off fills at the next bar's open
    outcome = step(deployment, k + 1)

    assert outcome.status == "stepped" and outcome.bars == 1
    square.refresh_from_db()
    next_open = Decimal(repr(float(future_bars(deployment, k + 1, k + 2).open[0])))
    assert square.status == "COMPLETE" and square.average_price == next_open
    fill = Trade.objects.get(order=square)
    assert int(fill.executed_at.timestamp()) == bar_ts(deployment, k + 1)
    assert Position.objects.get(deployment=deployment).quantity == 0
    assert live_of(deployment).phase == "DONE"
    # no strategy order after the stop, even when the strategy had a decision pending
    assert _strategy_orders_after(deployment, stop_cursor) == []
    assert Order.objects.filter(deployment=deployment).count() == orders_at_stop

    assert step(deployment, k + 10).status == "skipped"
    last = EquitySnapshot.objects.filter(deployment=deployment).order_by("-ts").first()
    assert int(last.ts.timestamp()) == bar_ts(deployment, k + 1)
    assert last.position_value == 0
    assert_event_chains(deployment)
    assert_books(deployment)


def test_square_off_while_flat_places_nothing(deployment, strategy):
    step(deployment, 0)
    assert live_of(deployment).engine_state["ledger"]["positions"] == []

    services.strategy_stop(strategy=strategy, actor=strategy.owner, square_off=True)

    assert not Order.objects.filter(deployment=deployment).exists()
    assert live_of(deployment).phase == "DONE"
    assert step(deployment, 20).status == "skipped"
    assert counts(deployment)["orders"] == 0


def test_redeploy_starts_fresh_books(deployment, strategy):
    k = _step_until_holding(deployment, pending=False)
    step(deployment, k + 10)
    services.strategy_stop(strategy=strategy, actor=strategy.owner)
    old = counts(deployment)
    old_position = Position.objects.get(deployment=deployment).quantity

    again = deploy(strategy)

    assert again.pk != deployment.pk and again.number == deployment.number + 1
    assert again.status == DeploymentStatus.RUNNING
    fresh = live_of(again)
    assert fresh.phase == "RUNNING" and fresh.steps == 0
    assert fresh.engine_state["ledger"]["cash"] == float(again.capital)
    assert fresh.engine_state["ledger"]["positions"] == []
    assert counts(again) == {"orders": 0, "events": 0, "trades": 0, "equity": 0}
    assert not Position.objects.filter(deployment=again).exclude(quantity=0).exists()

    step(again, 30)

    assert counts(again)["orders"] > 0
    assert all(
        cid.startswith(f"d{again.pk}-")
        for cid in Order.objects.filter(deployment=again).values_list("client_order_id", flat=True)
    )
    assert counts(deployment) == old  # the old run's books are kept as they were
    assert Position.objects.get(deployment=deployment).quantity == old_position
    assert DeploymentState.objects.get(pk=deployment.pk).phase == "DONE"
    assert Deployment.objects.get(pk=deployment.pk).status == DeploymentStatus.STOPPED


def test_stop_through_the_api_with_square_off(deployment, strategy, api_client):
    k = _step_until_holding(deployment, pending=False)

    response = api_client.post(
        f"/api/strategies/{strategy.pk}/stop/", {"square_off": True}, format="json"
    )

    assert response.status_code == 200 and response.json()["status"] == "STOPPED"
    body = api_client.get(f"/api/deployments/{deployment.pk}/").json()
    assert (body["status"], body["phase"], body["square_off"]) == ("STOPPED", "SQUARING_OFF", True)
    step(deployment, k + 1)
    body = api_client.get(f"/api/deployments/{deployment.pk}/").json()
    assert body["phase"] == "DONE"
    positions = api_client.get(f"/api/deployments/{deployment.pk}/positions/").json()["results"]
    assert [p["quantity"] for p in positions] == [0]


def test_a_step_due_at_the_stop_time_is_not_claimed(deployment, strategy):
    step(deployment, 2)
    services.strategy_stop(strategy=strategy, actor=strategy.owner)
    from execution.services.live import deployments_claim_due

    assert deployments_claim_due(now=at(deployment, 50)) == []
