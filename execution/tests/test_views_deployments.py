"""The deployment pages: the live page and its polled partials, the order ticket, cancel, stop.

Every button goes through the services the API uses (``order_place``, ``order_cancel``,
``strategy_stop``); the pages show what they answer, refusals included.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from execution.models import EquitySnapshot, Order, OrderEvent, Position, Trade
from execution.services.live import deployment_step, order_place
from strategies import services
from strategies.models import Deployment, DeploymentStatus, StrategyStatus
from strategies.tests.factories import StrategyFactory, seeded_instrument

HTMX = {"HTTP_HX_REQUEST": "true"}
FAR_BELOW = Decimal("1.00")  # a buy limit no bar of the synthetic feed reaches


def make_strategy(owner, **overrides):
    fields = {
        "owner": owner,
        "name": "RELIANCE 5s quiet",
        # Extreme RSI levels: the strategy itself (practically) never trades, so every order,
        # fill and position in these tests comes from the manual ticket.
        "strategy_type": "rsi_reversion",
        "params": {"period": 100, "oversold": 1.0, "overbought": 99.0, "mode": "long_only"},
        "instrument": seeded_instrument("RELIANCE"),
        "timeframe": "5s",
        "quantity": 10,
        "allocation_pct": None,
        "product": "MIS",
        "capital": Decimal("100000.00"),
    }
    fields.update(overrides)
    return StrategyFactory(**fields)


def deploy(strategy) -> Deployment:
    deployment = services.strategy_deploy(strategy=strategy, actor=strategy.owner)
    deployment.refresh_from_db()
    return deployment


def step_ahead(deployment, seconds: int = 30):
    """Process the bars that will have closed ``seconds`` from now (the feed is synthetic)."""
    return deployment_step(
        deployment_id=deployment.pk, now=timezone.now() + timedelta(seconds=seconds)
    )


def toast_of(response) -> dict:
    return json.loads(response["HX-Trigger"])["toast"]


def triggers(response) -> dict:
    return json.loads(response["HX-Trigger"])


def ticket(**overrides) -> dict[str, str]:
    data = {"side": "BUY", "order_type": "MARKET", "quantity": "10", "validity": "DAY"}
    data.update(overrides)
    return data


@pytest.fixture
def strategy(user):
    return make_strategy(user)


@pytest.fixture
def deployment(strategy):
    return deploy(strategy)


@pytest.fixture
def owner_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def traded(deployment):
    """A run with a filled manual buy (a position, a trade, events) and a resting limit."""
    step_ahead(deployment, seconds=10)  # a market price to trade at
    order_place(deployment=deployment, side="BUY", order_type="MARKET", quantity=10)
    step_ahead(deployment, seconds=40)
    resting = order_place(
        deployment=deployment, side="BUY", order_type="LIMIT", quantity=10, price=FAR_BELOW
    )
    return deployment, resting


# --- access ---------------------------------------------------------------------------------


def _get_urls(d):
    return [
        reverse("deployment_list"),
        reverse("deployment_detail", args=[d.pk]),
        reverse("deployment_live", args=[d.pk]),
        reverse("deployment_equity", args=[d.pk]),
    ]


def _post_urls(d):
    return [reverse("deployment_order_place", args=[d.pk]), reverse("deployment_stop", args=[d.pk])]


def test_pages_require_login(client, deployment):
    for url in _get_urls(deployment) + _post_urls(deployment):
        response = (
            client.get(url) if "orders" not in url and "stop" not in url else client.post(url)
        )
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login")), url


def test_another_users_deployment_is_404_and_untouched(client, other_user, traded):
    deployment, resting = traded
    client.force_login(other_user)
    for url in _get_urls(deployment)[1:]:
        assert client.get(url).status_code == 404, url
    for url in _post_urls(deployment):
        assert client.post(url, ticket(), **HTMX).status_code == 404, url
    assert client.post(reverse("order_cancel", args=[resting.pk]), **HTMX).status_code == 404
    resting.refresh_from_db()
    assert resting.status == "OPEN"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.RUNNING
    assert Order.objects.filter(deployment=deployment).count() == 2
    body = client.get(reverse("deployment_list")).content.decode()
    assert reverse("deployment_detail", args=[deployment.pk]) not in body


# --- the page and its partials --------------------------------------------------------------


def test_detail_page_renders_tiles_chart_and_polls(owner_client, traded):
    deployment, _ = traded
    response = owner_client.get(reverse("deployment_detail", args=[deployment.pk]))
    body = response.content.decode()
    assert response.status_code == 200
    for tile in ("equity", "realised", "unrealised", "charges", "open-orders"):
        assert f'data-tile="{tile}"' in body
    assert f'hx-get="{reverse("deployment_live", args=[deployment.pk])}"' in body
    assert "every 3s" in body
    assert 'data-chart="live-equity"' in body
    match = re.search(r'<script id="equity-data" type="application/json">(.*?)</script>', body)
    data = json.loads(match.group(1))
    assert data["live"] is True
    assert data["url"] == reverse("deployment_equity", args=[deployment.pk])
    assert len(data["points"]) == EquitySnapshot.objects.filter(deployment=deployment).count() > 0
    assert 'id="order-ticket"' in body and "Stop this run" in body
    assert "Synthetic live feed" in body


def test_live_partial_renders_positions_open_orders_orders_trades_and_events(owner_client, traded):
    deployment, resting = traded
    position = Position.objects.get(deployment=deployment)
    trade = Trade.objects.get(deployment=deployment)
    assert position.quantity == 10

    response = owner_client.get(reverse("deployment_live", args=[deployment.pk]), **HTMX)
    body = response.content.decode()
    assert response.status_code == 200
    # The tiles swap in place; the rest comes out of band.
    assert body.lstrip().startswith('<div id="live-tiles"')
    for region in ("live-book", "live-history", "deployment-status"):
        assert re.search(rf'id="{region}"[^>]*hx-swap-oob="true"', body), region
    assert 'id="controls"' not in body  # the ticket keeps what the user is typing
    # Positions with unrealised P&L.
    book = body.split('id="live-book"')[1].split('id="live-history"')[0]
    assert "NSE:RELIANCE" in book and ">10<" in book
    assert re.search(r'class="num strong (up|down|zero)"', book)
    # Open orders with a cancel button.
    assert f'hx-post="{reverse("order_cancel", args=[resting.pk])}"' in book
    # Orders, trades and events.
    history = body.split('id="live-history"')[1]
    assert f"#{resting.pk}" in history
    assert f"order #{trade.order_id}" in history
    assert "₹1.00" in history
    assert OrderEvent.objects.filter(order__deployment=deployment, trigger="FILL").exists()
    assert "FILL" in history and "Complete" in history


def test_live_partial_queries_are_bounded(owner_client, traded, django_assert_max_num_queries):
    deployment, _ = traded
    for _ in range(5):
        order_place(
            deployment=deployment, side="BUY", order_type="LIMIT", quantity=10, price=FAR_BELOW
        )
    with django_assert_max_num_queries(16):
        owner_client.get(reverse("deployment_live", args=[deployment.pk]), **HTMX)


def test_equity_endpoint_returns_points_after_since(owner_client, deployment):
    step_ahead(deployment, seconds=60)
    points = list(EquitySnapshot.objects.filter(deployment=deployment).order_by("ts"))
    assert len(points) > 3
    url = reverse("deployment_equity", args=[deployment.pk])
    body = owner_client.get(url).json()
    assert body["live"] is True
    assert [p[0] for p in body["points"]] == [int(p.ts.timestamp()) for p in points]
    assert body["points"][-1][1] == float(points[-1].equity)
    since = int(points[1].ts.timestamp())
    newer = owner_client.get(url, {"since": since}).json()["points"]
    assert [p[0] for p in newer] == [int(p.ts.timestamp()) for p in points[2:]]
    assert owner_client.get(url, {"since": "yesterday"}).status_code == 400


# --- the order ticket -----------------------------------------------------------------------


def test_ticket_places_a_manual_order_through_the_service(owner_client, deployment):
    step_ahead(deployment, seconds=10)
    url = reverse("deployment_order_place", args=[deployment.pk])
    response = owner_client.post(url, ticket(side="SELL", quantity="20"), **HTMX)
    assert response.status_code == 200
    order = Order.objects.get(deployment=deployment)
    assert (order.side, order.order_type, order.quantity, order.source) == (
        "SELL",
        "MARKET",
        20,
        "manual",
    )
    assert order.status in ("PENDING", "OPEN")
    toast = toast_of(response)
    assert toast["level"] == "success" and f"Order #{order.pk} placed" in toast["message"]
    assert "deployment-refresh" in triggers(response)  # the live region refreshes at once
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card ticket" id="order-ticket"')
    assert 'value="SELL"' in body and "checked" in body


def test_ticket_shows_field_errors_for_a_limit_without_price(owner_client, deployment):
    url = reverse("deployment_order_place", args=[deployment.pk])
    response = owner_client.post(url, ticket(order_type="LIMIT"), **HTMX)
    assert response.status_code == 200
    assert "price" in response.context["ticket"].errors
    body = response.content.decode()
    assert "A LIMIT order needs a price." in body
    assert 'class="field has-error"' in body
    assert toast_of(response)["level"] == "warning"  # the errors themselves are inline
    assert not Order.objects.exists()

    response = owner_client.post(url, ticket(order_type="SL", price="100"), **HTMX)
    assert "A SL order needs a trigger price." in response.content.decode()
    response = owner_client.post(url, ticket(quantity="0"), **HTMX)
    assert "quantity" in response.context["ticket"].errors
    assert not Order.objects.exists()


def test_ticket_limit_order_with_price_rests_open(owner_client, deployment):
    url = reverse("deployment_order_place", args=[deployment.pk])
    response = owner_client.post(
        url, ticket(order_type="LIMIT", price=str(FAR_BELOW), validity="DAY"), **HTMX
    )
    assert response.status_code == 200
    order = Order.objects.get()
    assert (order.order_type, order.price, order.status) == ("LIMIT", FAR_BELOW, "OPEN")


def test_ticket_on_a_stopped_deployment_is_refused_with_a_toast(owner_client, deployment):
    services.strategy_stop(strategy=deployment.strategy, actor=deployment.strategy.owner)
    url = reverse("deployment_order_place", args=[deployment.pk])
    response = owner_client.post(url, ticket(), **HTMX)
    assert response.status_code == 409
    toast = toast_of(response)
    assert toast["level"] == "error" and "not running" in toast["message"]
    assert not Order.objects.exists()


def test_ticket_without_htmx_redirects_with_a_message(owner_client, deployment):
    url = reverse("deployment_order_place", args=[deployment.pk])
    response = owner_client.post(url, ticket(order_type="LIMIT", price=str(FAR_BELOW)), follow=True)
    assert response.redirect_chain[-1][0] == reverse("deployment_detail", args=[deployment.pk])
    assert any("placed" in str(m) for m in response.context["messages"])
    assert Order.objects.count() == 1


def test_an_order_the_broker_rejects_is_reported_as_a_refusal(owner_client, deployment):
    # Before the first step the paper broker has no price to fill a market order at.
    url = reverse("deployment_order_place", args=[deployment.pk])
    response = owner_client.post(url, ticket(), **HTMX)
    assert response.status_code == 200
    order = Order.objects.get()
    assert order.status == "REJECTED"
    toast = toast_of(response)
    assert toast["level"] == "error"
    assert "rejected" in toast["message"] and order.status_message in toast["message"]


# --- cancel and stop ------------------------------------------------------------------------


def test_cancel_button_cancels_through_the_service(owner_client, traded):
    _deployment, resting = traded
    url = reverse("order_cancel", args=[resting.pk])
    response = owner_client.post(url, **HTMX)
    assert response.status_code == 200
    resting.refresh_from_db()
    assert resting.status == "CANCELLED"
    assert toast_of(response)["level"] == "success"
    assert "deployment-refresh" in triggers(response)

    again = owner_client.post(url, **HTMX)
    assert again.status_code == 409
    assert toast_of(again)["level"] == "error"
    assert "Not cancelled" in toast_of(again)["message"]


def test_stop_button_stops_the_run_and_polling_ends(owner_client, traded):
    deployment, resting = traded
    response = owner_client.post(
        reverse("deployment_stop", args=[deployment.pk]), {"square_off": "on"}, **HTMX
    )
    assert response.status_code == 200
    assert toast_of(response)["level"] == "success"
    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.STOPPED and deployment.square_off
    assert deployment.strategy.status == StrategyStatus.STOPPED
    resting.refresh_from_db()
    assert resting.status == "CANCELLED"
    body = response.content.decode()
    assert 'id="controls"' in body and "Stop this run" not in body

    # Squaring off: the live region keeps polling until the square-off order fills.
    live = owner_client.get(reverse("deployment_live", args=[deployment.pk]), **HTMX)
    assert "every 3s" in live.content.decode()
    step_ahead(deployment, seconds=60)
    live = owner_client.get(reverse("deployment_live", args=[deployment.pk]), **HTMX)
    body = live.content.decode()
    assert "every 3s" not in body  # the final refresh: no more polling
    assert re.search(r'id="controls"[^>]*hx-swap-oob="true"', body)
    assert Position.objects.get(deployment=deployment).quantity == 0
    assert (
        owner_client.get(reverse("deployment_equity", args=[deployment.pk])).json()["live"] is False
    )

    again = owner_client.post(reverse("deployment_stop", args=[deployment.pk]), **HTMX)
    assert again.status_code == 409 and toast_of(again)["level"] == "error"


def test_stop_of_an_old_run_never_stops_the_new_one(owner_client, strategy):
    old = deploy(strategy)
    services.strategy_stop(strategy=strategy, actor=strategy.owner)
    new = deploy(strategy)
    response = owner_client.post(reverse("deployment_stop", args=[old.pk]), **HTMX)
    assert response.status_code == 409
    new.refresh_from_db()
    assert new.status == DeploymentStatus.RUNNING


def test_stopped_run_page_does_not_poll(owner_client, deployment):
    services.strategy_stop(strategy=deployment.strategy, actor=deployment.strategy.owner)
    body = owner_client.get(reverse("deployment_detail", args=[deployment.pk])).content.decode()
    assert "every 3s" not in body
    assert "Orders can only be placed while the run is live." in body


# --- list -----------------------------------------------------------------------------------


def test_list_shows_runs_with_pnl_and_filters_by_status(owner_client, user, deployment):
    stopped = deploy(make_strategy(user, name="Old run"))
    services.strategy_stop(strategy=stopped.strategy, actor=user)
    body = owner_client.get(reverse("deployment_list")).content.decode()
    assert reverse("deployment_detail", args=[deployment.pk]) in body
    assert reverse("deployment_detail", args=[stopped.pk]) in body
    assert "₹1,00,000.00" in body
    body = owner_client.get(
        reverse("deployment_list"),
        {"status": "STOPPED"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="deployment-results",
    ).content.decode()
    assert body.lstrip().startswith('<div id="deployment-results">')
    assert reverse("deployment_detail", args=[deployment.pk]) not in body
    assert reverse("deployment_detail", args=[stopped.pk]) in body


def test_list_queries_do_not_grow_with_deployments(owner_client, user):
    for i in range(2):
        deploy(make_strategy(user, name=f"A{i}"))
    with CaptureQueriesContext(connection) as two:
        owner_client.get(reverse("deployment_list"))
    for i in range(6):
        deploy(make_strategy(user, name=f"B{i}"))
    with CaptureQueriesContext(connection) as eight:
        owner_client.get(reverse("deployment_list"))
    assert len(two.captured_queries) == len(eight.captured_queries)
