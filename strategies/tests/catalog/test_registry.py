import json

import jsonschema
import pytest

from strategies import catalog
from strategies.catalog import UnknownStrategyType

EXPECTED_KEYS = [
    "sma_crossover",
    "ema_crossover",
    "rsi_reversion",
    "bollinger_reversion",
    "donchian_breakout",
    "rules",
]


def test_keys_are_stable_and_ordered():
    assert catalog.keys() == EXPECTED_KEYS
    assert [t.key for t in catalog.all_types()] == EXPECTED_KEYS


def test_get_returns_the_type():
    for key in EXPECTED_KEYS:
        assert catalog.get(key).key == key


@pytest.mark.parametrize("key", ["", "SMA_CROSSOVER", "nope", None, 3])
def test_unknown_key_raises_lookup_error(key):
    with pytest.raises(UnknownStrategyType) as info:
        catalog.get(key)
    assert isinstance(info.value, LookupError)
    assert info.value.key == key


def test_all_types_returns_a_copy():
    catalog.all_types().clear()
    assert len(catalog.all_types()) == len(EXPECTED_KEYS)


def test_reexports():
    for name in (
        "get",
        "all_types",
        "keys",
        "UnknownStrategyType",
        "StrategyType",
        "Param",
        "ParamsInvalid",
        "NO_SIGNAL",
    ):
        assert hasattr(catalog, name)


@pytest.mark.parametrize("cls", catalog.all_types(), ids=lambda c: c.key)
def test_type_metadata(cls):
    assert cls.name and cls.description
    assert cls.description.endswith(".") and len(cls.description) < 300
    for p in cls.params:
        assert p.label and p.help, p.name
        if p.kind in ("int", "float"):
            assert p.min is not None and p.max is not None
            assert p.min <= p.default <= p.max
        if p.kind == "int":
            assert type(p.default) is int
        if p.kind == "float":
            assert type(p.default) is float
        if p.kind == "choice":
            assert p.default in p.choices


@pytest.mark.parametrize("cls", catalog.all_types(), ids=lambda c: c.key)
def test_schema_is_valid_json_schema_accepting_defaults(cls):
    if not cls.dashboard_form:
        pytest.skip("a rule document: strategies/tests/rules/test_catalog_entry.py")
    schema = cls.params_schema()
    json.dumps(schema)  # JSON-friendly
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(cls.defaults())
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {p.name for p in cls.params}
    assert schema["properties"]["mode"] == {
        "title": "Mode",
        "description": schema["properties"]["mode"]["description"],
        "default": "long_only",
        "type": "string",
        "enum": ["long_only", "long_short"],
    }
    for p in cls.params:
        prop = schema["properties"][p.name]
        if p.kind == "int":
            assert prop["type"] == "integer"
            assert isinstance(prop["minimum"], int) and isinstance(prop["maximum"], int)
        elif p.kind == "float":
            assert prop["type"] == "number"


def test_sma_schema_shape():
    schema = catalog.get("sma_crossover").params_schema()
    assert schema["properties"]["fast"]["minimum"] == 1
    assert schema["properties"]["fast"]["maximum"] == 500
    assert schema["properties"]["slow"]["minimum"] == 2
    assert schema["properties"]["slow"]["maximum"] == 1000
    assert schema["properties"]["fast"]["default"] == 10
    assert schema["properties"]["slow"]["default"] == 20
