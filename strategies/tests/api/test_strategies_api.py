"""The strategies API as a client sees it: validation, CRUD, lifecycle actions, caps, errors."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db.models import Max

from execution.models import Instrument
from strategies import services
from strategies.models import Deployment, Strategy, StrategyEvent, StrategyStatus
from strategies.tests.factories import StrategyFactory, put_in_status, seeded_instrument

S = StrategyStatus
URL = "/api/strategies/"
pytestmark = pytest.mark.django_db

# The fields the OpenAPI schema documents for a strategy. The brief's list plus
# risk_limits, status_reason and archived_at, which the API exposes on purpose.
STRATEGY_FIELDS = {
    "id",
    "name",
    "strategy_type",
    "params",
    "instrument",
    "instruments",
    "timeframe",
    "quantity",
    "allocation_pct",
    "product",
    "capital",
    "currency",
    "status",
    "created_at",
    "updated_at",
    "risk_limits",
    "status_reason",
    "archived_at",
}
DEPLOYMENT_FIELDS = {
    "id",
    "strategy",
    "number",
    "status",
    "capital",
    "currency",
    "config",
    "started_at",
    "stopped_at",
    "stop_reason",
    "square_off",
}


def detail(pk, action: str = "") -> str:
    return f"{URL}{pk}/{action + '/' if action else ''}"


def payload(**overrides) -> dict:
    body = {
        "name": "Golden cross",
        "strategy_type": "sma_crossover",
        "instrument": seeded_instrument().pk,
        "timeframe": "1d",
        "allocation_pct": "50",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not ...}


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message", "fields"} <= set(body["error"])
    return body["error"]


def post(client, url, data=None):
    return client.post(url, data if data is not None else {}, format="json")


# --- Parameter validation, for every catalogue type ----------------------------------------

TYPES = {
    "sma_crossover": {
        "defaults": {"fast": 10, "slow": 20, "mode": "long_only"},
        "valid": {"fast": 5, "slow": 50, "mode": "long_short"},
        "int_param": "fast",
        "too_low": ("fast", 0),
        "too_high": ("slow", 1001),
        "cross": ({"fast": 20, "slow": 20}, "fast"),
    },
    "ema_crossover": {
        "defaults": {"fast": 10, "slow": 20, "mode": "long_only"},
        "valid": {"fast": 12, "slow": 26, "mode": "long_short"},
        "int_param": "slow",
        "too_low": ("slow", 1),
        "too_high": ("fast", 501),
        "cross": ({"fast": 30, "slow": 20}, "fast"),
    },
    "rsi_reversion": {
        "defaults": {"period": 14, "oversold": 30.0, "overbought": 70.0, "mode": "long_only"},
        "valid": {"period": 7, "oversold": 25.5, "overbought": 80, "mode": "long_short"},
        "int_param": "period",
        "too_low": ("period", 1),
        "too_high": ("overbought", 99.5),
        "cross": ({"oversold": 70, "overbought": 30}, "oversold"),
    },
    "bollinger_reversion": {
        "defaults": {"period": 20, "width": 2.0, "mode": "long_only"},
        "valid": {"period": 30, "width": 2.5, "mode": "long_short"},
        "int_param": "period",
        "too_low": ("width", 0.4),
        "too_high": ("period", 501),
        "cross": None,  # no cross-field rule
    },
    "donchian_breakout": {
        "defaults": {"entry": 20, "exit": 10, "mode": "long_only"},
        "valid": {"entry": 55, "exit": 20, "mode": "long_short"},
        "int_param": "entry",
        "too_low": ("entry", 1),
        "too_high": ("exit", 501),
        "cross": ({"entry": 10, "exit": 20}, "exit"),
    },
}
TYPE_KEYS = list(TYPES)


def test_the_cases_cover_the_whole_catalogue():
    from strategies import catalog

    # ``rules`` takes a document, not scalar parameters: strategies/tests/rules/test_api.py.
    assert [t.key for t in catalog.all_types() if t.dashboard_form] == TYPE_KEYS


def create_invalid(client, stype, params) -> dict:
    response = post(client, URL, payload(strategy_type=stype, params=params))
    assert response.status_code == 400, response.content
    assert not Strategy.objects.exists()
    err = error(response)
    assert err["code"] == "invalid"
    return err["fields"]


@pytest.mark.parametrize("stype", TYPE_KEYS)
def test_params_defaults_are_filled(stype, api_client):
    omitted = post(api_client, URL, payload(name="a", strategy_type=stype))
    empty = post(api_client, URL, payload(name="b", strategy_type=stype, params={}))
    for response in (omitted, empty):
        assert response.status_code == 201, response.content
        assert response.json()["params"] == TYPES[stype]["defaults"]
    assert Strategy.objects.get(name="a").params == TYPES[stype]["defaults"]


@pytest.mark.parametrize("stype", TYPE_KEYS)
def test_valid_params_are_stored_typed(stype, api_client):
    response = post(api_client, URL, payload(strategy_type=stype, params=TYPES[stype]["valid"]))
    assert response.status_code == 201, response.content
    stored = Strategy.objects.get().params
    assert stored == TYPES[stype]["valid"]
    int_param = TYPES[stype]["int_param"]
    assert type(stored[int_param]) is int


@pytest.mark.parametrize("stype", TYPE_KEYS)
@pytest.mark.parametrize("bound", ["too_low", "too_high"])
def test_params_out_of_range(stype, bound, api_client):
    name, value = TYPES[stype][bound]
    fields = create_invalid(api_client, stype, {name: value})
    assert set(fields) == {"params"} and set(fields["params"]) == {name}
    assert ("at least" if bound == "too_low" else "at most") in fields["params"][name][0]


@pytest.mark.parametrize("stype", TYPE_KEYS)
@pytest.mark.parametrize("value", ["ten", True, [10], {"v": 10}, None], ids=repr)
def test_params_of_the_wrong_type(stype, value, api_client):
    name = TYPES[stype]["int_param"]
    fields = create_invalid(api_client, stype, {name: value})
    assert set(fields["params"]) == {name}


@pytest.mark.parametrize("stype", TYPE_KEYS)
def test_unknown_param(stype, api_client):
    fields = create_invalid(api_client, stype, {"leverage": 10})
    assert set(fields["params"]) == {"leverage"}


@pytest.mark.parametrize("stype", [k for k in TYPE_KEYS if TYPES[k]["cross"]])
def test_cross_field_rule(stype, api_client):
    params, field = TYPES[stype]["cross"]
    fields = create_invalid(api_client, stype, params)
    assert set(fields["params"]) == {field}


@pytest.mark.parametrize("stype", TYPE_KEYS)
def test_mode_choices(stype, api_client):
    fields = create_invalid(api_client, stype, {"mode": "short_only"})
    assert "long_only" in fields["params"]["mode"][0]
    response = post(api_client, URL, payload(strategy_type=stype, params={"mode": "long_short"}))
    assert response.status_code == 201
    assert response.json()["params"]["mode"] == "long_short"


@pytest.mark.parametrize("params", [[1, 2], "fast=5", 7])
def test_params_must_be_an_object(params, api_client):
    response = post(api_client, URL, payload(params=params))
    assert response.status_code == 400
    assert "params" in error(response)["fields"]


# --- Other fields -----------------------------------------------------------------------------


def assert_400(response, *fields):
    assert response.status_code == 400, response.content
    err = error(response)
    assert set(fields) <= set(err["fields"]), err
    assert not Strategy.objects.exists()
    return err


def test_unknown_strategy_type(api_client):
    err = assert_400(post(api_client, URL, payload(strategy_type="martingale")), "strategy_type")
    assert "sma_crossover" in err["fields"]["strategy_type"][0]


def test_unknown_instrument(api_client):
    missing = (Instrument.objects.aggregate(top=Max("pk"))["top"] or 0) + 1000
    assert_400(post(api_client, URL, payload(instrument=missing)), "instrument")
    assert_400(post(api_client, URL, payload(instrument="RELIANCE")), "instrument")


def test_unknown_timeframe(api_client):
    assert_400(post(api_client, URL, payload(timeframe="2m")), "timeframe")


def test_unknown_product(api_client):
    assert_400(post(api_client, URL, payload(product="NRML")), "product")


@pytest.mark.parametrize(
    ("quantity", "allocation_pct"),
    [(10, "50"), (..., ...), (None, None)],
    ids=["both", "neither", "nulls"],
)
def test_exactly_one_sizing(quantity, allocation_pct, api_client):
    body = payload(quantity=quantity, allocation_pct=allocation_pct)
    assert_400(post(api_client, URL, body), "quantity", "allocation_pct")


@pytest.mark.parametrize("pct", ["0", "100.01", "-5"])
def test_allocation_pct_range(pct, api_client):
    assert_400(post(api_client, URL, payload(allocation_pct=pct)), "allocation_pct")


def test_quantity_must_be_a_lot_multiple(api_client):
    future = Instrument.objects.create(exchange="NSE", symbol="BANKNIFTYFUT", lot_size=15)
    body = payload(instrument=future.pk, quantity=20, allocation_pct=...)
    err = assert_400(post(api_client, URL, body), "quantity")
    assert "15" in err["fields"]["quantity"][0]
    ok = post(api_client, URL, payload(instrument=future.pk, quantity=45, allocation_pct=...))
    assert ok.status_code == 201 and ok.json()["quantity"] == 45


@pytest.mark.parametrize("quantity", [0, -1, 2.5, "many"])
def test_quantity_must_be_a_positive_integer(quantity, api_client):
    body = payload(quantity=quantity, allocation_pct=...)
    assert_400(post(api_client, URL, body), "quantity")


def test_capital_minimum(api_client):
    assert_400(post(api_client, URL, payload(capital="999.99")), "capital")
    response = post(api_client, URL, payload(capital="1000"))
    assert response.status_code == 201 and response.json()["capital"] == "1000.00"


def test_capital_defaults_to_the_users_paper_capital(api_client, user):
    user.paper_capital = Decimal("345678.90")
    user.save()
    response = post(api_client, URL, payload())
    assert response.status_code == 201
    assert response.json()["capital"] == "345678.90"
    assert Strategy.objects.get().capital == Decimal("345678.90")


def test_name_clash_for_the_same_owner(api_client, other_client):
    assert post(api_client, URL, payload()).status_code == 201
    response = post(api_client, URL, payload(strategy_type="ema_crossover"))
    assert response.status_code == 400
    assert set(error(response)["fields"]) == {"name"}
    assert Strategy.objects.count() == 1
    # Another user may use the same name.
    assert post(other_client, URL, payload()).status_code == 201


def test_an_archived_strategys_name_can_be_reused(api_client):
    first = post(api_client, URL, payload()).json()
    assert post(api_client, detail(first["id"], "archive")).status_code == 200
    again = post(api_client, URL, payload())
    assert again.status_code == 201 and again.json()["id"] != first["id"]


def test_name_is_required(api_client):
    assert_400(post(api_client, URL, payload(name=...)), "name")
    assert_400(post(api_client, URL, payload(name="")), "name")


def test_unknown_risk_limit(api_client):
    response = post(api_client, URL, payload(risk_limits={"max_leverage": 5}))
    assert response.status_code == 400
    assert "max_leverage" in error(response)["fields"]["risk_limits"]


def test_malformed_json(api_client):
    response = api_client.post(URL, '{"name": "x",', content_type="application/json")
    assert response.status_code == 400
    assert error(response)["code"] == "parse_error"
    assert not Strategy.objects.exists()


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


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


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


# --- Lifecycle actions ----------------------------------------------------------------------


def test_deploy(api_client, user):
    strategy = StrategyFactory(owner=user)
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == DEPLOYMENT_FIELDS
    deployment = Deployment.objects.get()
    assert body["id"] == deployment.pk and body["strategy"] == strategy.pk
    assert body["number"] == 1 and body["status"] == "RUNNING"
    assert body["capital"] == "100000.00" and body["stopped_at"] is None
    assert body["square_off"] is False
    assert body["config"]["params"] == strategy.params
    assert body["config"]["instrument"]["symbol"] == "RELIANCE"
    assert api_client.get(detail(strategy.pk)).json()["status"] == "RUNNING"
    event = StrategyEvent.objects.get()
    assert event.actor == user and event.deployment == deployment


def test_deploy_while_running_is_a_conflict(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert response.status_code == 409
    err = error(response)
    assert err["code"] == "invalid_transition" and err["current_state"] == "RUNNING"
    assert Deployment.objects.filter(strategy=strategy).count() == 1
    assert strategy.events.count() == 1


def test_redeploy_through_the_api(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.ERROR, actor=user)
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert response.status_code == 201 and response.json()["number"] == 2
    runs = api_client.get(detail(strategy.pk, "deployments")).json()
    assert [(d["number"], d["status"]) for d in runs["results"]] == [(2, "RUNNING"), (1, "ERROR")]


def test_stop_with_square_off(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "stop"), {"square_off": True})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "STOPPED"
    deployment = strategy.deployments.get()
    assert deployment.status == "STOPPED" and deployment.square_off is True
    assert deployment.stopped_at is not None
    runs = api_client.get(detail(strategy.pk, "deployments")).json()["results"]
    assert runs[0]["square_off"] is True and runs[0]["stopped_at"]


def test_stop_without_body_does_not_square_off(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    assert post(api_client, detail(strategy.pk, "stop")).status_code == 200
    assert strategy.deployments.get().square_off is False


def test_stop_with_an_invalid_body(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "stop"), {"square_off": "perhaps"})
    assert response.status_code == 400 and "square_off" in error(response)["fields"]
    strategy.refresh_from_db()
    assert strategy.status == S.RUNNING


@pytest.mark.parametrize("status", [S.INACTIVE, S.STOPPED, S.ERROR])
def test_stop_when_not_running_is_a_conflict(status, api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), status, actor=user)
    events = strategy.events.count()
    response = post(api_client, detail(strategy.pk, "stop"), {"square_off": True})
    assert response.status_code == 409
    assert error(response)["current_state"] == status
    strategy.refresh_from_db()
    assert strategy.status == status and strategy.events.count() == events


@pytest.mark.parametrize(
    "change",
    [
        {"params": {"fast": 3, "slow": 9}},
        {"timeframe": "5m"},
        {"quantity": 5},
        {"strategy_type": "ema_crossover"},
        {"capital": "5000"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_editing_trading_fields_while_running_is_a_conflict(change, api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    before = api_client.get(detail(strategy.pk)).json()
    response = api_client.patch(detail(strategy.pk), change, format="json")
    assert response.status_code == 409
    err = error(response)
    assert err["code"] == "strategy_running" and err["current_state"] == "RUNNING"
    assert next(iter(change)) in err["fields"]
    assert api_client.get(detail(strategy.pk)).json() == before


def test_renaming_while_running_is_allowed(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = api_client.patch(detail(strategy.pk), {"name": "Still running"}, format="json")
    assert response.status_code == 200
    assert response.json()["name"] == "Still running"
    # Sending back what GET returned, with a new name, is a rename too.
    body = api_client.get(detail(strategy.pk)).json()
    body["name"] = "Renamed again"
    response = api_client.put(detail(strategy.pk), body, format="json")
    assert response.status_code == 200, response.content
    strategy.refresh_from_db()
    assert strategy.name == "Renamed again" and strategy.status == S.RUNNING


def test_archive(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.STOPPED, actor=user)
    response = post(api_client, detail(strategy.pk, "archive"))
    assert response.status_code == 200
    assert response.json()["archived_at"] is not None
    assert response.json()["status"] == "STOPPED"
    assert names(api_client.get(URL)) == []
    assert api_client.get(detail(strategy.pk)).status_code == 200
    assert api_client.get(detail(strategy.pk, "deployments")).json()["count"] == 1


def test_an_archived_strategy_cannot_be_deployed(api_client, user):
    strategy = StrategyFactory(owner=user)
    post(api_client, detail(strategy.pk, "archive"))
    response = post(api_client, detail(strategy.pk, "deploy"))
    assert 400 <= response.status_code < 500
    error(response)
    strategy.refresh_from_db()
    assert strategy.status == S.INACTIVE
    assert not strategy.deployments.exists() and not strategy.events.exists()


def test_a_running_strategy_cannot_be_archived(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    response = post(api_client, detail(strategy.pk, "archive"))
    assert response.status_code == 409
    assert error(response)["current_state"] == "RUNNING"
    strategy.refresh_from_db()
    assert strategy.archived_at is None


def test_events_newest_first_with_actor(api_client, user):
    strategy = StrategyFactory(owner=user)
    post(api_client, detail(strategy.pk, "deploy"))
    post(api_client, detail(strategy.pk, "stop"))
    post(api_client, detail(strategy.pk, "deploy"))
    services.strategy_fail(strategy_id=strategy.pk, reason="market data feed died")
    response = api_client.get(detail(strategy.pk, "events"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    rows = [(e["trigger"], e["from_status"], e["to_status"], e["actor"]) for e in body["results"]]
    assert rows == [
        ("fail", "RUNNING", "ERROR", "system"),
        ("deploy", "STOPPED", "RUNNING", user.email),
        ("stop", "RUNNING", "STOPPED", user.email),
        ("deploy", "INACTIVE", "RUNNING", user.email),
    ]
    assert body["results"][0]["reason"] == "market data feed died"
    numbers = dict(Deployment.objects.values_list("pk", "number"))
    assert [numbers[e["deployment"]] for e in body["results"]] == [2, 2, 1, 1]
    shown = api_client.get(detail(strategy.pk)).json()
    assert shown["status"] == "ERROR" and shown["status_reason"] == "market data feed died"


def test_deployments_endpoint(api_client, user):
    strategy = put_in_status(StrategyFactory(owner=user), S.STOPPED, actor=user)
    services.strategy_deploy(strategy=strategy, actor=user)
    response = api_client.get(detail(strategy.pk, "deployments"))
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [d["number"] for d in body["results"]] == [2, 1]
    assert all(set(d) == DEPLOYMENT_FIELDS for d in body["results"])
    assert [d["status"] for d in body["results"]] == ["RUNNING", "STOPPED"]


# --- Caps -----------------------------------------------------------------------------------


def test_strategy_cap(api_client, user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_STRATEGIES_PER_USER": 2}
    StrategyFactory.create_batch(2, owner=user)
    response = post(api_client, URL, payload())
    assert response.status_code == 403
    assert error(response)["code"] == "limit_exceeded"
    assert Strategy.objects.filter(owner=user).count() == 2


def test_running_cap(api_client, user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_RUNNING_DEPLOYMENTS_PER_USER": 1}
    running = put_in_status(StrategyFactory(owner=user), S.RUNNING, actor=user)
    waiting = StrategyFactory(owner=user)
    response = post(api_client, detail(waiting.pk, "deploy"))
    assert response.status_code == 403
    assert error(response)["code"] == "limit_exceeded"
    waiting.refresh_from_db()
    assert waiting.status == S.INACTIVE
    assert not waiting.deployments.exists() and not waiting.events.exists()
    # Stopping the running one frees the slot.
    post(api_client, detail(running.pk, "stop"))
    assert post(api_client, detail(waiting.pk, "deploy")).status_code == 201


# --- Authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", ""),
        ("post", ""),
        ("get", "{pk}/"),
        ("patch", "{pk}/"),
        ("delete", "{pk}/"),
        ("post", "{pk}/deploy/"),
        ("post", "{pk}/stop/"),
        ("post", "{pk}/archive/"),
        ("get", "{pk}/events/"),
        ("get", "{pk}/deployments/"),
    ],
)
def test_unauthenticated_is_401(method, path, anon_client, user):
    strategy = StrategyFactory(owner=user)
    response = getattr(anon_client, method)(URL + path.format(pk=strategy.pk), {}, format="json")
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"
    strategy.refresh_from_db()
    assert strategy.status == S.INACTIVE and strategy.archived_at is None


def test_an_invalid_token_is_401(anon_client, user):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not.a.token")
    assert anon_client.get(URL).status_code == 401
