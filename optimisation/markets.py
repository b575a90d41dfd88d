"""What a walk-forward runs on: one instrument's bars, or a basket's members on their common
timeline.

The windows are cut on a *timeline* (bar open times, ascending): an instrument's own bars, or,
for a basket, the union of its members' bar times, the timeline ``run_basket`` puts the
basket's total equity on. A stretch ``[start, stop)`` of the timeline is, for a member, its bars
whose time falls from ``timeline[start]`` to ``timeline[stop - 1]`` inclusive: exactly the bars
a basket backtest of those dates loads for it (for bars that never straddle a date).

A member with fewer than ``MIN_MEMBER_BARS`` bars in a stretch (a basket backtest of those
dates would refuse it) sits that stretch out: it is not run, does not trade, and its allocation
stays in the pool as cash, so the others run as the basket of the members present on the same
capital would. A stretch where no member has enough bars has no result (a window with no
winner, or a flat test).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.basket import basket_total_stats, run_basket
from execution.engine.config import EngineConfig
from execution.engine.runner import Engine
from execution.engine.stats import compute_stats
from optimisation.runner import BasketInputs

# a basket backtest refuses a member with fewer bars in its range (``basket_entries``)
MIN_MEMBER_BARS = 2


@dataclass(frozen=True)
class Single:
    """One backtest's statistics and equity curve (``ts`` seconds, equity floats)."""

    stats: dict[str, Any]
    ts: list[int]
    equity: list[float]


class Market(Protocol):
    """The bars a walk-forward cuts and runs: ``ts`` is the timeline its windows index."""

    ts: np.ndarray

    def in_sample(self, start: int, stop: int, capital: float) -> tuple[Any, Any] | None:
        """``(bars, config)`` for ``runner.run_chunk`` over the stretch, or None (no bars)."""

    def out_of_sample(
        self, start: int, stop: int, *, stype: Any, params: dict[str, Any], capital: float
    ) -> Single | None:
        """One backtest of ``params`` over the stretch on ``capital``, or None (no bars)."""

    def absent(self, start: int, stop: int) -> list[str]:
        """The members that sit the stretch out (none for one instrument)."""


def run_single(
    *, bars: BarSeries, config: EngineConfig, stype: Any, params: dict[str, Any]
) -> Single:
    """One backtest, exactly as ``runner.run_params`` runs it, keeping its equity curve."""
    result = Engine(config, stype, params).run(bars)
    stats = compute_stats(
        equity=result.equity.equity,
        ts=result.equity.ts,
        position=result.equity.position,
        trades=result.trades,
        starting_capital=config.starting_capital,
        total_charges=result.state.ledger.total_charges,
    )
    return Single(
        stats=stats,
        ts=[int(t) for t in result.equity.ts],
        equity=[float(e) for e in result.equity.equity],
    )


@dataclass
class InstrumentMarket:
    """One instrument: the timeline is its bars; ``make_config(capital)`` configures a run."""

    bars: BarSeries
    make_config: Callable[[float], EngineConfig]
    ts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ts = self.bars.ts

    def in_sample(self, start: int, stop: int, capital: float) -> tuple[Any, Any]:
        return self.bars.slice(start, stop), self.make_config(capital)

    def out_of_sample(
        self, start: int, stop: int, *, stype: Any, params: dict[str, Any], capital: float
    ) -> Single:
        return run_single(
            bars=self.bars.slice(start, stop),
            config=self.make_config(capital),
            stype=stype,
            params=params,
        )

    def absent(self, start: int, stop: int) -> list[str]:
        return []


@dataclass
class BasketMarket:
    """A basket: each member's bars over the whole range (in basket order) and its label;
    ``make_config(capital, n)`` configures member ``n`` in a basket on ``capital`` (its cap is
    its allocation of it: ``backtest_baskets.basket_member_config``)."""

    members: Sequence[BarSeries]
    labels: Sequence[str]
    make_config: Callable[[float, int], EngineConfig]
    ts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.ts = np.unique(np.concatenate([b.ts for b in self.members]))

    def _stretch(self, start: int, stop: int) -> list[tuple[int, BarSeries]]:
        """The members present in the stretch (enough bars), each with its bars in it."""
        first, last = self.ts[start], self.ts[stop - 1]
        out = []
        for n, bars in enumerate(self.members):
            lo = int(np.searchsorted(bars.ts, first, side="left"))
            hi = int(np.searchsorted(bars.ts, last, side="right"))
            if hi - lo >= MIN_MEMBER_BARS:
                out.append((n, bars.slice(lo, hi)))
        return out

    def _inputs(self, start: int, stop: int, capital: float) -> BasketInputs | None:
        present = self._stretch(start, stop)
        if not present:
            return None
        members = [(self.make_config(capital, n), bars) for n, bars in present]
        return BasketInputs(members=members, capital=capital)

    def in_sample(self, start: int, stop: int, capital: float) -> tuple[Any, Any] | None:
        inputs = self._inputs(start, stop, capital)
        return None if inputs is None else (inputs, None)

    def out_of_sample(
        self, start: int, stop: int, *, stype: Any, params: dict[str, Any], capital: float
    ) -> Single | None:
        inputs = self._inputs(start, stop, capital)
        if inputs is None:
            return None
        result = run_basket(inputs.members, stype, params, capital=inputs.capital)
        return Single(
            stats=basket_total_stats(result, inputs.capital),
            ts=[int(t) for t in result.equity.ts],
            equity=[float(e) for e in result.equity.equity],
        )

    def absent(self, start: int, stop: int) -> list[str]:
        present = {n for n, _bars in self._stretch(start, stop)}
        return [label for n, label in enumerate(self.labels) if n not in present]

    def summary(self) -> list[dict[str, Any]]:
        """Each member's bars over the whole range: how many, first and last bar times."""
        return [
            {
                "instrument": label,
                "bars": len(bars),
                "first_ts": int(bars.ts[0]),
                "last_ts": int(bars.ts[-1]),
            }
            for label, bars in zip(self.labels, self.members, strict=True)
        ]
