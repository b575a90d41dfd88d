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

__all__ = [
    "DEFAULT_FLAT_COMMISSION_PCT",
    "EXCHANGES",
    "ChargesDefault",
    "ExchangeProfile",
    "UnknownExchange",
    "charges_default",
    "exchange_profile",
]

# Where no charges schedule is modelled (NASDAQ, NYSE, FX, crypto) a backtest or a deployment
# pays this flat commission, in percent of traded value, unless told otherwise: a US broker's
# cost is a small commission, not India's STT and stamp duty.
DEFAULT_FLAT_COMMISSION_PCT = Decimal("0.01")


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


@dataclass(frozen=True, slots=True)
class ChargesDefault:
    """The costs a backtest or deployment on an exchange gets when none are chosen."""

    charges: str  # a schedule of ``INDIA_SCHEDULES``, or "none"
    commission_pct: Decimal | None  # a flat commission replacing the schedule, or None

    @property
    def has_schedule(self) -> bool:
        return self.commission_pct is None and self.charges != "none"


def charges_default(code: str) -> ChargesDefault:
    """Return the default costs on an exchange: its schedule, else the flat commission."""
    profile = exchange_profile(code)
    if profile.charges is None:
        return ChargesDefault("none", DEFAULT_FLAT_COMMISSION_PCT)
    return ChargesDefault(profile.charges, None)


def costs_or_default(
    code: str, charges: str | None, commission_pct: Decimal | None
) -> tuple[str, Decimal | None]:
    """The costs a backtest, sweep or walk-forward runs with on exchange ``code``: the ones
    asked for, else the exchange's default schedule (and its commission unless one was given)."""
    if charges is None:
        default = charges_default(code)
        charges = default.charges
        if commission_pct is None:
            commission_pct = default.commission_pct
    return charges, commission_pct
