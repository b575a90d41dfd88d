"""Creating a strategy through the API: every catalogue type's parameters are checked against
its schema, and every other field is validated, each refusal a 400 naming the field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db.models import Max

from execution.models import Instrument
from strategies.models import Strategy
from strategies.tests.api.strategy_api import (
    TYPES,
    URL,
    assert_400,
    detail,
    error,
    payload,
    post,
)

pytestmark = pytest.mark.django_db


# --- Parameter validation, for every catalogue type ----------------------------------------

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
