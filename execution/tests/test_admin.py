"""The operators' admin for execution: read-only books, and two actions through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from execution.models import DeploymentState, Order, OrderEvent, Position, Trade
from execution.services.live import order_place
from execution.tests.live.conftest import deploy, live_of, make_strategy, step
from strategies import services
from strategies.models import DeploymentStatus, StrategyEvent, StrategyStatus
from strategies.tests.factories import seeded_instrument
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ORDERS = "/admin/execution/order/"
STATES = "/admin/execution/deploymentstate/"


@pytest.fixture
def operator(db):
    return UserFactory(is_staff=True, is_superuser=True, email="ops@example.com")


@pytest.fixture
def admin_browser(operator) -> Client:
    client = Client()
    client.force_login(operator)
    return client


@pytest.fixture
def books(user, other_user):
    """Two users' running deployments that have traded, each with a resting manual order."""
    alpha = deploy(make_strategy(user, name="Alpha"))
    beta = deploy(make_strategy(other_user, name="Beta", instrument=seeded_instrument("TCS")))
    for d in (alpha, beta):
        step(d, 29)
    rest = {
        d.pk: order_place(
            deployment=d, side="BUY", order_type="LIMIT", quantity=5, price=Decimal("100")
        )
        for d in (alpha, beta)
    }
    return {"alpha": alpha, "beta": beta, "resting": rest}


def shown(response) -> list:
    assert response.status_code == 200
    return list(response.context["cl"].result_list)


def messages_of(response) -> list[tuple[str, str]]:
    return [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]


def test_every_execution_changelist_opens(admin_browser, books):
    for model in (
        "instrument",
        "order",
        "orderevent",
        "trade",
        "position",
        "equitysnapshot",
        "backtest",
        "deploymentstate",
    ):
        response = admin_browser.get(f"/admin/execution/{model}/")
        assert response.status_code == 200, model


def test_order_filters_and_search(admin_browser, books, other_user):
    alpha, beta = books["alpha"], books["beta"]
    titles = {spec.title for spec in admin_browser.get(ORDERS).context["cl"].filter_specs}
    assert {"status", "side", "role", "source", "product"} <= titles

    def ids(**params) -> set[int]:
        return {o.pk for o in shown(admin_browser.get(ORDERS, params))}

    assert (
        ids(status__exact="OPEN")
        == set(Order.objects.filter(status="OPEN").values_list("pk", flat=True))
        == {o.pk for o in books["resting"].values()}
    )
    assert ids(source__exact="manual") == {o.pk for o in books["resting"].values()}
    assert ids(side__exact="SELL") == set(
        Order.objects.filter(side="SELL").values_list("pk", flat=True)
    )
    assert ids(product__exact="MIS") == set(Order.objects.values_list("pk", flat=True))
    some = Order.objects.filter(deployment=alpha, source="strategy").first()
    assert ids(q=some.client_order_id) == {some.pk}
    assert ids(q=some.broker_order_id) >= {some.pk}
    assert ids(q="Beta") == set(Order.objects.filter(deployment=beta).values_list("pk", flat=True))
    assert ids(q=other_user.email) == ids(q="Beta")


def test_an_order_page_shows_its_events_read_only(admin_browser, books):
    order = Order.objects.filter(deployment=books["alpha"], status="COMPLETE").first()

    response = admin_browser.get(f"{ORDERS}{order.pk}/change/")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    assert b"FILL" in response.content and b"ACCEPT" in response.content
    assert admin_browser.get(f"{ORDERS}add/").status_code == 403
    post = admin_browser.post(f"{ORDERS}{order.pk}/change/", {"status": "CANCELLED"})
    assert post.status_code == 403
    assert admin_browser.post(f"{ORDERS}{order.pk}/delete/", {"post": "yes"}).status_code == 403
    order.refresh_from_db()
    assert order.status == "COMPLETE"


@pytest.mark.parametrize(
    ("model", "obj"),
    [
        ("orderevent", lambda: OrderEvent.objects.first()),
        ("trade", lambda: Trade.objects.first()),
        ("position", lambda: Position.objects.first()),
        ("deploymentstate", lambda: DeploymentState.objects.first()),
    ],
)
def test_books_are_read_only(admin_browser, books, model, obj):
    row = obj()
    base = f"/admin/execution/{model}/"
    view = admin_browser.get(f"{base}{row.pk}/change/")
    assert view.status_code == 200 and view.context["has_change_permission"] is False
    assert admin_browser.post(f"{base}{row.pk}/change/", {}).status_code == 403
    assert admin_browser.get(f"{base}add/").status_code == 403
    assert admin_browser.post(f"{base}{row.pk}/delete/", {"post": "yes"}).status_code == 403
    admin_browser.post(
        base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    )
    assert type(row).objects.filter(pk=row.pk).exists()


def test_cancel_selected_orders_goes_through_the_service(admin_browser, books):
    resting = list(books["resting"].values())
    done = Order.objects.filter(status="COMPLETE").first()

    response = admin_browser.post(
        ORDERS,
        {"action": "cancel_selected", "_selected_action": [o.pk for o in resting] + [done.pk]},
        follow=True,
    )

    assert response.status_code == 200
    for order in resting:
        order.refresh_from_db()
        assert order.status == "CANCELLED"
        assert order.events.order_by("-id").values_list("status", "trigger")[0] == (
            "CANCELLED",
            "CANCEL",
        )
    done.refresh_from_db()
    assert done.status == "COMPLETE"
    messages = messages_of(response)
    assert ("success", "Cancelled 2 orders.") in messages
    warnings = [text for level, text in messages if level == "warning"]
    assert len(warnings) == 1 and warnings[0].startswith(done.client_order_id)
    # the broker's book in the engine state knows too: a later step never fills it
    step(books["alpha"], 80)
    assert Order.objects.get(pk=resting[0].pk).filled_quantity == 0


def test_stop_selected_deployments(admin_browser, books, operator, user):
    alpha, beta = books["alpha"], books["beta"]
    old = deploy(make_strategy(user, name="Old"))
    services.strategy_stop(strategy=old.strategy)
    newer = deploy(old.strategy)  # the same strategy runs again: its old row must not stop it

    response = admin_browser.post(
        STATES,
        {"action": "stop_selected", "_selected_action": [alpha.pk, beta.pk, old.pk]},
        follow=True,
    )

    assert response.status_code == 200
    for d in (alpha, beta):
        d.refresh_from_db()
        d.strategy.refresh_from_db()
        assert d.status == DeploymentStatus.STOPPED and d.strategy.status == StrategyStatus.STOPPED
        event = StrategyEvent.objects.filter(strategy=d.strategy).order_by("-id").first()
        assert (event.trigger, event.actor, event.reason) == (
            "stop",
            operator,
            "stopped by an operator",
        )
        assert live_of(d).phase == "DONE"
        resting = books["resting"][d.pk]
        resting.refresh_from_db()
        assert resting.status == "CANCELLED"  # stopping cancelled its open orders
    newer.refresh_from_db()
    assert newer.status == DeploymentStatus.RUNNING
    messages = messages_of(response)
    assert ("success", "Stopped 2 deployments.") in messages
    warnings = [text for level, text in messages if level == "warning"]
    assert len(warnings) == 1 and "STOPPED" in warnings[0]


def test_deployment_state_filters_and_search(admin_browser, books):
    titles = {spec.title for spec in admin_browser.get(STATES).context["cl"].filter_specs}
    assert {"phase", "feed"} <= titles
    assert {s.pk for s in shown(admin_browser.get(STATES, {"q": "Alpha"}))} == {books["alpha"].pk}
    assert {s.pk for s in shown(admin_browser.get(STATES, {"phase__exact": "DONE"}))} == set()
    page = admin_browser.get(f"{STATES}{books['alpha'].pk}/change/")
    assert page.status_code == 200 and b"last error" in page.content.lower()


def test_non_staff_cannot_open_it(user):
    client = Client()
    client.force_login(user)
    response = client.get(ORDERS)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
