"""Live-run factories shared by the view tests and the browser tests of the live page.

One place for the strategy a live chart is drawn for (RELIANCE, 1-minute bars, SMA 5 x 15, a
fixed quantity, MIS), its deployment through the service, and an instrument with stored
1-minute bars to replay (a fresh replay warms up on them).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from execution.marketdata.csvbars import ParsedBar
from execution.services.marketdata import bars_import, instrument_get_or_create
from strategies import services
from strategies.models import Deployment, Strategy
from strategies.tests.factories import StrategyFactory, seeded_instrument

SMA_5_15 = {"fast": 5, "slow": 15, "mode": "long_only"}
# Extreme RSI levels: the strategy (practically) never trades, so every fill is a manual one.
QUIET_RSI = {"period": 100, "oversold": 1.0, "overbought": 99.0, "mode": "long_only"}


def chart_strategy(owner: Any, **overrides: Any) -> Strategy:
    """The live chart's strategy: SMA 5 x 15 on RELIANCE's 1-minute bars, 10 shares, MIS."""
    fields = {
        "owner": owner,
        "name": "RELIANCE 1m SMA 5/15",
        "strategy_type": "sma_crossover",
        "params": dict(SMA_5_15),
        "instrument": seeded_instrument("RELIANCE"),
        "timeframe": "1m",
        "quantity": 10,
        "allocation_pct": None,
        "product": "MIS",
        "capital": Decimal("100000.00"),
    }
    fields.update(overrides)
    return StrategyFactory(**fields)


def deploy(strategy: Strategy, **kwargs: Any) -> Deployment:
    """Deploy through the service, as the dashboard does; the row as stored."""
    deployment = services.strategy_deploy(strategy=strategy, actor=strategy.owner, **kwargs)
    deployment.refresh_from_db()
    return deployment


def replay_instrument(symbol: str, *, bars: int) -> Any:
    """An NSE instrument with ``bars`` stored 1-minute bars from 11 Jun 2024, 09:15 IST."""
    instrument, _ = instrument_get_or_create(
        exchange="NSE", symbol=symbol, tick_size=Decimal("0.05"), lot_size=1
    )
    start = datetime(2024, 6, 11, 3, 45, tzinfo=UTC)
    rows = [
        ParsedBar(start + timedelta(minutes=i), Decimal(100 + i % 7), Decimal(103 + i % 7),
                  Decimal(98 + i % 7), Decimal(101 + i % 5), 1_000)
        for i in range(bars)
    ]  # fmt: skip
    bars_import(instrument=instrument, timeframe="1m", bars=rows)
    return instrument
