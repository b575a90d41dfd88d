"""Translate a deployment's or backtest's stored configuration into the engine's terms.

One place, so a backtest and a paper deployment of the same strategy are configured alike.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings

from execution.engine.charges import ChargesModel, FlatCommission, charges_schedule
from execution.engine.config import CloseAtEnd, EngineConfig, InstrumentSpec
from execution.engine.orders import Product
from execution.engine.risk import RiskLimits
from execution.engine.session import SessionCalendar, calendar_for
from execution.marketdata.exchanges import charges_default
from execution.models import NO_CNC_SHORT_EXCHANGES
from strategies.models import TIMEFRAME_SECONDS


def charges_model(*, charges: str, commission_pct: Decimal | float | None) -> ChargesModel:
    """A flat commission, when given, replaces the charges schedule (a ``ChargesChoice``)."""
    if commission_pct is not None:
        return FlatCommission(float(commission_pct))
    return charges_schedule(charges)


def default_charges_model(exchange: str) -> ChargesModel:
    """The costs of trading on ``exchange`` when none are chosen (a live deployment's).

    Indian equity's schedule on NSE/BSE; a flat commission where no schedule is modelled.
    """
    default = charges_default(exchange)
    return charges_model(charges=default.charges, commission_pct=default.commission_pct)


_COUNT_LIMITS = frozenset({"max_order_quantity", "max_open_orders", "max_orders_per_minute"})


def risk_limits(raw: dict[str, Any] | None) -> RiskLimits:
    """Stored limits (decimals as strings) as the engine's ``RiskLimits``."""
    known = RiskLimits.__dataclass_fields__
    return RiskLimits(
        **{
            k: int(v) if k in _COUNT_LIMITS else float(v)
            for k, v in (raw or {}).items()
            if k in known and v is not None
        }
    )


def session_calendar(*, exchange: str, timeframe: str) -> SessionCalendar | None:
    """The exchange session intraday bars of ``exchange`` follow, or ``None`` (around the clock).

    Daily bars carry no time of day, so they get none; the MIS square-off time is the
    ``ALGOSAAS["MIS_SQUAREOFF"]`` setting (local time, default 15:20).
    """
    if timeframe == "1d":
        return None
    return calendar_for(exchange, squareoff=settings.ALGOSAAS["MIS_SQUAREOFF"])


def engine_config(
    *,
    snapshot: dict[str, Any],
    capital: Decimal,
    charges: ChargesModel,
    slippage_bps: Decimal | float = 0,
    prefix: str,
    close_at_end: CloseAtEnd = "none",
    seed: int = 0,
    volume_share: float | None = None,
    calendar: SessionCalendar | None = None,
    market_protection_pct: float | None = None,
) -> EngineConfig:
    """Build the engine's configuration from a strategy snapshot (``strategy_config_snapshot``).

    ``calendar`` is the session the bars follow (``session_calendar``): with one, DAY orders
    expire at its close and MIS positions are squared off; without, the market never closes.
    ``market_protection_pct``: the paper broker's market protection (deployments), ``None``
    for none (backtests, which fill market orders as backtesting.py does).
    """
    inst = snapshot["instrument"]
    allocation = snapshot.get("allocation_pct")
    return EngineConfig(
        instrument=InstrumentSpec(
            symbol=inst["symbol"],
            exchange=inst["exchange"],
            tick_size=float(inst["tick_size"]),
            lot_size=int(inst["lot_size"]),
            allow_short_cnc=inst["exchange"] not in NO_CNC_SHORT_EXCHANGES,
        ),
        starting_capital=float(capital),
        quantity=snapshot.get("quantity"),
        allocation_pct=None if allocation is None else float(allocation),
        product=Product(snapshot.get("product", "CNC")),
        charges=charges,
        slippage_bps=float(slippage_bps),
        seed=seed,
        volume_share=volume_share,
        risk=risk_limits(snapshot.get("risk_limits")),
        client_order_prefix=prefix,
        close_at_end=close_at_end,
        calendar=calendar,
        bar_seconds=TIMEFRAME_SECONDS.get(snapshot.get("timeframe", "")),
        market_protection_pct=market_protection_pct,
    )
