"""Backtests of a basket: every member's bars, one ``run_basket``, per-member and total figures.

The basket's total (equity curve, statistics) is what ``Backtest.stats`` and the equity rows
hold, as for a single instrument; ``Backtest.member_stats`` keeps each member's instrument, cap,
statistics and a downsampled equity curve, and each stored trade names its member.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.basket import BasketResult, basket_total_stats, run_basket
from execution.engine.config import EngineConfig
from execution.engine.state import ClosedTrade, EquityCurve
from execution.engine.stats import compute_stats
from execution.exceptions import BacktestInvalid
from execution.models import Backtest
from execution.services.engine_setup import charges_model, engine_config, session_calendar
from strategies import catalog

__all__ = ["BasketBacktest", "basket_backtest_run", "basket_entries", "basket_member_config",
           "basket_total_stats"]  # fmt: skip

MEMBER_CURVE_POINTS = 500
# all members' bars together: 50 instruments x 100,000 bars (bench/basket.py) fit in memory
MAX_BASKET_BARS = 5_000_000


@dataclass
class BasketBacktest:
    """What a basket backtest stores: the total curve and stats, members, trades by member."""

    equity: EquityCurve
    stats: dict[str, Any]
    members: list[dict[str, Any]]
    trades: list[tuple[ClosedTrade, int]]  # (trade, instrument id), by exit time
    bars: int
    source: str


def basket_entries(
    bt: Backtest,
    *,
    load: Callable[[Backtest, dict[str, Any]], tuple[BarSeries, str]],
    prefix: str | None = None,
) -> tuple[list[tuple[EngineConfig, BarSeries]], set[str]]:
    """Each member's engine configuration (its cap, costs, calendar) and bars, as a basket
    backtest runs them (a parameter sweep of the basket too); and the bars' sources."""
    members = bt.config["instruments"]
    charges = charges_model(charges=bt.charges, commission_pct=bt.commission_pct)
    entries = []
    sources = set()
    total = 0
    for n, inst in enumerate(members):
        bars, source = load(bt, inst)
        if len(bars) < 2:
            raise BacktestInvalid(
                f"No bars for {inst['exchange']}:{inst['symbol']} in the chosen range.",
                fields={"instruments": [f"Item {n}: no bars in the chosen range."]},
            )
        sources.add(source)
        total += len(bars)
        if total > MAX_BASKET_BARS:
            raise BacktestInvalid(
                f"The basket's members hold more than {MAX_BASKET_BARS:,} bars together in this"
                " range; shorten it or use fewer instruments.",
                fields={"start": ["Range too long for this basket."]},
            )
        config = basket_member_config(
            snapshot=bt.config,
            n=n,
            capital=bt.capital,
            charges=charges,
            slippage_bps=bt.slippage_bps,
            close_at_end=bt.close_at_end,
            prefix=prefix or f"bt{bt.pk}",
        )
        entries.append((config, bars))
    return entries, sources


def basket_member_config(
    *,
    snapshot: dict[str, Any],
    n: int,
    capital: Decimal,
    charges: Any,
    slippage_bps: Decimal,
    close_at_end: str,
    prefix: str,
) -> EngineConfig:
    """Member ``n``'s engine configuration in a basket on ``capital``: its cap is its
    allocation of that capital. One function, so a basket backtest, a sweep and a walk-forward's
    windows (each on its own capital) configure a member alike."""
    inst = snapshot["instruments"][n]
    return engine_config(
        snapshot={**snapshot, "instrument": inst},
        capital=capital * Decimal(inst["allocation_pct"]) / 100,
        charges=charges,
        slippage_bps=slippage_bps,
        prefix=f"{prefix}m{n}",
        close_at_end=close_at_end,
        calendar=session_calendar(exchange=inst["exchange"], timeframe=snapshot["timeframe"]),
    )


def basket_backtest_run(
    bt: Backtest,
    *,
    load: Callable[[Backtest, dict[str, Any]], tuple[BarSeries, str]],
    progress: Callable[[float], None] | None = None,
) -> BasketBacktest:
    """Run a basket backtest (``bt.config["instruments"]``); ``load`` gives a member's bars."""
    members = bt.config["instruments"]
    stype = catalog.get(bt.config["strategy_type"])
    entries, sources = basket_entries(bt, load=load)
    result = run_basket(
        entries, stype, bt.config["params"], capital=float(bt.capital), progress=progress
    )
    stats = basket_total_stats(result, float(bt.capital))
    return BasketBacktest(
        equity=result.equity,
        stats=stats,
        members=_members(result, members),
        trades=_trades(result, members),
        bars=sum(len(b) for _, b in entries),
        source=sources.pop() if len(sources) == 1 else "mixed",
    )


def _members(result: BasketResult, members: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for inst, cap, r in zip(members, result.caps, result.members, strict=True):
        c = r.equity
        stats = compute_stats(
            equity=c.equity,
            ts=c.ts,
            position=c.position,
            trades=r.trades,
            starting_capital=cap,
            total_charges=r.state.ledger.total_charges,
        )
        m = len(c.ts)
        idx = (
            np.unique(np.append(np.linspace(0, m - 1, MEMBER_CURVE_POINTS).astype(np.int64), m - 1))
            if m > MEMBER_CURVE_POINTS
            else np.arange(m)
        )
        out.append(
            {
                "instrument": inst["id"],
                "exchange": inst["exchange"],
                "symbol": inst["symbol"],
                "allocation_pct": inst["allocation_pct"],
                "cap": round(cap, 2),
                "bars": m,
                "position": int(c.position[-1]) if m else 0,
                "stats": stats,
                "equity": [[int(c.ts[i]), round(float(c.equity[i]), 2)] for i in idx],
            }
        )
    return out


def _trades(result: BasketResult, members: list[dict[str, Any]]) -> list[tuple[ClosedTrade, int]]:
    rows = [
        (t.exit_ts, n, k, t, inst["id"])
        for n, (inst, r) in enumerate(zip(members, result.members, strict=True))
        for k, t in enumerate(r.trades)
    ]
    rows.sort(key=lambda row: row[:3])
    return [(t, iid) for *_key, t, iid in rows]
