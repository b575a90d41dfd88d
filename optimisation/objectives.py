"""What a sweep maximises, read from a backtest's statistics (``execution.engine.stats``).

Every objective is maximised. ``None`` means undefined (no trades for a profit factor, too
short a run for a Sharpe ratio) or infeasible (the drawdown constraint is broken); such a
result is kept but never the best.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def objective_value(
    stats: Mapping[str, Any], objective: str, *, max_drawdown_pct: float | None = None
) -> float | None:
    """Return the objective's value for one run's ``stats``, or None where it is undefined."""
    if objective == "return":
        return stats.get("total_return_pct")
    if objective == "sharpe":
        return stats.get("sharpe")
    if objective == "sortino":
        return stats.get("sortino")
    if objective == "profit_factor":
        return stats.get("profit_factor")
    if objective == "calmar":
        cagr, dd = stats.get("cagr_pct"), stats.get("max_drawdown_pct")
        if cagr is None or not dd:  # no drawdown: the ratio is unbounded, not meaningful
            return None
        return cagr / abs(dd)
    if objective == "return_max_dd":
        dd = stats.get("max_drawdown_pct")
        if max_drawdown_pct is None or dd is None or -dd > max_drawdown_pct:
            return None
        return stats.get("total_return_pct")
    raise ValueError(f"unknown objective {objective!r}")
