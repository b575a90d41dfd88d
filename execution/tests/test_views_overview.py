"""The overview: equity and today's P&L of running deployments, recent orders, ERROR call-outs."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from execution.models import EquitySnapshot, Order
from strategies import services
from strategies.models import StrategyStatus
from strategies.tests.factories import StrategyFactory, put_in_status

IST = ZoneInfo("Asia/Kolkata")


def ist_midnight() -> datetime:
    return datetime.combine(timezone.localtime(timezone.now(), IST).date(), time.min, tzinfo=IST)


def snapshot(deployment, at: datetime, equity: str) -> EquitySnapshot:
    value = Decimal(equity)
    return EquitySnapshot.objects.create(
        deployment=deployment, ts=at, cash=value, position_value=Decimal("0"), equity=value
    )


def running_deployment(owner, name: str, capital: str):
    strategy = StrategyFactory(owner=owner, name=name, capital=Decimal(capital))
    return services.strategy_deploy(strategy=strategy, actor=owner)


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


def test_requires_login(client):
    response = client.get(reverse("overview"))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_tiles_sum_equity_and_todays_pnl_across_running_deployments(owner_client, user, other_user):
    midnight = ist_midnight()
    # Run A: ₹1,00,500 at yesterday's last point, ₹1,01,000 now → today +₹500.
    a = running_deployment(user, "Alpha", "100000")
    snapshot(a, midnight - timedelta(hours=5), "100200")
    snapshot(a, midnight - timedelta(minutes=1), "100500")
    snapshot(a, midnight + timedelta(minutes=5), "100800")
    snapshot(a, midnight + timedelta(minutes=10), "101000")
    # Run B: deployed today with ₹2,00,000 (no point before midnight) → today -₹1,200.
    b = running_deployment(user, "Beta", "200000")
    snapshot(b, midnight + timedelta(minutes=7), "198800")
    # Not counted: a stopped run of the user, and another user's running run.
    stopped = running_deployment(user, "Gamma", "50000")
    snapshot(stopped, midnight + timedelta(minutes=3), "90000")
    services.strategy_stop(strategy=stopped.strategy, actor=user)
    theirs = running_deployment(other_user, "Theirs", "100000")
    snapshot(theirs, midnight + timedelta(minutes=3), "777777")

    response = owner_client.get(reverse("overview"))
    assert response.status_code == 200
    ctx = response.context
    assert ctx["running_count"] == 2
    assert ctx["total_equity"] == Decimal("299800.00")
    assert ctx["today_pnl"] == Decimal("-700.00")
    assert ctx["total_pnl"] == Decimal("-200.00")
    by_name = {d.strategy.name: d for d in ctx["running"]}
    assert by_name["Alpha"].today_pnl == Decimal("500.00")
    assert by_name["Beta"].today_pnl == Decimal("-1200.00")

    body = response.content.decode()
    assert "₹2,99,800.00" in body  # lakh grouping
    assert "-₹700.00" in body
    assert "+₹500.00" in body and "-₹1,200.00" in body
    assert reverse("deployment_detail", args=[a.pk]) in body
    assert reverse("deployment_detail", args=[b.pk]) in body
    assert reverse("deployment_detail", args=[stopped.pk]) not in body
    assert "Theirs" not in body and "7,77,777" not in body
    assert "Coming with paper trading" not in body


def test_no_running_deployments_shows_dashes_not_zeros(owner_client, user):
    StrategyFactory(owner=user)
    body = owner_client.get(reverse("overview")).content.decode()
    assert 'data-tile="total-equity">—<' in body
    assert "Nothing is running" in body


def test_recent_orders_are_the_users_newest(owner_client, user, other_user):
    mine = running_deployment(user, "Alpha", "100000")
    theirs = running_deployment(other_user, "Theirs", "100000")
    now = timezone.now()
    for i, d in enumerate([mine, mine, theirs]):
        Order.objects.create(
            deployment=d,
            instrument=d.strategy.instrument,
            client_order_id=f"o{i}",
            side="BUY",
            order_type="LIMIT",
            product="CNC",
            validity="DAY",
            quantity=5 + i,
            price=Decimal("100.00"),
            status="OPEN",
            role="manual",
            created_at=now - timedelta(minutes=i),
            updated_at=now,
        )
    response = owner_client.get(reverse("overview"))
    orders = response.context["recent_orders"]
    assert [o.client_order_id for o in orders] == ["o0", "o1"]
    assert response.context["open_orders"] == 2


def test_error_callouts_stay(owner_client, user):
    strategy = put_in_status(StrategyFactory(owner=user, name="Broken"), StrategyStatus.ERROR)
    body = owner_client.get(reverse("overview")).content.decode()
    assert "needs attention" in body
    assert "broker went away" in body
    assert reverse("strategies:detail", args=[strategy.pk]) in body


def test_overview_queries_are_bounded(owner_client, user, django_assert_max_num_queries):
    for i in range(3):
        d = running_deployment(user, f"S{i}", "100000")
        snapshot(d, ist_midnight() + timedelta(minutes=1), "100100")
    with django_assert_max_num_queries(12):
        owner_client.get(reverse("overview"))
