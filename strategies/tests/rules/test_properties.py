"""Properties of the rule language over random documents (hypothesis).

* a valid document is its own canonical form, compiles, and is causal: signals on a prefix of
  the bars equal the prefix of the signals, bit for bit (what a paper deployment relies on);
* text round trip, exits included: the printed text parses back to the same document and
  prints the same text; random text (exit lines among it) is parsed or refused with a line and
  a column inside the text, never another exception;
* a document broken anywhere is refused with ``ParamsInvalid`` naming the broken path, never
  another exception (which the API would turn into a 500).
"""

from __future__ import annotations

import re

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies import catalog
from strategies.rules import schema, text
from strategies.rules.schema import INDICATORS, MAX_DEPTH, OPERATORS, PRICE_FIELDS
from strategies.tests.catalog.test_causality import bar_series

RULES = catalog.get("rules")
PATH = re.compile(r"^(document|[a-z_]+(\.[a-z_]+|\[\d+\])*)$")

offsets = st.one_of(st.just(0), st.integers(1, 3))


def _with_offset(out: dict, offset: int) -> dict:
    return {**out, "offset": offset} if offset else out


@st.composite
def indicator(draw):
    name = draw(st.sampled_from(sorted(INDICATORS)))
    out: dict = {"indicator": name}
    for arg in INDICATORS[name]:
        if arg.kind == "float":
            out[arg.name] = draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.25]))
        else:
            out[arg.name] = draw(st.integers(int(arg.min), 25))
    if name.startswith("macd") and out["fast"] >= out["slow"]:
        out["fast"], out["slow"] = sorted((out["fast"], out["slow"]))
        out["slow"] += out["fast"] == out["slow"]
    return _with_offset(out, draw(offsets))


def price():
    return st.builds(
        lambda f, o: _with_offset({"price": f}, o), st.sampled_from(PRICE_FIELDS), offsets
    )


const = st.builds(
    lambda c: {"const": float(c)},
    st.one_of(st.integers(-5, 120), st.decimals(0, 150, places=2).map(float)),
)
series_operand = st.one_of(price(), indicator())


@st.composite
def comparison(draw):
    left = draw(series_operand)
    right = draw(st.one_of(series_operand, const))
    if draw(st.booleans()):
        left, right = right, left
    return {"left": left, "op": draw(st.sampled_from(OPERATORS)), "right": right}


def condition(depth: int = 0):
    if depth >= MAX_DEPTH:
        return comparison()
    group = st.builds(
        lambda kind, items: {kind: items},
        st.sampled_from(["all", "any"]),
        st.lists(st.deferred(lambda: condition(depth + 1)), min_size=2, max_size=3),
    )
    return st.one_of(comparison(), comparison(), group)


pct = st.one_of(
    st.sampled_from([0.01, 0.5, 1.0, 1.5, 2.0, 50.0]),
    st.floats(0.01, 50.0, allow_nan=False, allow_infinity=False),
)


@st.composite
def exits(draw):
    """A canonical ``exits`` block: the percentages as floats, the bar count an integer."""
    out: dict = {}
    if draw(st.booleans()):
        out["stop_loss_pct"] = draw(pct)
    if draw(st.booleans()):
        out["target_pct"] = draw(st.one_of(pct, st.floats(50.0, 1000.0)))
    if draw(st.booleans()):
        out["trailing_stop_pct"] = draw(pct)
    if draw(st.booleans()):
        out["max_bars_in_trade"] = draw(st.integers(1, 100_000))
    if draw(st.booleans()):
        out["exit_at"] = f"{draw(st.integers(0, 23)):02d}:{draw(st.integers(0, 59)):02d}"
    return out


@st.composite
def document(draw):
    doc = {"entry_long": draw(condition())}
    if draw(st.booleans()):
        doc["exit_long"] = draw(condition())
    if draw(st.booleans()):
        doc["entry_short"] = draw(condition())
        if draw(st.booleans()):
            doc["exit_short"] = draw(condition())
    block = draw(exits())
    if block:
        doc["exits"] = dict(sorted(block.items()))
    return doc


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(document(), bar_series())
def test_valid_documents_are_canonical_compile_and_are_causal(doc, bars):
    assert RULES.validate_params(doc) == doc
    full = RULES.signals(bars, doc)
    assert full.dtype == np.float64 and len(full) == len(bars)
    assert set(np.unique(full[~np.isnan(full)])) <= {-1.0, 0.0, 1.0}
    if "entry_short" not in doc:
        assert not np.any(full == -1.0)
    for k in sorted({0, 1, len(bars) // 3, len(bars) // 2, len(bars) - 1}):
        if 0 <= k <= len(bars):
            prefix = RULES.signals(bars.slice(0, k), doc)
            np.testing.assert_array_equal(prefix, full[:k])


@FAST
@given(document())
def test_text_round_trip(doc):
    printed = text.document_text(schema.parse_document(doc))
    parsed = text.parse_text(printed)
    assert parsed.json == doc
    assert text.document_text(parsed.document) == printed
    # one line per exit, after the sections, each read back to the very same number
    exit_lines = [line for line in printed.splitlines() if line.split(":")[0] in text.TEXT_EXITS]
    assert len(exit_lines) == len(doc.get("exits", {}))
    if exit_lines:
        assert printed.splitlines()[-len(exit_lines) :] == exit_lines
    for key, value in doc.get("exits", {}).items():
        assert parsed.json["exits"][key] == value and type(parsed.json["exits"][key]) is type(value)
    single = text.condition_text(schema.parse_condition(doc["entry_long"]))
    assert text.parse_text(single).json == doc["entry_long"]


def _paths(node, path=()):
    """Every (path, value) inside a JSON document."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


def _replace(node, path, value):
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(node, dict):
        return {**node, head: _replace(node[head], rest, value)}
    return [_replace(v, rest, value) if i == head else v for i, v in enumerate(node)]


GARBAGE = st.one_of(
    st.just("x"),
    st.just(-1),
    st.just(0),
    st.just(10**6),
    st.just(1.5),
    st.just(True),
    st.just([]),
    st.just({}),
    st.just({"any": []}),
    st.just({"nope": 1}),
)


@FAST
@given(document(), st.data())
def test_broken_documents_name_the_path(doc, data):
    candidates = [p for p, v in _paths(doc) if p and not isinstance(v, list)]
    path = data.draw(st.sampled_from(candidates))
    junk = data.draw(GARBAGE)
    broken = _replace(doc, path, junk)
    try:
        RULES.validate_params(broken)
    except catalog.ParamsInvalid as e:
        where = schema.format_path(path)
        assert e.errors and all(PATH.match(k) for k in e.errors), e.errors
        assert any(k.startswith(where) or where.startswith(k) for k in e.errors), (where, e.errors)
        assert all(m and m.endswith(".") for ms in e.errors.values() for m in ms)
    # Some replacements are still valid (a period 1 -> 0 is not, 20 -> 1.5 is not, but a
    # constant 5 -> 0 is): then the document must still compile.
    else:
        RULES.warmup(RULES.validate_params(broken))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=12,
)


@FAST
@given(st.dictionaries(st.sampled_from([*schema.SECTIONS, "exits", "zzz"]), JSON, max_size=4))
def test_arbitrary_json_is_refused_by_path_never_crashes(raw):
    try:
        RULES.validate_params(raw)
    except catalog.ParamsInvalid as e:
        assert e.errors and all(PATH.match(k) for k in e.errors), e.errors


def _assert_parsed_or_placed(raw: str) -> None:
    try:
        parsed = text.parse_text(raw)
    except text.TextInvalid as e:
        lines = raw.split("\n")
        for err in e.errors:
            assert 1 <= err.line <= len(lines), (raw, err)
            assert 1 <= err.column <= len(lines[err.line - 1]) + 1, (raw, err)
            assert err.message
    else:  # what parses is canonical once printed, and prints the same again
        printed = (
            text.document_text(parsed.document)
            if parsed.document is not None
            else text.condition_text(parsed.condition)
        )
        assert text.parse_text(printed).json == parsed.json


@FAST
@given(st.text(max_size=60))
def test_arbitrary_text_is_parsed_or_refused_with_a_position(raw):
    _assert_parsed_or_placed(raw)


# pieces of the language, the exits' among them, put together at random
PIECES = [
    "entry_long:", "exit_long:", "entry_short:", "exit_short:", "stop_loss:", "target:",
    "trailing_stop:", "max_bars:", "exit_at:", "close", "sma(20)", "rsi(14)", "bb_upper(20, 2)",
    "crosses_above", "<", ">=", "and", "or", "(", ")", "2", "1.5", "-3", "0", "70", "2%", "%",
    "15:10", "9:15", "25:00", "[1]", ":", ",", "\n", " ", "1e3", "100000000",
]  # fmt: skip


@FAST
@given(st.lists(st.sampled_from(PIECES), max_size=14).map(" ".join))
def test_text_made_of_the_languages_pieces_is_parsed_or_refused_with_a_position(raw):
    _assert_parsed_or_placed(raw)
