"""The rule language through the API: the type's schema, the parse endpoint, strategy writes."""

from __future__ import annotations

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies.catalog.rules import GOLDEN_CROSS
from strategies.models import Strategy
from strategies.rules import schema
from strategies.tests.factories import StrategyFactory, seeded_instrument

pytestmark = pytest.mark.django_db
PARSE = "/api/rules/parse/"
STRATEGIES = "/api/strategies/"

SMA = {"indicator": "sma", "period": 20}
RSI_1 = {"indicator": "rsi", "period": 1}


def rule_payload(params) -> dict:
    return {
        "name": "My rule",
        "strategy_type": "rules",
        "params": params,
        "instrument": seeded_instrument().pk,
        "allocation_pct": "50",
    }


def refused(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


# --- the type's schema -----------------------------------------------------------------------


def test_the_rules_type_publishes_its_document_schema(api_client):
    body = api_client.get("/api/strategy-types/rules/").json()
    assert body["key"] == "rules"
    doc_schema = body["params_schema"]
    jsonschema.Draft202012Validator.check_schema(doc_schema)
    assert doc_schema["required"] == ["entry_long"]
    assert set(doc_schema["properties"]) == {*schema.SECTIONS, "exits"}
    # The schema's default is the template, valid under the schema and what an empty POST gets.
    jsonschema.validate(doc_schema["default"], doc_schema)
    created = api_client.post(STRATEGIES, rule_payload({}), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["params"] == doc_schema["default"]
    # A document the schema refuses for its depth is refused by the server too.
    too_deep = {"left": {"price": "close"}, "op": ">", "right": {"const": 1}}
    for _ in range(schema.MAX_DEPTH + 1):
        too_deep = {"all": [too_deep, too_deep]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"entry_long": too_deep}, doc_schema)
    error = refused(
        api_client.post(STRATEGIES, rule_payload({"entry_long": too_deep}), format="json")
    )
    assert "depth limit" in error["message"] and error["message"].startswith("params.entry_long")


def test_the_openapi_document_carries_the_rule_schema(api_client):
    doc = api_client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    post = doc["paths"]["/api/rules/parse/"]["post"]
    assert "429" in post["responses"] and "401" in post["responses"]
    ref = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    parsed = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    document = parsed["properties"]["document"]
    assert set(document["properties"]) == {*schema.SECTIONS, "exits"}
    assert document["required"] == ["entry_long"]


# --- POST /api/rules/parse/ ------------------------------------------------------------------


def test_parse_a_condition_and_a_document(api_client):
    text = "sma(20) crosses_above sma(50) and rsi(14) < 60"
    body = api_client.post(PARSE, {"text": text}, format="json").json()
    assert body == {"text": text, "condition": GOLDEN_CROSS["entry_long"]}

    doc_text = f"entry_long: {text}\nexit_long: sma(20)   crosses_below sma(50)"
    body = api_client.post(PARSE, {"text": doc_text}, format="json").json()
    assert body["document"] == GOLDEN_CROSS
    assert body["text"] == doc_text.replace("   ", " ")


def test_parse_a_whole_document_with_its_exits(api_client):
    text = (
        "entry_long: sma(20) crosses_above sma(50) and rsi(14) < 60\n"
        "exit_long: close < donchian_low(20)\n"
        "exit_at: 15:10\ntrailing_stop: 1.5%\n"
        "stop_loss: 2%\ntarget:5 %\nmax_bars: 10"
    )  # any order, any spacing
    body = api_client.post(PARSE, {"text": text}, format="json").json()
    assert body["document"]["exits"] == {
        "stop_loss_pct": 2.0,
        "target_pct": 5.0,
        "trailing_stop_pct": 1.5,
        "max_bars_in_trade": 10,
        "exit_at": "15:10",
    }
    assert body["document"]["entry_long"] == GOLDEN_CROSS["entry_long"]
    assert body["text"] == (  # canonical: sections, then the exits in a fixed order
        "entry_long: sma(20) crosses_above sma(50) and rsi(14) < 60\n"
        "exit_long: close < donchian_low(20)\n"
        "stop_loss: 2%\ntarget: 5%\ntrailing_stop: 1.5%\nmax_bars: 10\nexit_at: 15:10"
    )
    again = api_client.post(PARSE, {"text": body["text"]}, format="json").json()
    assert again == body  # the canonical text is a fixed point
    # the document saves as a strategy as it is
    created = api_client.post(STRATEGIES, rule_payload(body["document"]), format="json")
    assert created.status_code == 201, created.content
    assert created.json()["params"] == body["document"]


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("entry_long: close > 1\nstop_loss: 2", 2, 13, "expected '%'"),
        ("entry_long: close > 1\nstop_loss: 70%", 2, 12, "stop_loss: Must be at most 50."),
        ("entry_long: close > 1\ntarget: 0%", 2, 9, "target: Must be at least 0.01."),
        ("entry_long: close > 1\nmax_bars: 0", 2, 11, "max_bars: Must be at least 1."),
        ("entry_long: close > 1\nmax_bars: 2%", 2, 12, "Unexpected '%'"),
        ("entry_long: close > 1\nexit_at: 25:00", 2, 10, "exit_at: Must be a time of day"),
        ("entry_long: close > 1\nexit_at: 1510", 2, 10, "a time of day (HH:MM)"),
        ("entry_long: close > 1\ntarget: 2%\ntarget: 3%", 3, 1, "target is given twice."),
        ("stop_loss: 2%", 1, 1, "entry_long: This field is required."),
        ("entry_long: close > target", 1, 21, "Unknown name 'target'"),
        ("entry_long: close > 1\nstop_loss_pct: 2%", 2, 1, "written stop_loss: ..."),
        ("entry_long: close > 1\ntargets: 2%", 2, 1, "Unexpected 'targets'"),
        ("sma(20) crosses_above", 1, 22, "end of the rule"),
        ("close > 5 and\nrsi(14) <> 3", 2, 10, "Unexpected '>'"),
        ("close > sma(0)", 1, 9, "right.period: Must be at least 1."),
        ("entry_long: close > 1\nexit_long: rsi(1) < 5", 2, 12, "exit_long.left.period"),
        ("close > bogus(3)", 1, 9, "Unknown name 'bogus'"),
        ("close ~ 3", 1, 7, "Unexpected character '~'"),
        ("(" * 17 + "close > 1" + ")" * 17, 1, 17, "nesting limit"),
        ("close > 1" + " or close > 1" * 16, 1, 1, "At most 16 conditions in a group."),
    ],
)
def test_parse_errors_name_line_and_column(api_client, text, line, column, words):
    error = refused(api_client.post(PARSE, {"text": text}, format="json"))
    first = error["positions"][0]
    assert (first["line"], first["column"]) == (line, column), error
    assert words in first["message"]
    assert error["fields"]["text"][0].startswith(f"line {line}, column {column}: ")


@pytest.mark.parametrize("body", [{}, {"text": 5}, {"text": None}, {"text": "x" * 4001}, []])
def test_parse_refuses_bad_bodies_with_the_field(api_client, body):
    error = refused(api_client.post(PARSE, body, format="json"))
    assert error["code"] in ("invalid", "parse_error")


PIECES = [
    "entry_long:", "exit_long:", "exit_short:", "stop_loss:", "target:", "trailing_stop:",
    "max_bars:", "exit_at:", "close", "sma(20)", "rsi(0)", "crosses_below", "<", "and", "or",
    "(", ")", "2", "1.5", "-3", "2%", "%", "15:10", "99:99", "[1]", ":", "\n", "\t", "é",
]  # fmt: skip


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.one_of(st.lists(st.sampled_from(PIECES), max_size=12).map(" ".join), st.text()))
def test_random_text_is_parsed_or_refused_with_line_and_column_never_a_500(api_client, text):
    response = api_client.post(PARSE, {"text": text}, format="json")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 200:
        return
    error = response.json()["error"]
    if "positions" not in error:  # the body's own checks: blank text, a NUL character
        assert text == "" or "\x00" in text, error
        assert error["fields"]["text"]
        return
    lines = text.split("\n")
    for position in error["positions"]:
        assert 1 <= position["line"] <= len(lines)
        assert 1 <= position["column"] <= len(lines[position["line"] - 1]) + 1
        assert position["message"]
    assert error["fields"]["text"]


def test_parse_needs_a_login(anon_client):
    assert anon_client.post(PARSE, {"text": "close > 1"}, format="json").status_code == 401


# --- strategies of the rules type ------------------------------------------------------------


def test_create_with_a_bad_document_names_the_path(api_client):
    params = {
        "entry_long": {
            "all": [
                {"left": {"price": "close"}, "op": ">", "right": SMA},
                {"left": {"price": "close"}, "op": ">", "right": RSI_1},
            ]
        }
    }
    error = refused(api_client.post(STRATEGIES, rule_payload(params), format="json"))
    assert error["message"] == "params.entry_long.all[1].right.period: Must be at least 2."
    assert error["fields"]["params"] == {"entry_long.all[1].right.period": ["Must be at least 2."]}
    assert not Strategy.objects.exists()


def test_exits_are_validated_with_their_path_and_stored_typed(api_client):
    params = {**GOLDEN_CROSS, "exits": {"stop_loss_pct": 0, "target_pct": "4", "exit_at": "25:00"}}
    error = refused(api_client.post(STRATEGIES, rule_payload(params), format="json"))
    assert error["fields"]["params"] == {
        "exits.stop_loss_pct": ["Must be at least 0.01."],
        "exits.target_pct": ["Must be a number."],
        "exits.exit_at": ["Must be a time of day, HH:MM (24-hour)."],
    }
    good = {"stop_loss_pct": 2, "target_pct": 4, "trailing_stop_pct": 1.5, "max_bars_in_trade": 5,
            "exit_at": "15:00"}  # fmt: skip
    ok = api_client.post(STRATEGIES, rule_payload({**GOLDEN_CROSS, "exits": good}), format="json")
    assert ok.status_code == 201
    assert ok.json()["params"]["exits"] == {
        "exit_at": "15:00",
        "max_bars_in_trade": 5,
        "stop_loss_pct": 2.0,
        "target_pct": 4.0,
        "trailing_stop_pct": 1.5,
    }
    # Empty exits are fine, and not stored.
    empty = {**rule_payload({**GOLDEN_CROSS, "exits": {}}), "name": "No exits"}
    ok = api_client.post(STRATEGIES, empty, format="json")
    assert ok.status_code == 201 and ok.json()["params"] == GOLDEN_CROSS


def test_limits_are_a_400_naming_the_limit(api_client):
    small = {"left": {"price": "close"}, "op": ">", "right": {"const": 1}}
    big = {"entry_long": {"all": [{"any": [small] * 11}] * 3}}  # 33 comparisons
    error = refused(api_client.post(STRATEGIES, rule_payload(big), format="json"))
    assert error["message"] == (
        f"params.document: The document has {33 * 2} operands; the limit is {schema.MAX_OPERANDS}."
    )
    padded = {**GOLDEN_CROSS, "entry_long": {"all": [GOLDEN_CROSS["exit_long"]] * 16}}
    padded["exit_long"] = {"left": {"const": 1.0}, "op": ">", "right": {"price": "close"}}
    padded["zzz" * 6000] = 1
    error = refused(api_client.post(STRATEGIES, rule_payload(padded), format="json"))
    assert f"the limit is {schema.MAX_BYTES:,} bytes" in error["message"]


def test_patch_validates_and_stores_the_canonical_document(api_client, user):
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=GOLDEN_CROSS)
    url = f"{STRATEGIES}{strategy.pk}/"
    bad = {"entry_long": {"left": {"price": "close"}, "op": "=>", "right": {"const": 1}}}
    error = refused(api_client.patch(url, {"params": bad}, format="json"))
    assert error["fields"]["params"] == {
        "entry_long.op": ["Must be one of: >, <, >=, <=, crosses_above, crosses_below."]
    }
    good = {
        "entry_long": {"left": {"price": "close", "offset": 0}, "op": ">", "right": {"const": 1}}
    }
    response = api_client.patch(url, {"params": good}, format="json")
    assert response.status_code == 200, response.content
    canonical = {"entry_long": {"left": {"price": "close"}, "op": ">", "right": {"const": 1.0}}}
    assert response.json()["params"] == canonical
    strategy.refresh_from_db()
    assert strategy.params == canonical


def test_another_users_rule_strategy_is_not_reachable(user, other_client):
    strategy = StrategyFactory(owner=user, strategy_type="rules", params=GOLDEN_CROSS)
    url = f"{STRATEGIES}{strategy.pk}/"
    assert other_client.get(url).status_code == 404
    patch = other_client.patch(
        url, {"params": {"entry_long": GOLDEN_CROSS["exit_long"]}}, format="json"
    )
    assert patch.status_code == 404
    strategy.refresh_from_db()
    assert strategy.params == GOLDEN_CROSS
