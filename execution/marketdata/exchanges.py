"""The exchanges and segments instruments trade on: currency, charges, default tick, shorting.

The one place that maps an exchange code to what trading there implies. The ``Exchange`` choices
of the models are built from ``EXCHANGES``; the import command, the engine setup and (later) the
backtest form read the rest from here. Plain Python, no ORM.

``charges`` names a schedule of ``execution.engine.charges.INDIA_SCHEDULES``; ``None`` says
explicitly that no schedule is modelled there, so a backtest charges a flat commission only.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["EXCHANGES", "ExchangeProfile", "UnknownExchange", "exchange_profile"]


@dataclass(frozen=True, slots=True)
class ExchangeProfile:
    """What an exchange code implies for its instruments."""

    code: str
    label: str
    currency: str  # the default currency of a new instrument (FX/CRYPTO: its usual quote)
    charges: str | None  # a charges schedule name, or None: flat commission only
    default_tick: Decimal  # the tick of a new instrument when none is given
    cnc_short: bool = True  # may a delivery (CNC) order sell short?

    @property
    def flat_commission_only(self) -> bool:
        return self.charges is None


_PROFILES = (
    # Indian cash markets forbid short sales in delivery orders.
    ExchangeProfile("NSE", "NSE", "INR", "india_equity", Decimal("0.05"), cnc_short=False),
    ExchangeProfile("BSE", "BSE", "INR", "india_equity", Decimal("0.05"), cnc_short=False),
    ExchangeProfile("NFO", "NSE F&O", "INR", "india_futures_nse", Decimal("0.05")),
    ExchangeProfile("BFO", "BSE F&O", "INR", "india_futures_bse", Decimal("0.05")),
    ExchangeProfile("CDS", "NSE currency derivatives", "INR", "india_currency", Decimal("0.0025")),
    ExchangeProfile("MCX", "MCX commodities", "INR", "india_commodity", Decimal("0.05")),
    ExchangeProfile("NASDAQ", "NASDAQ", "USD", None, Decimal("0.01")),
    ExchangeProfile("NYSE", "NYSE", "USD", None, Decimal("0.01")),
    ExchangeProfile("FX", "Forex (spot)", "USD", None, Decimal("0.00001")),
    ExchangeProfile("CRYPTO", "Crypto (spot)", "USDT", None, Decimal("0.00000001")),
    # the synthetic market mirrors an Indian equity one
    ExchangeProfile("SYNTH", "Synthetic", "INR", "india_equity", Decimal("0.05")),
)

EXCHANGES: dict[str, ExchangeProfile] = {p.code: p for p in _PROFILES}


class UnknownExchange(ValueError):
    """Raised by ``exchange_profile`` for a code that is not in ``EXCHANGES``."""


def exchange_profile(code: str) -> ExchangeProfile:
    """Return the profile of an exchange code (any letter case)."""
    try:
        return EXCHANGES[code.upper()]
    except KeyError:
        raise UnknownExchange(
            f"Unknown exchange {code!r}: use one of {', '.join(EXCHANGES)}."
        ) from None
