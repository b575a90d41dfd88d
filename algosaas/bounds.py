"""The range of every number and date a client may send: one definition each.

The API's serializers and the dashboard's forms take their ``min_value``/``max_value`` (or
validators, for dates) from here, so both refuse the same input, and the OpenAPI schema shows
each range (``minimum``/``maximum`` on integers, a sentence in the description of decimal
strings and dates: ``algosaas.api.schema.AutoSchema``). Strategy-type parameters keep their
ranges beside their definition, on the catalogue's ``Param`` (its validation, form field and
schema read them from there).

Without an upper bound, ``10**30`` orders passed as a risk limit, and a backtest of
0001-01-01..9999-12-31 failed in its job with an ``OverflowError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar

from django.core.validators import MaxValueValidator, MinValueValidator

T = TypeVar("T", int, float, Decimal, date)


@dataclass(frozen=True)
class Bound(Generic[T]):
    """A closed range ``[min, max]``."""

    min: T
    max: T

    def field_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of a DRF or Django number field bounded to this range."""
        return {"min_value": self.min, "max_value": self.max}

    def validators(self) -> list[MinValueValidator | MaxValueValidator]:
        """Validators for fields that take no ``min_value``/``max_value`` (dates)."""
        return [MinValueValidator(self.min), MaxValueValidator(self.max)]

    def __contains__(self, value: T) -> bool:
        return self.min <= value <= self.max


# Units of an instrument in one order or one strategy entry.
QUANTITY = Bound(1, 10_000_000)
# Rupees: starting capital of a strategy or a backtest (₹1,000 to ₹10,000 crore).
CAPITAL = Bound(Decimal("1000.00"), Decimal("100000000000.00"))
# Rupees: a risk limit on an order's or a position's value, or on a day's loss.
MONEY_LIMIT = Bound(Decimal("0.01"), Decimal("100000000000.00"))
# Per unit, in the instrument's currency: a limit or trigger price (8 places: FX and crypto ticks).
PRICE = Bound(Decimal("0.00000001"), Decimal("1000000000"))
# Percent: a share of equity per entry, or a limit price's band around the last price.
PERCENT = Bound(Decimal("0.01"), Decimal("100"))
# Percent of traded value: a backtest's flat commission.
COMMISSION_PCT = Bound(Decimal("0"), Decimal("10"))
# Basis points: a backtest's slippage.
SLIPPAGE_BPS = Bound(Decimal("0"), Decimal("1000"))
# Risk limits on counts.
OPEN_ORDERS = Bound(1, 1_000)
ORDERS_PER_MINUTE = Bound(1, 1_000)
# Wall-clock seconds per stored bar when a deployment replays history.
SECONDS_PER_BAR = Bound(0.5, 3600.0)
# Days a client may name: a backtest's range, a list filter's (beyond, a day's time arithmetic
# overflowed).
DATE = Bound(date(1900, 1, 1), date(2099, 12, 31))
