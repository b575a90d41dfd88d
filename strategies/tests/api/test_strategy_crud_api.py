"""Reading and writing strategies through the API: create, retrieve, replace, patch, delete,
and the paginated, filtered, searchable list."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from strategies import services
from strategies.models import Deployment, Strategy
from strategies.tests.api.strategy_api import (
    DEPLOYMENT_FIELDS,
    STRATEGY_FIELDS,
    TYPES,
    URL,
    S,
    detail,
    error,
    names,
    payload,
    post,
)
from strategies.tests.factories import StrategyFactory, put_in_status, seeded_instrument

pytestmark = pytest.mark.django_db


# --- CRUD -----------------------------------------------------------------------------------


def test_create_returns_the_documented_fields(api_client, user):
    response = post(api_client, URL, payload(risk_limits={"max_open_orders": 3}))
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == STRATEGY_FIELDS
    strategy = Strategy.objects.get()
    assert strategy.owner == user
    assert body["id"] == strategy.pk
    assert body["name"] == "Golden cross"
    assert body["strategy_type"] == "sma_crossover"
    assert body["instrument"] == seeded_instrument().pk
    assert body["timeframe"] == "1d"
    assert body["quantity"] is None and body["allocation_pct"] == "50"
    assert body["product"] == "CNC"
    assert body["risk_limits"] == {"max_open_orders": 3}
    assert body["status"] == "INACTIVE" and body["status_reason"] == ""
    assert body["archived_at"] is None
    assert body["created_at"] and body["updated_at"]


def test_documented_fields_match_the_openapi_schema(api_client):
    response = api_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schemas = json.loads(response.content)["components"]["schemas"]
    assert set(schemas["Strategy"]["properties"]) == STRATEGY_FIELDS
    assert set(schemas["Deployment"]["properties"]) == DEPLOYMENT_FIELDS


def test_read_only_fields_are_ignored_on_create(api_client, other_user):
    body = payload(status="RUNNING", owner=other_user.pk, archived_at="2020-01-01T00:00:00Z")
    response = post(api_client, URL, body)
    assert response.status_code == 201
    strategy = Strategy.objects.get()
    assert strategy.status == S.INACTIVE and strategy.archived_at is None
    assert strategy.owner != other_user


def test_retrieve(api_client, user):
    strategy = StrategyFactory(owner=user)
    response = api_client.get(detail(strategy.pk))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == STRATEGY_FIELDS
    assert body["id"] == strategy.pk and body["name"] == strategy.name
    assert body["params"] == strategy.params and body["capital"] == "100000.00"
    assert body["allocation_pct"] == "100"


def test_put_replaces_the_configuration(api_client, user):
    strategy = StrategyFactory(owner=user)
    body = payload(
        name="Turtle",
        strategy_type="donchian_breakout",
        params={"entry": 55},
        instrument=seeded_instrument("TCS").pk,
        timeframe="1h",
        quantity=10,
        allocation_pct=None,
        product="MIS",
        capital="20000",
    )
    response = api_client.put(detail(strategy.pk), body, format="json")
    assert response.status_code == 200, response.content
    strategy.refresh_from_db()
    assert strategy.name == "Turtle" and strategy.strategy_type == "donchian_breakout"
    assert strategy.params == {"entry": 55, "exit": 10, "mode": "long_only"}
    assert strategy.instrument.symbol == "TCS" and strategy.timeframe == "1h"
    assert (strategy.quantity, strategy.allocation_pct) == (10, None)
    assert strategy.product == "MIS" and strategy.capital == Decimal("20000")
    assert response.json()["params"] == strategy.params


def test_put_needs_the_required_fields(api_client, user):
    strategy = StrategyFactory(owner=user)
    response = api_client.put(detail(strategy.pk), {"name": "only"}, format="json")
    assert response.status_code == 400
    assert {"strategy_type", "instrument"} <= set(error(response)["fields"])
    strategy.refresh_from_db()
    assert strategy.name != "only"


@pytest.mark.parametrize(
    "change",
    [
        {"name": "Renamed"},
        {"timeframe": "5m"},
        {"params": {"fast": 3, "slow": 9}},
        {"capital": "55000.00"},
        {"product": "MIS", "timeframe": "5m"},  # MIS needs an intraday timeframe
        {"risk_limits": {"max_daily_loss": "500.00"}},
    ],
    ids=lambda c: next(iter(c)),
)
def test_patch_changes_only_what_was_sent(change, api_client, user):
    strategy = StrategyFactory(owner=user)
    before = api_client.get(detail(strategy.pk)).json()
    response = api_client.patch(detail(strategy.pk), change, format="json")
    assert response.status_code == 200, response.content
    after = api_client.get(detail(strategy.pk)).json()
    assert response.json() == after
    changed = {k for k in after if after[k] != before[k]} - {"updated_at"}
    assert changed == set(change)
    field, value = next(iter(change.items()))
    if field == "params":
        assert after["params"] == {**value, "mode": "long_only"}
    else:
        assert after[field] == value


def test_put_without_capital_takes_the_users_paper_capital(api_client, user):
    user.paper_capital = Decimal("75000.00")
    user.save()
    strategy = StrategyFactory(owner=user)
    body = payload(name="No capital given")
    response = api_client.put(detail(strategy.pk), body, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["capital"] == "75000.00"
    strategy.refresh_from_db()
    assert strategy.capital == Decimal("75000.00") and strategy.name == "No capital given"


def test_patch_capital_null_resets_it_to_the_paper_capital(api_client, user):
    strategy = StrategyFactory(owner=user, capital=Decimal("5000"))
    response = api_client.patch(detail(strategy.pk), {"capital": None}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["capital"] == "1000000.00"


@pytest.mark.parametrize("status", [S.INACTIVE, S.RUNNING])
def test_patch_with_the_same_type_keeps_the_params(status, api_client, user):
    custom = {"fast": 3, "slow": 9, "mode": "long_short"}
    strategy = put_in_status(StrategyFactory(owner=user, params=custom), status, actor=user)
    response = api_client.patch(
        detail(strategy.pk), {"strategy_type": "sma_crossover"}, format="json"
    )
    assert response.status_code == 200, response.content
    strategy.refresh_from_db()
    assert strategy.params == custom


def test_patch_to_another_type_starts_from_its_defaults(api_client, user):
    strategy = StrategyFactory(owner=user, params={"fast": 3, "slow": 9, "mode": "long_short"})
    response = api_client.patch(
        detail(strategy.pk), {"strategy_type": "bollinger_reversion"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["params"] == TYPES["bollinger_reversion"]["defaults"]


def test_patch_switches_sizing(api_client, user):
    strategy = StrategyFactory(owner=user)
    response = api_client.patch(detail(strategy.pk), {"quantity": 5}, format="json")
    assert response.status_code == 200
    assert (response.json()["quantity"], response.json()["allocation_pct"]) == (5, None)


def test_patch_invalid_changes_nothing(api_client, user):
    strategy = StrategyFactory(owner=user)
    before = api_client.get(detail(strategy.pk)).json()
    response = api_client.patch(
        detail(strategy.pk), {"name": "x", "params": {"fast": 99}}, format="json"
    )
    assert response.status_code == 400
    assert set(error(response)["fields"]["params"]) == {"fast"}
    assert api_client.get(detail(strategy.pk)).json() == before


def test_delete_a_strategy_that_never_ran(api_client, user):
    strategy = StrategyFactory(owner=user)
    assert api_client.delete(detail(strategy.pk)).status_code == 204
    assert not Strategy.objects.filter(pk=strategy.pk).exists()
    assert api_client.get(detail(strategy.pk)).status_code == 404


@pytest.mark.parametrize("status", [S.RUNNING, S.STOPPED, S.ERROR])
def test_delete_a_strategy_that_ran_is_refused(status, api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    response = api_client.delete(detail(strategy.pk))
    assert response.status_code == 409
    assert error(response)["code"] == "has_history"
    assert error(response)["current_state"] == status
    assert api_client.get(detail(strategy.pk)).status_code == 200
    assert Deployment.objects.filter(strategy=strategy).count() == 1


# --- List -----------------------------------------------------------------------------------


@pytest.fixture
def listed(user, other_user):
    """Four of the user's strategies in several states, plus a foreign and an archived one."""
    tcs = seeded_instrument("TCS")
    made = {
        "charlie": StrategyFactory(owner=user, name="charlie"),
        "alpha": StrategyFactory(
            owner=user, name="alpha", strategy_type="rsi_reversion", params={}
        ),
        "bravo": StrategyFactory(owner=user, name="bravo trend", instrument=tcs),
        "delta": StrategyFactory(owner=user, name="delta trend"),
    }
    put_in_status(made["bravo"], S.RUNNING, actor=user)
    put_in_status(made["delta"], S.STOPPED, actor=user)
    StrategyFactory(owner=other_user, name="alpha foreign")
    archived = StrategyFactory(owner=user, name="echo")
    services.strategy_archive(strategy=archived)
    made["echo"] = archived
    return made


def test_list_is_paginated_and_newest_first(api_client, listed):
    response = api_client.get(URL, {"page_size": 3})
    body = response.json()
    assert set(body) >= {"count", "next", "previous", "results"}
    assert body["count"] == 4
    assert names(response) == ["delta trend", "bravo trend", "alpha"]
    assert body["next"] and "page=2" in body["next"]
    page2 = api_client.get(body["next"])
    assert names(page2) == ["charlie"] and page2.json()["next"] is None
    assert all(set(row) == STRATEGY_FIELDS for row in body["results"])


def test_list_filters(api_client, listed):
    assert names(api_client.get(URL, {"status": "RUNNING"})) == ["bravo trend"]
    both = api_client.get(URL + "?status=RUNNING&status=STOPPED")
    assert sorted(names(both)) == ["bravo trend", "delta trend"]
    assert names(api_client.get(URL, {"strategy_type": "rsi_reversion"})) == ["alpha"]
    tcs = seeded_instrument("TCS").pk
    assert names(api_client.get(URL, {"instrument": tcs})) == ["bravo trend"]
    assert api_client.get(URL, {"status": "PAUSED"}).status_code == 400


def test_list_search_and_ordering(api_client, listed):
    assert sorted(names(api_client.get(URL, {"search": "TREND"}))) == [
        "bravo trend",
        "delta trend",
    ]
    assert names(api_client.get(URL, {"search": "alpha"})) == ["alpha"]  # not "alpha foreign"
    assert names(api_client.get(URL, {"ordering": "name"})) == [
        "alpha",
        "bravo trend",
        "charlie",
        "delta trend",
    ]
    assert names(api_client.get(URL, {"ordering": "-created_at"})) == [
        "delta trend",
        "bravo trend",
        "alpha",
        "charlie",
    ]


def test_archived_strategies(api_client, listed):
    assert "echo" not in names(api_client.get(URL))
    assert names(api_client.get(URL, {"archived": "true"})) == ["echo"]
    response = api_client.get(detail(listed["echo"].pk))
    assert response.status_code == 200 and response.json()["archived_at"] is not None
