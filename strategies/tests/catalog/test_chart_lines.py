"""What the live chart draws per type: its indicator lines, causal, ready when the warm-up says.

The live page counts "indicators ready in N bars" down from ``warmup_bars``; these properties
hold that count to the lines the chart draws and to the signals the engine acts on.
"""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from execution.marketdata.sources import SyntheticSource
from strategies import catalog
from strategies.catalog.chart import PRICE_PANE
from strategies.tests.catalog.test_causality import ALL, bar_series, type_and_params


def _bars():
    """Two hundred one-minute bars of the synthetic market."""
    return SyntheticSource("NSE:CHART", 60, 0.05).bars(start_ts=1_767_225_600, end_ts=1_767_237_600)


@settings(max_examples=200, deadline=None)
@given(type_and_params(), bar_series(), st.data())
def test_lines_are_causal_and_defined_once_warmed_up(tp, bars, data):
    cls, params = tp
    lines = cls.chart_lines(bars, params)
    assert lines and len({line.key for line in lines}) == len(lines)
    need = cls.warmup_bars(params)
    assert need == cls.warmup(params) + 1
    for line in lines:
        assert line.values.shape == (len(bars),)
        if len(bars) >= need:  # the bar that completes the warm-up has every line
            assert not np.isnan(line.values[need - 1]), line.key
    k = data.draw(st.integers(min_value=0, max_value=len(bars)))
    for line, short in zip(lines, cls.chart_lines(bars.slice(0, k), params), strict=True):
        np.testing.assert_array_equal(short.values, line.values[:k])


@settings(max_examples=100, deadline=None)
@given(type_and_params(), bar_series())
def test_no_decision_before_the_warm_up_is_complete(tp, bars):
    cls, params = tp
    signals = cls.signals(bars, params)
    assert np.all(np.isnan(signals[: cls.warmup_bars(params) - 1]))


def test_oscillators_get_their_own_pane_and_levels():
    rsi = catalog.get("rsi_reversion")
    params = rsi.validate_params({"period": 5, "oversold": 20.0, "overbought": 80.0})
    bars = _bars()
    (line,) = rsi.chart_lines(bars, params)
    assert (line.pane, line.levels) == ("rsi", (20.0, 80.0))
    for cls in ALL:
        if cls.key != "rsi_reversion":
            assert {x.pane for x in cls.chart_lines(bars, cls.defaults())} == {PRICE_PANE}


def test_rule_lines_are_each_indicator_the_rules_read_once():
    rules = catalog.get("rules")
    params = rules.defaults()  # sma(20) crosses sma(50), with rsi(14) < 60
    bars = _bars()
    lines = rules.chart_lines(bars, params)
    assert [(x.key, x.pane) for x in lines] == [
        ("sma(20)", PRICE_PANE),
        ("sma(50)", PRICE_PANE),
        ("rsi(14)", "rsi"),
    ]
    assert rules.warmup_bars(params) == 51  # sma(50) exists from bar 49, a cross needs one more
