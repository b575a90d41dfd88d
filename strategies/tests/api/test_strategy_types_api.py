"""The catalogue endpoint that clients build their strategy forms from."""

from __future__ import annotations

import pytest

KEYS = [
    "sma_crossover",
    "ema_crossover",
    "rsi_reversion",
    "bollinger_reversion",
    "donchian_breakout",
    "rules",
]
URL = "/api/strategy-types/"
pytestmark = pytest.mark.django_db


def test_lists_the_types_with_their_schemas(api_client):
    response = api_client.get(URL)
    assert response.status_code == 200
    types = response.json()
    assert [t["key"] for t in types] == KEYS
    for t in types:
        assert set(t) == {"key", "name", "description", "params_schema"}
        if t["key"] == "rules":  # one structured document (strategies/tests/rules/test_api.py)
            continue
        assert t["name"] and t["description"]
        schema = t["params_schema"]
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        # every parameter is required but the optional exits (stop-loss, target, ...)
        assert set(schema["required"]) == set(schema["properties"]) - {"exits"}
        assert schema["properties"]["exits"]["type"] == "object"
        assert "mode" in schema["properties"]
        assert schema["properties"]["mode"]["enum"] == ["long_only", "long_short"]
        for name, prop in schema["properties"].items():
            assert "default" in prop and prop["title"], name
            if prop["type"] in ("integer", "number"):
                assert prop["minimum"] <= prop["default"] <= prop["maximum"], name


def test_sma_crossover_schema(api_client):
    response = api_client.get(f"{URL}sma_crossover/")
    assert response.status_code == 200
    body = response.json()
    assert body["key"] == "sma_crossover" and body["name"] == "SMA crossover"
    props = body["params_schema"]["properties"]
    assert props["fast"] | {"title": None, "description": None} == {
        "type": "integer",
        "default": 10,
        "minimum": 1,
        "maximum": 500,
        "title": None,
        "description": None,
    }
    assert (props["slow"]["default"], props["slow"]["minimum"], props["slow"]["maximum"]) == (
        20,
        2,
        1000,
    )


def test_float_params_are_numbers(api_client):
    props = api_client.get(f"{URL}rsi_reversion/").json()["params_schema"]["properties"]
    assert props["oversold"]["type"] == "number" and props["oversold"]["default"] == 30.0
    assert props["period"]["type"] == "integer"


def test_the_schema_defaults_are_what_a_strategy_gets(api_client):
    """A form filled from the schema's defaults creates a strategy with those params."""
    from strategies.tests.factories import seeded_instrument

    for t in api_client.get(URL).json():
        schema = t["params_schema"]
        defaults = schema.get("default") or {
            k: p["default"] for k, p in schema["properties"].items() if k in schema["required"]
        }
        response = api_client.post(
            "/api/strategies/",
            {
                "name": t["key"],
                "strategy_type": t["key"],
                "instrument": seeded_instrument().pk,
                "allocation_pct": "10",
            },
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["params"] == defaults


@pytest.mark.parametrize("key", ["martingale", "SMA_CROSSOVER", "not-a-key", "sma crossover"])
def test_unknown_key_is_a_404_in_the_error_shape(key, api_client):
    response = api_client.get(f"{URL}{key}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_requires_authentication(anon_client):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.get(f"{URL}sma_crossover/").status_code == 401
