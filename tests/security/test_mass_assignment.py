"""OWASP API3 (mass assignment): fields the server owns cannot be written through the API.

A strategy's ``owner``, ``status``, ``status_reason``, ``archived_at``, ``created_at``,
``updated_at`` and ``id``, and an order's ``filled_quantity``, ``average_price``,
``broker_order_id``, ``status`` and ``deployment`` are set by the services alone. Another user's
object id in any request body (deployment, strategy, order, owner) reaches nothing of theirs;
an instrument id is fine, instruments are shared. (``PATCH /api/auth/me/`` is covered by
``accounts/tests/test_login.py::test_patch_me_cannot_*``.)
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.forms.models import model_to_dict

from execution.models import Backtest, Instrument, Order, OrderStatusChoices
from strategies.models import Deployment, Strategy, StrategyStatus
from tests.security.conftest import build_estate, make_strategy, snapshot

pytestmark = pytest.mark.django_db

FORGED_TIME = "2000-01-01T00:00:00Z"
SERVER_OWNED_ORDER_FIELDS = ("filled_quantity", "average_price", "broker_order_id", "status")


def forged_strategy_fields(victim) -> dict:
    return {
        "id": 999_999,
        "owner": victim.pk,
        "owner_id": victim.pk,
        "status": StrategyStatus.RUNNING,
        "status_reason": "forged",
        "archived_at": FORGED_TIME,
        "created_at": FORGED_TIME,
        "updated_at": FORGED_TIME,
    }


def row(obj) -> dict:
    obj.refresh_from_db()
    return {**model_to_dict(obj), "created_at": getattr(obj, "created_at", None)}


def assert_server_fields_untouched(strategy: Strategy, before: dict, *, owner) -> None:
    strategy.refresh_from_db()
    assert strategy.owner_id == owner.pk
    for name in ("status", "status_reason", "archived_at", "created_at"):
        assert getattr(strategy, name) == before[name], name
    assert strategy.updated_at.year != 2000
    assert not Strategy.objects.filter(pk=999_999).exists()


# --- Strategies --------------------------------------------------------------------------------


def test_create_ignores_server_owned_fields(user, other_user, api_client):
    instrument = Instrument.objects.get(symbol="RELIANCE")
    body = {
        "name": "Mine",
        "strategy_type": "sma_crossover",
        "params": {"fast": 10, "slow": 20, "mode": "long_only"},
        "instrument": instrument.pk,
        "quantity": 5,
        **forged_strategy_fields(other_user),
    }
    response = api_client.post("/api/strategies/", body, format="json")

    assert response.status_code == 201, response.content
    strategy = Strategy.objects.get(pk=response.json()["id"])
    assert strategy.pk != 999_999
    assert strategy.owner == user
    assert strategy.status == StrategyStatus.INACTIVE
    assert strategy.status_reason == ""
    assert strategy.archived_at is None
    assert strategy.created_at.year != 2000 and strategy.updated_at.year != 2000
    assert not Strategy.objects.filter(owner=other_user).exists()


@pytest.mark.parametrize("method", ["patch", "put"])
def test_update_ignores_server_owned_fields(user, other_user, api_client, method):
    strategy = make_strategy(user, name="Before")
    before = row(strategy)
    body = {"name": "After", **forged_strategy_fields(other_user)}
    if method == "put":
        body |= {
            "strategy_type": strategy.strategy_type,
            "params": strategy.params,
            "instrument": strategy.instrument_id,
            "timeframe": strategy.timeframe,
            "quantity": strategy.quantity,
            "product": strategy.product,
        }

    response = getattr(api_client, method)(f"/api/strategies/{strategy.pk}/", body, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["id"] == strategy.pk
    strategy.refresh_from_db()
    assert strategy.name == "After"  # the request did something, so the forged fields were read
    assert_server_fields_untouched(strategy, before, owner=user)


def test_a_body_of_only_server_owned_fields_changes_nothing(user, other_user, api_client):
    strategy = make_strategy(user)
    before = row(strategy)

    response = api_client.patch(
        f"/api/strategies/{strategy.pk}/", forged_strategy_fields(other_user), format="json"
    )

    assert response.status_code == 200
    after = row(strategy)
    assert {k: v for k, v in after.items() if k != "updated_at"} == before
    assert_server_fields_untouched(strategy, before, owner=user)


def test_a_running_strategy_cannot_be_stopped_or_archived_by_writing_its_status(user, api_client):
    strategy = make_strategy(user)
    api_client.post(f"/api/strategies/{strategy.pk}/deploy/", {}, format="json")
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.RUNNING

    api_client.patch(
        f"/api/strategies/{strategy.pk}/",
        {"status": "STOPPED", "archived_at": FORGED_TIME},
        format="json",
    )

    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.RUNNING
    assert strategy.archived_at is None
    assert Deployment.objects.get(strategy=strategy).status == "RUNNING"


# --- Orders ------------------------------------------------------------------------------------


@pytest.fixture
def two_estates(user, other_user):
    return build_estate(user, marker="Mine"), build_estate(other_user, marker="Theirs")


def forged_order_fields(victim_estate) -> dict:
    return {
        "filled_quantity": 1,
        "average_price": "1.00",
        "broker_order_id": "FORGED-1",
        "status": OrderStatusChoices.COMPLETE,
        "deployment": victim_estate.deployment.pk,
        "strategy": victim_estate.running.pk,
        "source": "strategy",
        "client_order_id": victim_estate.manual_order.client_order_id,
    }


def test_modifying_an_order_ignores_server_owned_fields(two_estates, api_client):
    mine, theirs = two_estates
    order = mine.manual_order
    before = row(order)
    theirs_before = snapshot(theirs.owner)
    new_price = order.price - order.instrument.tick_size

    response = api_client.patch(
        f"/api/orders/{order.pk}/",
        {"price": str(new_price), **forged_order_fields(theirs)},
        format="json",
    )

    assert response.status_code == 200, response.content
    order.refresh_from_db()
    assert order.price == new_price  # the modification itself went through
    for name in SERVER_OWNED_ORDER_FIELDS:
        assert getattr(order, name) == before[name], name
    assert order.deployment_id == mine.deployment.pk
    assert order.client_order_id == before["client_order_id"]
    assert snapshot(theirs.owner) == theirs_before


def test_an_order_patch_of_only_server_owned_fields_changes_nothing(two_estates, api_client):
    mine, theirs = two_estates
    before = snapshot(mine.owner)
    theirs_before = snapshot(theirs.owner)

    response = api_client.patch(
        f"/api/orders/{mine.manual_order.pk}/", forged_order_fields(theirs), format="json"
    )

    assert response.status_code == 400  # nothing a client may change was sent
    assert snapshot(mine.owner) == before
    assert snapshot(theirs.owner) == theirs_before


def test_placing_an_order_cannot_aim_at_another_users_deployment(two_estates, api_client):
    mine, theirs = two_estates
    theirs_before = snapshot(theirs.owner)
    body = {
        "side": "BUY",
        "order_type": "MARKET",
        "quantity": 1,
        **forged_order_fields(theirs),
    }
    url = f"/api/deployments/{mine.deployment.pk}/orders/"
    # ``instrument`` names a basket's member; another instrument is refused, nothing written
    other = Instrument.objects.exclude(pk=mine.running.instrument_id).first()
    refused = api_client.post(url, {**body, "instrument": other.symbol}, format="json")
    assert refused.status_code == 400, refused.content
    assert list(refused.json()["error"]["fields"]) == ["instrument"]
    assert snapshot(theirs.owner) == theirs_before

    response = api_client.post(url, body, format="json")

    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    assert order.deployment_id == mine.deployment.pk
    assert order.instrument_id == mine.running.instrument_id
    assert order.status != OrderStatusChoices.COMPLETE  # a market order fills on a later bar
    assert order.filled_quantity == 0 and order.average_price is None
    assert order.broker_order_id != "FORGED-1"
    assert order.client_order_id != theirs.manual_order.client_order_id
    assert snapshot(theirs.owner) == theirs_before


def test_no_write_body_reaches_another_users_objects(two_estates, api_client):
    """Every write endpoint of the API, called on the caller's own objects with the other user's
    ids in the body, leaves the other user's rows exactly as they were."""
    mine, theirs = two_estates
    theirs_before = snapshot(theirs.owner)
    foreign = {
        "owner": theirs.owner.pk,
        "user": theirs.owner.pk,
        "strategy": theirs.running.pk,
        "deployment": theirs.deployment.pk,
        "order": theirs.manual_order.pk,
        "backtest": theirs.backtest.pk,
        "id": theirs.inactive.pk,
    }
    writes = [
        ("post", "/api/strategies/", {"name": "x", "strategy_type": "sma_crossover"}),
        ("patch", f"/api/strategies/{mine.inactive.pk}/", {"name": "Renamed"}),
        ("post", f"/api/strategies/{mine.inactive.pk}/backtests/", {}),
        ("post", f"/api/strategies/{mine.inactive.pk}/deploy/", {}),
        ("post", f"/api/strategies/{mine.inactive.pk}/stop/", {}),
        ("post", f"/api/strategies/{mine.inactive.pk}/archive/", {}),
        ("post", f"/api/deployments/{mine.deployment.pk}/orders/", {"side": "BUY"}),
        ("patch", f"/api/orders/{mine.manual_order.pk}/", {"quantity": 2}),
        ("delete", f"/api/orders/{mine.manual_order.pk}/", {}),
        ("patch", "/api/auth/me/", {"name": "Me"}),
    ]
    for method, url, body in writes:
        response = getattr(api_client, method)(url, {**body, **foreign}, format="json")
        assert response.status_code < 500, (method, url, response.content)
        assert snapshot(theirs.owner) == theirs_before, (method, url)
    # And what was created went to the caller.
    assert not Backtest.objects.filter(owner=theirs.owner).exclude(pk=theirs.backtest.pk).exists()
    assert Backtest.objects.filter(owner=mine.owner, strategy=mine.inactive).exists()


def test_decimal_fields_keep_the_servers_rounding(two_estates, api_client):
    """A price the client sends is a request, not a fill: the average price stays the broker's."""
    mine, _ = two_estates
    response = api_client.patch(
        f"/api/orders/{mine.manual_order.pk}/",
        {"quantity": 2, "average_price": "0.01", "filled_quantity": 2},
        format="json",
    )
    assert response.status_code == 200
    order = Order.objects.get(pk=mine.manual_order.pk)
    assert order.quantity == 2
    assert order.filled_quantity == 0
    assert order.average_price in (None, Decimal("0"))
