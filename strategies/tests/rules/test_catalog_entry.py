"""The ``rules`` catalogue entry: its schema, defaults, warm-up and evaluation by hand."""

from __future__ import annotations

import json

import jsonschema
import numpy as np
import pytest

from execution.engine.bars import BarSeries
from execution.engine.indicators import crossing, sma
from strategies import catalog
from strategies.catalog.rules import GOLDEN_CROSS
from strategies.rules import schema, text
from strategies.rules.compiler import _Evaluation, compile_document
from strategies.tests.catalog._bars import bars_from_closes, decisions

RULES = catalog.get("rules")


def signals(rule_text: str, bars: BarSeries) -> dict[int, float]:
    doc = text.parse_text(rule_text).json
    return decisions(RULES.signals(bars, RULES.validate_params(doc)))


def test_schema_is_json_schema_and_accepts_the_defaults():
    s = RULES.params_schema()
    json.dumps(s)
    jsonschema.Draft202012Validator.check_schema(s)
    jsonschema.validate(RULES.defaults(), s)
    assert RULES.defaults() == RULES.validate_params(GOLDEN_CROSS) == RULES.validate_params(None)
    assert RULES.params == () and RULES.dashboard_form is False


def test_the_dashboard_form_does_not_offer_the_rules_type():
    from strategies.forms import type_choices

    assert "rules" not in [key for key, _ in type_choices()]
    assert len(type_choices()) == len(catalog.keys()) - 1


def test_warmup_is_the_longest_lookback_plus_the_cross_bar():
    doc = text.parse_text("sma(20) crosses_above sma(50) and rsi(14) < 60").json
    assert RULES.warmup({"entry_long": doc}) == 50  # SMA(50) from bar 49, a cross needs 50
    doc = text.parse_text("close[3] > macd_signal(12, 26, 9)").json
    assert RULES.warmup({"entry_long": doc}) == 26 + 9 - 2
    assert RULES.warmup({"entry_long": text.parse_text("close > close[7]").json}) == 7


# close:  5  5  5  4  8  9  10  2  2  2
CLOSES = [5, 5, 5, 4, 8, 9, 10, 2, 2, 2]


def test_entry_and_exit_by_hand():
    bars = bars_from_closes(CLOSES)
    # long when the close is above the previous close, flat when it is below 3
    got = signals("entry_long: close > close[1]\nexit_long: close < 3", bars)
    assert got == {4: 1.0, 7: 0.0}
    # with shorts: the entry beats an exit on the same bar, so a long flips to a short
    # (the short side has no exit condition: its entry repeats while it holds, so the engine
    # can enter again once a stop or target has closed the short; it acts only when flat)
    got = signals(
        "entry_long: close > close[1]\nexit_long: close < 3\nentry_short: close < 3", bars
    )
    assert got == {4: 1.0, 7: -1.0, 8: -1.0, 9: -1.0}


def test_groups_by_hand():
    bars = bars_from_closes(CLOSES)
    got = signals("entry_long: close >= 9 and close[1] >= 8\nexit_long: close <= 2", bars)
    assert got == {5: 1.0, 7: 0.0}
    # no exit condition: every bar the entry holds is an entry (``test_entry_and_exit_by_hand``)
    got = signals("entry_long: close <= 4 or close > 9", bars)
    assert got == {3: 1.0, 6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0}
    got = signals("entry_long: close crosses_above 7 or close crosses_below 3", bars)
    assert got == {4: 1.0, 7: 1.0}


def test_empty_and_tiny_series():
    for doc in (RULES.defaults(), text.parse_text("entry_long: vwap > close[2]").json):
        assert len(RULES.signals(BarSeries.empty(), doc)) == 0
        assert np.all(np.isnan(RULES.signals(bars_from_closes([1.0, 2.0]), doc)))


def test_an_unvalidated_document_never_reaches_the_compiler():
    with pytest.raises(schema.RuleInvalid):
        RULES.signals(bars_from_closes(CLOSES), {"entry_long": {"op": "eval"}})


def test_a_pair_crossing_both_ways_is_the_engines_crossing_rule():
    """The evaluation computes a pair's crossing once and reads both directions (and the
    swapped pair) from it: each must still be ``crossing``'s own answer, ties included."""
    rng = np.random.default_rng(7)
    closes = np.round(100 + np.cumsum(rng.normal(0, 1, 400)), 0)  # whole numbers: many ties
    bars = bars_from_closes(closes.tolist())
    fast, slow = sma(bars.close, 3), sma(bars.close, 7)
    expected = crossing(fast, slow)
    assert np.any(fast == slow)  # the ties the rule sees through are there
    run = compile_document(
        schema.parse_document(
            text.parse_text(
                "entry_long: sma(3) crosses_above sma(7) or sma(7) crosses_below sma(3)\n"
                "exit_long: sma(7) crosses_above sma(3)\n"
                "entry_short: sma(3) crosses_below sma(7)"
            ).json
        )
    )
    ev = _Evaluation(bars)
    doc = run.document
    np.testing.assert_array_equal(ev.condition(doc.entry_long), expected > 0)
    np.testing.assert_array_equal(ev.condition(doc.exit_long), expected < 0)
    np.testing.assert_array_equal(ev.condition(doc.entry_short), expected < 0)
