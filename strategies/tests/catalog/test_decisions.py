"""The entry/exit state machine every rule-based type shares (``_rules.decisions_from_rules``).

Checked bar by bar against the rule as its docstring states it: flat at the start; an entry
sets the target (+1 long, -1 short; both entries on one bar cancel out); the exit of the
current direction sets it flat; an entry beats an exit on the same bar; a decision is emitted
only where the target changes.
"""

from __future__ import annotations

import numpy as np
import pytest

from strategies.catalog._rules import decisions_from_rules


def bar_by_bar(long_entry, long_exit, short_entry=None, short_exit=None) -> np.ndarray:
    n = len(long_entry)
    short_entry = np.zeros(n, bool) if short_entry is None else short_entry
    short_exit = np.zeros(n, bool) if short_exit is None else short_exit
    out = np.full(n, np.nan)
    target = 0
    for i in range(n):
        before = target
        direction = int(long_entry[i]) - int(short_entry[i])
        if direction:
            target = direction
        elif (target == 1 and long_exit[i]) or (target == -1 and short_exit[i]):
            target = 0
        if target != before:
            out[i] = float(target)
    return out


@pytest.mark.parametrize("seed", range(60))
def test_decisions_follow_the_rule_bar_by_bar(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    density = rng.uniform(0.0, 0.6, 4)  # sparse to dense conditions
    le, lx, se, sx = (rng.random(n) < p for p in density)
    for args in ((le, lx), (le, lx, se, sx), (le, lx, se, None), (le, lx, None, sx)):
        got = decisions_from_rules(*args)
        want = bar_by_bar(*args)
        assert got.dtype == np.float64 and got.shape == (n,)
        np.testing.assert_array_equal(got, want)


def test_an_entry_beats_an_exit_and_two_entries_cancel():
    le = np.array([1, 0, 1, 1, 0, 0], bool)
    lx = np.array([0, 0, 1, 0, 1, 0], bool)
    se = np.array([0, 0, 0, 1, 0, 1], bool)
    sx = np.zeros(6, bool)
    got = decisions_from_rules(le, lx, se, sx)
    # long; still long; entry beats exit (no change); both entries: no entry; exit; short
    np.testing.assert_array_equal(got, [1.0, np.nan, np.nan, np.nan, 0.0, -1.0])
