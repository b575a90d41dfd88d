"""The live page of a basket run: a position per member with its cap, the basket's total,
and the instrument of every order and trade; no manual ticket (the service refuses one)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from algosaas.errors import DomainError
from execution.models import Order, Position, Trade
from execution.services.live import deployment_step, order_place
from execution.tests.live.conftest import at, deploy, make_strategy
from strategies.baskets import basket_replace
from strategies.tests.factories import seeded_instrument

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def basket_run(user):
    rel, tcs, infy = (seeded_instrument(s) for s in ("RELIANCE", "TCS", "INFY"))
    strategy = make_strategy(user, name="trio", capital=Decimal("300000.00"))
    basket_replace(
        strategy=strategy,
        members=[
            {"instrument": rel, "allocation_pct": Decimal("50")},
            {"instrument": tcs, "allocation_pct": None},
            {"instrument": infy, "allocation_pct": None},
        ],
    )
    deployment = deploy(strategy)
    for k in range(30):
        deployment_step(deployment_id=deployment.pk, now=at(deployment, k))
    return deployment, [rel, tcs, infy]


def test_live_page_shows_each_member_and_the_basket_total(owner_client, basket_run):
    deployment, instruments = basket_run
    assert Order.objects.filter(deployment=deployment).values("instrument").distinct().count() > 1

    body = owner_client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()
    assert "basket of 3: NSE:RELIANCE, NSE:TCS, NSE:INFY" in body
    assert "data-basket-total" in body and "Basket total" in body
    assert "cap 50 %" in body and "cap 33.33 %" in body  # the others: an equal split
    assert "not available yet" in body and 'name="quantity"' not in body

    live = owner_client.get(reverse("deployment_live", args=[deployment.pk]), **HTMX)
    html = live.content.decode()
    positions = [str(p.instrument) for p in Position.objects.filter(deployment=deployment)]
    assert sorted(positions) == sorted(str(i) for i in instruments)
    assert all(html.count(name) >= 1 for name in positions)
    # the orders table names each order's member
    order = Order.objects.filter(deployment=deployment).order_by("-created_at").first()
    row = html[html.index(f"#{order.pk}<") :][:600]
    assert str(order.instrument) in row
    trade = Trade.objects.filter(deployment=deployment).select_related("order__instrument")
    assert f"order #{trade[0].order_id} · {trade[0].order.instrument}" in html


def test_a_manual_order_on_a_basket_is_refused_naming_the_field(basket_run):
    deployment, _ = basket_run
    with pytest.raises(DomainError) as err:
        order_place(
            deployment=deployment, side="BUY", order_type="MARKET", quantity=10, product="MIS"
        )
    assert "instrument" in err.value.fields


def test_the_api_refuses_a_manual_order_on_a_basket_with_a_400(api_client, basket_run):
    deployment, _ = basket_run
    before = Order.objects.filter(deployment=deployment).count()
    resp = api_client.post(
        f"/api/deployments/{deployment.pk}/orders/",
        {"side": "BUY", "order_type": "MARKET", "quantity": 10},
        format="json",
    )
    assert resp.status_code == 400
    assert "instrument" in resp.json()["error"]["fields"]
    assert Order.objects.filter(deployment=deployment).count() == before
