"""Shared pieces of the catalogue: the ``mode`` parameter and the entry/exit state machine.

Private to ``strategies.catalog``; a strategy type module composes these with the indicators.
"""

from __future__ import annotations

import numpy as np

from strategies.catalog.base import Param

LONG_ONLY = "long_only"
LONG_SHORT = "long_short"


def mode_param() -> Param:
    """Return the ``mode`` parameter every catalogue type shares."""
    return Param(
        "mode",
        "choice",
        LONG_ONLY,
        label="Mode",
        help="long_only buys and goes flat; long_short also sells short on the opposite signal.",
        choices=(LONG_ONLY, LONG_SHORT),
    )


def decisions_from_rules(
    long_entry: np.ndarray,
    long_exit: np.ndarray,
    short_entry: np.ndarray | None = None,
    short_exit: np.ndarray | None = None,
) -> np.ndarray:
    """Turn per-bar entry/exit conditions into decisions, emitted where the target changes.

    The position starts flat. An entry condition sets the target (+1 long, -1 short); the exit
    condition of the *current* direction sets it to flat; an entry on the same bar as an exit
    wins, so a long can flip straight to a short. Both entries on one bar cancel out (no entry).
    The result is +1/-1/0 on bars where the target changes and NaN elsewhere.

    Vectorised: the target at bar ``i`` is the direction of the last entry ``k <= i``, unless an
    exit of that direction happened in ``(k, i]``; both "last" indices are running maxima, so the
    whole series is O(N) with no Python loop, and causal by construction. The maxima run over
    the bars with an entry or an exit only (``_targets``), the target being constant between
    them: the same decisions, from arrays the size of the events instead of the bars.
    """
    n = len(long_entry)
    long_entry = np.asarray(long_entry, dtype=bool)
    long_exit = np.asarray(long_exit, dtype=bool)
    event = long_entry | long_exit
    if short_entry is not None:
        short_entry = np.asarray(short_entry, dtype=bool)
        event |= short_entry
    if short_exit is not None:
        short_exit = np.asarray(short_exit, dtype=bool)
        event |= short_exit
    # The target only changes on a bar with an entry or an exit, and the rule reads only the
    # order of those bars: it runs on them alone (usually a few percent of all bars) and the
    # target is constant in between.
    at = np.flatnonzero(event)
    state = _targets(
        long_entry[at],
        long_exit[at],
        None if short_entry is None else short_entry[at],
        None if short_exit is None else short_exit[at],
    )
    previous = np.concatenate(([0.0], state[:-1]))
    change = state != previous
    out = np.full(n, np.nan)
    out[at[change]] = state[change]
    return out


def _targets(
    long_entry: np.ndarray,
    long_exit: np.ndarray,
    short_entry: np.ndarray | None,
    short_exit: np.ndarray | None,
) -> np.ndarray:
    """The target (+1/0/-1, float) after each bar of the given conditions, from flat."""
    n = len(long_entry)
    if short_entry is None:
        short_entry = np.zeros(n, dtype=bool)
    if short_exit is None:
        short_exit = np.zeros(n, dtype=bool)
    idx = np.arange(n)
    direction = long_entry.astype(np.int8) - short_entry.astype(np.int8)
    last_entry = np.maximum.accumulate(np.where(direction != 0, idx, -1)) if n else idx
    last_long_exit = np.maximum.accumulate(np.where(long_exit, idx, -1)) if n else idx
    last_short_exit = np.maximum.accumulate(np.where(short_exit, idx, -1)) if n else idx
    entered = np.where(last_entry >= 0, direction[np.maximum(last_entry, 0)], 0)
    return np.where(
        ((entered == 1) & (last_long_exit > last_entry))
        | ((entered == -1) & (last_short_exit > last_entry)),
        0,
        entered,
    ).astype(np.float64)
