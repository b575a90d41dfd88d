"""What a user does with a sweep's results: the heatmap, the ordered table, and the winner.

Reads (``sweep_heatmap``, ``sweep_results_sorted``, ``winner_backtests``) and the three
actions the dashboard offers on a result, each through the service that owns the rule:
``sweep_params_save`` (the strategy service: its validation, its refusal while running, its
audit row), ``sweep_result_backtest`` (the backtest service) and ``sweep_walk_forward`` (the
walk-forward service, asked with the sweep's own space, objective, range and costs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, FloatField, QuerySet
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast
from django.http import Http404

from execution.models import Backtest, BacktestStatus
from execution.services.backtests import backtest_request
from optimisation.exceptions import SweepConflict
from optimisation.models import RobustnessRun, Sweep, SweepMethod, SweepResult
from optimisation.robustness import walk_forward_request
from optimisation.services import sweep_space
from optimisation.space import SpaceInvalid
from strategies.services import strategy_params_set

# the table's sortable columns: the objective, or a statistic of the result's backtest
SORT_KEYS: dict[str, str] = {
    "value": "Objective",
    "total_return_pct": "Return",
    "sharpe": "Sharpe",
    "sortino": "Sortino",
    "max_drawdown_pct": "Max drawdown",
    "profit_factor": "Profit factor",
    "win_rate_pct": "Win rate",
    "trades": "Trades",
}
DEFAULT_SORT = "-value"
HEAT_LEVELS = 10  # colour classes heat-0 (worst) .. heat-9 (best) in app.css


def parse_sort(raw: str | None) -> tuple[str, bool]:
    """``sort`` as (key, descending); an unknown key falls back to the objective, best first."""
    raw = raw or DEFAULT_SORT
    descending = raw.startswith("-")
    key = raw.lstrip("-")
    if key not in SORT_KEYS:
        return "value", True
    return key, descending


def sweep_results_sorted(*, sweep: Sweep, sort: str | None) -> QuerySet[SweepResult]:
    """The sweep's results ordered by the objective or a statistic; undefined values last."""
    key, descending = parse_sort(sort)
    # a JSON null reads as SQL NULL through the text transform, so it sorts last too
    stat = Cast(KeyTextTransform(key, "stats"), FloatField())
    expr = F("value") if key == "value" else stat
    order = expr.desc(nulls_last=True) if descending else expr.asc(nulls_last=True)
    return sweep.results.order_by(order, "id")


def sweep_result_get(*, sweep: Sweep, result_id: Any) -> SweepResult:
    """One result of the sweep, or 404 (a result of another sweep is not this sweep's)."""
    try:
        return sweep.results.get(pk=int(result_id))
    except (SweepResult.DoesNotExist, ValueError, TypeError, OverflowError):
        raise Http404("No such result.") from None


# ------------------------------------------------------------------------------ the heatmap


@dataclass(frozen=True)
class Cell:
    x: Any
    y: Any
    value: float | None
    ran: bool  # False: no result for the pair (refused by the rules, or not run yet)
    level: int | None  # 0..HEAT_LEVELS-1, None when undefined


@dataclass
class Heatmap:
    """The objective over two swept parameters, the others fixed at the best result's values."""

    axes: list[str]  # every parameter the sweep varied, in the type's order
    x: str
    y: str
    xs: list[Any]
    ys: list[Any]
    rows: list[tuple[Any, list[Cell]]]
    fixed: dict[str, Any] = field(default_factory=dict)
    low: float | None = None
    high: float | None = None


def _level(value: float | None, low: float | None, high: float | None) -> int | None:
    if value is None or low is None or high is None:
        return None
    if high == low:
        return HEAT_LEVELS - 1
    share = (value - low) / (high - low)
    return min(HEAT_LEVELS - 1, max(0, math.floor(share * HEAT_LEVELS)))


def sweep_heatmap(*, sweep: Sweep, x: str | None = None, y: str | None = None) -> Heatmap | None:
    """The heatmap over ``x`` and ``y`` (defaults: the first two varied parameters).

    None when the sweep varies fewer than two parameters. Every other varied parameter is held
    at the best result's value (none yet: no cell matches until a result is in).
    """
    try:
        space = sweep_space(sweep)
    except SpaceInvalid:
        return None
    dims = {d.name: d for d in space.dimensions if len(d.values) > 1}
    axes = list(dims)
    if len(axes) < 2:
        return None
    if x not in dims:
        x = axes[0]
    if y not in dims or y == x:
        y = next(a for a in axes if a != x)
    best = sweep.best_params or {}
    fixed = {name: best.get(name) for name in axes if name not in (x, y)}
    found: dict[tuple[str, str], float | None] = {}
    for params, value in sweep.results.values_list("params", "value").iterator(chunk_size=2000):
        if all(params.get(name) == v for name, v in fixed.items()):
            found[(repr(params.get(x)), repr(params.get(y)))] = value
    defined = [v for v in found.values() if v is not None]
    low, high = (min(defined), max(defined)) if defined else (None, None)
    xs, ys = list(dims[x].values), list(dims[y].values)
    rows = []
    for yv in reversed(ys):  # the largest value on top, as a chart's y axis reads
        cells = []
        for xv in xs:
            key = (repr(xv), repr(yv))
            value = found.get(key)
            cells.append(Cell(xv, yv, value, key in found, _level(value, low, high)))
        rows.append((yv, cells))
    return Heatmap(axes, x, y, xs, ys, rows, fixed, low, high)


# ------------------------------------------------------------------------------ actions


def _check_type(sweep: Sweep) -> None:
    if sweep.strategy.strategy_type != sweep.config["strategy_type"]:
        raise SweepConflict(
            "The strategy's type changed after this sweep; its parameters no longer apply.",
            status=sweep.status,
        )


def _params_text(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items() if k != "exits")


def sweep_params_save(*, sweep: Sweep, result: SweepResult, actor) -> Any:
    """Make the result's parameters the strategy's (refused while it runs; audited)."""
    _check_type(sweep)
    value = "undefined" if result.value is None else f"{result.value:.4g}"
    reason = (
        f"Parameters from sweep #{sweep.pk} ({sweep.get_objective_display()} {value}): "
        f"{_params_text(result.params)}"
    )
    return strategy_params_set(
        strategy=sweep.strategy, params=result.params, actor=actor, reason=reason
    )


def sweep_result_backtest(*, sweep: Sweep, result: SweepResult, user) -> Backtest:
    """Queue a full backtest of the result's parameters over the sweep's range and costs."""
    _check_type(sweep)
    return backtest_request(
        strategy=sweep.strategy,
        user=user,
        start=sweep.start,
        end=sweep.end,
        capital=sweep.capital,
        charges=sweep.charges,
        commission_pct=sweep.commission_pct,
        slippage_bps=sweep.slippage_bps,
        close_at_end=sweep.close_at_end,
        params=result.params,
    )


def winner_backtests(*, sweep: Sweep) -> QuerySet[Backtest]:
    """Complete backtests of the strategy with the sweep's best parameters, newest first."""
    if not sweep.best_params:
        return Backtest.objects.none()
    return Backtest.objects.filter(
        owner_id=sweep.owner_id,
        strategy_id=sweep.strategy_id,
        status=BacktestStatus.COMPLETE,
        config__params=sweep.best_params,
    ).order_by("-created_at", "-id")


def sweep_walk_forward(
    *, sweep: Sweep, user, windows: int, mode: str, in_sample_ratio: float
) -> RobustnessRun:
    """Walk the sweep's search forward: the same space, objective, range and costs.

    A grid or random sweep keeps its method; an optuna sweep's space is searched by a seeded
    random sample of its trial budget (each window's search must be exhaustive or seeded).
    """
    method, samples = sweep.method, sweep.samples
    if method == SweepMethod.OPTUNA:
        method, samples = SweepMethod.RANDOM, sweep.trials
    return walk_forward_request(
        strategy=sweep.strategy,
        user=user,
        space=sweep.space,
        windows=windows,
        mode=mode,
        in_sample_ratio=in_sample_ratio,
        method=method,
        objective=sweep.objective,
        samples=samples,
        seed=sweep.seed,
        max_drawdown_pct=sweep.max_drawdown_pct,
        start=sweep.start,
        end=sweep.end,
        capital=sweep.capital,
        charges=sweep.charges,
        commission_pct=sweep.commission_pct,
        slippage_bps=sweep.slippage_bps,
        close_at_end=sweep.close_at_end,
    )
