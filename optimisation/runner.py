"""Run many parameter sets of one strategy over the same bars: a sweep chunk's inner loop.

The bars are loaded once by the caller and shared read-only; inside ``indicator_memo`` each
indicator series (SMA(20) of the close, ...) is computed once and reused by every parameter set
that asks for it. Each run is otherwise exactly a backtest: the same ``Engine``, the same
configuration, the same ``compute_stats``, so a result equals the single backtest bit for bit.

A basket's sweep passes ``BasketInputs`` as its bars: each parameter set is then one
``run_basket`` over every member's bars, with the basket backtest's own total statistics
(``basket_total_stats``), so the objective is the basket's total and a result equals the
basket backtest of the same parameters.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from execution.engine.bars import BarSeries
from execution.engine.basket import basket_total_stats, run_basket
from execution.engine.config import EngineConfig
from execution.engine.indicators import indicator_memo
from execution.engine.runner import Engine
from execution.engine.stats import compute_stats
from optimisation.objectives import objective_value


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cyclic GC off for a whole chunk, back on (as it was) after it.

    A backtest pauses it for its own run already; between runs its generations would still
    fill with each run's statistics and the next run's set-up, and the young and full
    collections then rescan a worker's large heap (its Django, the bars' memo) for nothing:
    a run leaves no cyclic garbage, its objects are freed by reference counting when the next
    run replaces them. ~3 % of a chunk.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass(frozen=True)
class BasketInputs:
    """A basket sweep's bars: each member's engine configuration and bars, and the capital."""

    members: list[tuple[EngineConfig, BarSeries]]
    capital: float


@dataclass(frozen=True)
class Outcome:
    params: dict[str, Any]
    value: float | None
    stats: dict[str, Any]


def run_params(
    *,
    bars: BarSeries | BasketInputs,
    config: EngineConfig | None,
    stype: Any,
    params: dict[str, Any],
) -> dict[str, Any]:
    """One backtest's statistics, computed exactly as ``backtest_execute`` computes them."""
    if isinstance(bars, BasketInputs):  # a basket: ``config`` is each member's, in ``bars``
        basket = run_basket(bars.members, stype, params, capital=bars.capital)
        return basket_total_stats(basket, bars.capital)
    if config is None:
        raise ValueError("run_params: a single instrument needs its EngineConfig")
    result = Engine(config, stype, params, orders=False).run(bars)  # the stats read no orders
    return compute_stats(
        equity=result.equity.equity,
        ts=result.equity.ts,
        position=result.equity.position,
        trades=result.trades,
        starting_capital=config.starting_capital,
        total_charges=result.state.ledger.total_charges,
    )


def run_chunk(
    *,
    bars: BarSeries | BasketInputs,
    config: EngineConfig | None,
    stype: Any,
    param_sets: Iterable[dict[str, Any]],
    objective: str,
    max_drawdown_pct: float | None = None,
    should_stop: Callable[[], bool] | None = None,
    memo: dict | None = None,
) -> list[Outcome] | None:
    """Every parameter set's outcome, in order; None if ``should_stop`` said so midway.

    ``memo``: an indicator memo kept from an earlier chunk over the very same ``bars``
    object, so its series are reused (``indicator_memo`` keys on array identity).
    """
    out: list[Outcome] = []
    with indicator_memo(memo), _gc_paused():
        for params in param_sets:
            if should_stop is not None and should_stop():
                return None
            stats = run_params(bars=bars, config=config, stype=stype, params=params)
            value = objective_value(stats, objective, max_drawdown_pct=max_drawdown_pct)
            out.append(Outcome(params=params, value=value, stats=stats))
    return out
