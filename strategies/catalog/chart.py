"""What a strategy type draws on a price chart: its own indicator lines, from its own functions.

A chart line is computed by the very ``execution.engine.indicators`` call the type's ``signals``
makes, on the same bars, so the line a trader sees crossing is the one the engine compared.
``pane`` is ``"price"`` for an overlay on the candles, else the name of a pane of its own
(an RSI's 0-100 scale, say); ``levels`` are fixed guide lines in that pane (oversold/overbought).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PRICE_PANE = "price"


@dataclass(frozen=True)
class ChartLine:
    """One indicator series: ``values[i]`` belongs to bar ``i`` (NaN before it exists)."""

    key: str
    label: str
    values: np.ndarray
    pane: str = PRICE_PANE
    levels: tuple[float, ...] = field(default_factory=tuple)
