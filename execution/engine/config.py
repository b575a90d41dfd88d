"""Plain configuration of a run: instrument, session calendar, sizing, charges, risk.

Everything here is JSON-safe through ``to_dict``/``from_dict`` so the Django layer can keep a
deployment's configuration beside its state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from execution.engine.charges import (
    ChargesModel,
    IndiaEquityCharges,
    charges_from_dict,
)
from execution.engine.orders import Product
from execution.engine.risk import RiskLimits
from execution.engine.session import SessionCalendar


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """What the broker checks an order against: lot size, tick size, short-selling rule.

    ``allow_short_cnc`` is False on NSE/BSE (no delivery short selling); set it for markets such
    as NASDAQ where a backtest may short (e.g. to reproduce backtesting.py on GOOG).
    """

    symbol: str
    exchange: str = "NSE"
    tick_size: float = 0.05
    lot_size: int = 1
    allow_short_cnc: bool = False

    def __post_init__(self) -> None:
        if not (self.tick_size > 0 and math.isfinite(self.tick_size)):
            raise ValueError(f"{self.symbol}: tick_size must be positive, got {self.tick_size!r}")
        if int(self.lot_size) != self.lot_size or self.lot_size < 1:
            raise ValueError(
                f"{self.symbol}: lot_size must be a positive integer, got {self.lot_size!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "exchange": self.exchange,
            "tick_size": self.tick_size,
            "lot_size": self.lot_size,
            "allow_short_cnc": self.allow_short_cnc,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InstrumentSpec:
        return cls(**d)


CloseAtEnd = Literal["none", "close", "last_open"]


@dataclass(frozen=True)
class EngineConfig:
    """Everything that shapes a run except the strategy and the bars.

    Sizing: exactly one of ``quantity`` (fixed units per entry, whole lots) or
    ``allocation_pct`` (percent of available funds per entry, charges included, so the entry
    never fails the broker's funds check because of sizing).

    ``close_at_end`` closes a position still open after the last bar: ``"close"`` at the last
    bar's close; ``"last_open"`` at the last bar's open, which is what backtesting.py 0.6's
    ``finalize_trades=True`` does (it re-runs its broker over the last bar); ``"none"`` leaves it
    open (live steps).

    ``calendar`` is the exchange session the bars follow (DAY expiry at its close; MIS squared
    off at its ``squareoff`` time, which needs ``bar_seconds`` or at least two bars to infer it).
    """

    instrument: InstrumentSpec
    starting_capital: float = 100_000.0
    quantity: int | None = None
    allocation_pct: float | None = None
    product: Product = Product.CNC
    charges: ChargesModel = field(default_factory=IndiaEquityCharges)
    slippage_bps: float = 0.0
    slippage_random: bool = False
    volume_share: float | None = None
    seed: int = 0
    risk: RiskLimits = field(default_factory=RiskLimits)
    calendar: SessionCalendar | None = None
    client_order_prefix: str = "bt"
    close_at_end: CloseAtEnd = "none"
    bar_seconds: int | None = None  # the bars' length; inferred from the bars when not given
    # the paper broker's market protection (``PaperBroker``): off in backtests, which fill as
    # backtesting.py does; a deployment sets it (``ALGOSAAS["MARKET_PROTECTION_PCT"]``)
    market_protection_pct: float | None = None

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.allocation_pct is None):
            raise ValueError("set exactly one of quantity or allocation_pct")
        if self.quantity is not None and (
            int(self.quantity) != self.quantity
            or self.quantity <= 0
            or self.quantity % self.instrument.lot_size
        ):
            raise ValueError("quantity must be a positive multiple of the lot size")
        if self.allocation_pct is not None and not (0 < self.allocation_pct <= 100):
            raise ValueError("allocation_pct must be in (0, 100]")
        if self.volume_share is not None and not (0 < self.volume_share <= 1):
            raise ValueError("volume_share must be in (0, 1]")
        if self.slippage_bps < 0:
            raise ValueError("slippage_bps must be >= 0")
        if self.close_at_end not in ("none", "close", "last_open"):
            raise ValueError("close_at_end must be none, close or last_open")
        if not self.starting_capital > 0:
            raise ValueError("starting_capital must be positive")
        if self.market_protection_pct is not None and not (0 < self.market_protection_pct <= 100):
            raise ValueError("market_protection_pct must be in (0, 100]")

    def to_dict(self) -> dict[str, Any]:
        return {
            "instrument": self.instrument.to_dict(),
            "starting_capital": self.starting_capital,
            "quantity": self.quantity,
            "allocation_pct": self.allocation_pct,
            "product": str(self.product),
            "charges": self.charges.to_dict(),
            "slippage_bps": self.slippage_bps,
            "slippage_random": self.slippage_random,
            "volume_share": self.volume_share,
            "seed": self.seed,
            "risk": self.risk.to_dict(),
            "calendar": self.calendar.to_dict() if self.calendar else None,
            "client_order_prefix": self.client_order_prefix,
            "close_at_end": self.close_at_end,
            "bar_seconds": self.bar_seconds,
            # written only when set, so a configuration without it reads as it always did
            **(
                {"market_protection_pct": self.market_protection_pct}
                if self.market_protection_pct is not None
                else {}
            ),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EngineConfig:
        d = dict(d)
        d["instrument"] = InstrumentSpec.from_dict(d["instrument"])
        d["product"] = Product(d.get("product", "CNC"))
        d["charges"] = charges_from_dict(d["charges"])
        d["risk"] = RiskLimits.from_dict(d.get("risk") or {})
        d["calendar"] = SessionCalendar.from_dict(d.get("calendar"))
        return cls(**d)
