import math

import pytest

from strategies import catalog
from strategies.catalog import ParamsInvalid

# The types with scalar parameters; rule documents have their own (strategies/tests/rules).
ALL = [t for t in catalog.all_types() if t.dashboard_form]

DEFAULTS = {
    "sma_crossover": {"fast": 10, "slow": 20, "mode": "long_only"},
    "ema_crossover": {"fast": 10, "slow": 20, "mode": "long_only"},
    "rsi_reversion": {"period": 14, "oversold": 30.0, "overbought": 70.0, "mode": "long_only"},
    "bollinger_reversion": {"period": 20, "width": 2.0, "mode": "long_only"},
    "donchian_breakout": {"entry": 20, "exit": 10, "mode": "long_only"},
}


def errors_of(cls, raw):
    with pytest.raises(ParamsInvalid) as info:
        cls.validate_params(raw)
    return info.value.errors


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_defaults(cls):
    assert cls.defaults() == DEFAULTS[cls.key]
    assert cls.validate_params({}) == DEFAULTS[cls.key]
    assert cls.validate_params(None) == DEFAULTS[cls.key]
    assert cls.validate_params(DEFAULTS[cls.key]) == DEFAULTS[cls.key]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_missing_params_take_defaults(cls):
    for p in cls.params:
        given = {k: v for k, v in DEFAULTS[cls.key].items() if k != p.name}
        assert cls.validate_params(given) == DEFAULTS[cls.key]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_int_params_are_ints(cls):
    cleaned = cls.validate_params({})
    for p in cls.params:
        if p.kind == "int":
            assert type(cleaned[p.name]) is int
    # Typed as the schema says: "15" and 15.0 are refused, not coerced to 15 (the dashboard's
    # form parses its text into an int before the service sees it).
    for p in cls.params:
        if p.kind == "int":
            for raw in (15.0, "15"):
                assert errors_of(cls, {p.name: raw})[p.name] == ["Must be an integer."]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_float_params_take_json_numbers_only(cls):
    for p in cls.params:
        if p.kind == "float":
            assert errors_of(cls, {p.name: "2"})[p.name] == ["Must be a number."]
            whole = math.ceil(p.min)
            assert p.clean(whole) == whole and type(p.clean(whole)) is float


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_every_number_has_a_documented_range(cls):
    for p in cls.params:
        if p.kind in ("int", "float"):
            schema = p.json_schema()
            assert p.min is not None and p.max is not None, p.name
            assert (schema["minimum"], schema["maximum"]) == (p.min, p.max)
            assert p.name in errors_of(cls, {p.name: 10**400})


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_out_of_range(cls):
    for p in cls.params:
        if p.kind not in ("int", "float"):
            continue
        below = p.min - 1
        above = p.max + 1
        assert p.name in errors_of(cls, {p.name: below})
        assert "at least" in errors_of(cls, {p.name: below})[p.name][0]
        assert "at most" in errors_of(cls, {p.name: above})[p.name][0]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
@pytest.mark.parametrize("bad", [True, False, "abc", "", None, [1], {"a": 1}, float("nan")])
def test_wrong_type_for_numbers(cls, bad):
    for p in cls.params:
        if p.kind in ("int", "float"):
            assert p.name in errors_of(cls, {p.name: bad})


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_fractional_int_rejected(cls):
    for p in cls.params:
        if p.kind == "int":
            assert errors_of(cls, {p.name: 5.5})[p.name] == ["Must be an integer."]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
@pytest.mark.parametrize("bad", ["LONG_ONLY", "short_only", 1, None, True])
def test_bad_mode(cls, bad):
    assert "mode" in errors_of(cls, {"mode": bad})


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_unknown_param(cls):
    errors = errors_of(cls, {"bogus": 1})
    assert list(errors) == ["bogus"]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.key)
def test_not_a_mapping(cls):
    assert "params" in errors_of(cls, [1, 2])


@pytest.mark.parametrize("key", ["sma_crossover", "ema_crossover"])
def test_fast_must_be_below_slow(key):
    cls = catalog.get(key)
    errors = errors_of(cls, {"fast": 20, "slow": 20})
    assert list(errors) == ["fast"]
    assert "20" in errors["fast"][0] and "slow" in errors["fast"][0].lower()
    errors = errors_of(cls, {"fast": 50, "slow": 30})
    assert "50" in errors["fast"][0] and "30" in errors["fast"][0]
    assert cls.validate_params({"fast": 1, "slow": 2})["fast"] == 1


def test_rsi_levels_ordered():
    cls = catalog.get("rsi_reversion")
    errors = errors_of(cls, {"oversold": 70, "overbought": 70})
    assert list(errors) == ["oversold"]
    assert "70" in errors["oversold"][0]
    errors = errors_of(cls, {"oversold": 80})
    assert "80" in errors["oversold"][0] and "70" in errors["oversold"][0]
    assert cls.validate_params({"oversold": 20, "overbought": 80.5}) == {
        "period": 14,
        "oversold": 20.0,
        "overbought": 80.5,
        "mode": "long_only",
    }


def test_donchian_exit_not_longer_than_entry():
    cls = catalog.get("donchian_breakout")
    errors = errors_of(cls, {"entry": 10, "exit": 11})
    assert list(errors) == ["exit"]
    assert "11" in errors["exit"][0] and "10" in errors["exit"][0]
    assert cls.validate_params({"entry": 10, "exit": 10})["exit"] == 10


def test_bollinger_width_bounds():
    cls = catalog.get("bollinger_reversion")
    assert cls.validate_params({"width": 0.5})["width"] == 0.5
    assert cls.validate_params({"width": 5})["width"] == 5.0
    assert "width" in errors_of(cls, {"width": 0.49})
    assert "width" in errors_of(cls, {"width": 5.01})


def test_cross_field_rule_waits_for_typed_values():
    # A type error is reported alone; the cross-field rule only runs on clean values.
    errors = errors_of(catalog.get("sma_crossover"), {"fast": "x", "slow": 5})
    assert list(errors) == ["fast"]
    assert errors["fast"] == ["Must be an integer."]
