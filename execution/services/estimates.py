"""Estimated charges of one round trip, shown on the backtest form before the run.

A 1-minute strategy trades hundreds of times; at Indian delivery (CNC) rates each round trip
costs about 0.12 % of its value, which can eat a third of the capital unnoticed. The estimate
prices one entry and one exit of the strategy's position (its allocation of the capital, or its
fixed quantity at the last stored price) with the same charges model the backtest will use.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from execution.engine.orders import Product, Side
from execution.selectors import latest_close
from execution.services.engine_setup import charges_model
from strategies.models import TIMEFRAME_SECONDS, Strategy

__all__ = ["RoundTripEstimate", "is_intraday", "round_trip_estimate"]

_CENT = Decimal("0.01")


def is_intraday(timeframe: str) -> bool:
    """Bars shorter than a day: strategies on them usually trade intraday (MIS)."""
    return TIMEFRAME_SECONDS.get(timeframe, 86400) < 86400


@dataclass(frozen=True, slots=True)
class RoundTripEstimate:
    """The charges of one entry and one exit of a strategy's position, in its currency."""

    currency: str
    product: str
    value: Decimal  # traded value of each leg
    entry: Decimal
    exit: Decimal
    total: Decimal
    pct_of_capital: Decimal
    basis: str  # what was priced: "allocation" or "quantity"
    mis_total: Decimal | None = None  # the same round trip as MIS, for a CNC intraday strategy


def _last_price(strategy: Strategy) -> Decimal | None:
    """The last stored close of the strategy's instrument, its own timeframe first."""
    close = latest_close(instrument_id=strategy.instrument_id, timeframe=strategy.timeframe)
    if close is None:
        close = latest_close(instrument_id=strategy.instrument_id)
    return close


def _leg_value(strategy: Strategy, capital: Decimal) -> tuple[Decimal, str]:
    if strategy.quantity is not None:
        last = _last_price(strategy)
        if last is not None:
            return (Decimal(strategy.quantity) * last).quantize(_CENT), "quantity"
    pct = strategy.allocation_pct if strategy.allocation_pct is not None else Decimal("100")
    return (capital * pct / 100).quantize(_CENT), "allocation"


def _round_trip(model, product: str, value: Decimal) -> tuple[Decimal, Decimal]:
    def leg(side: Side) -> Decimal:
        total = model.compute(side, Product(product), 1, float(value)).total
        return Decimal(repr(total)).quantize(_CENT, rounding=ROUND_HALF_UP)

    return leg(Side.BUY), leg(Side.SELL)


def round_trip_estimate(
    *,
    strategy: Strategy,
    capital: Decimal | None = None,
    charges: str,
    commission_pct: Decimal | None = None,
) -> RoundTripEstimate:
    """Estimate the charges of one round trip of ``strategy`` at ``capital`` (default: its own).

    ``charges`` and ``commission_pct`` are the backtest's (a flat commission replaces the
    schedule). A CNC strategy on intraday bars also gets the MIS figure, to show the difference.
    """
    capital = strategy.capital if capital is None else capital
    model = charges_model(charges=charges, commission_pct=commission_pct)
    value, basis = _leg_value(strategy, capital)
    entry, exit_ = _round_trip(model, strategy.product, value)
    total = entry + exit_
    mis_total = None
    if strategy.product == Product.CNC and is_intraday(strategy.timeframe):
        mis_total = sum(_round_trip(model, Product.MIS, value), Decimal("0"))
    pct = (total / capital * 100).quantize(Decimal("0.001")) if capital else Decimal("0")
    return RoundTripEstimate(
        currency=strategy.instrument.currency,
        product=strategy.product,
        value=value,
        entry=entry,
        exit=exit_,
        total=total,
        pct_of_capital=pct,
        basis=basis,
        mis_total=mis_total if mis_total != total else None,
    )
