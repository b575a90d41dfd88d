"""Ticks and lots: what the database can store, and bars checked (or rounded) onto a tick.

Plain Python, no ORM. The database keeps prices and ticks to ``PRICE_PLACES`` decimals, enough
for FX (0.00001), NSE currency derivatives (0.0025) and crypto (1e-8). Anything finer would be
rounded by the database without a word, so it is refused here with the value named.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

from execution.marketdata.csvbars import ParsedBar

__all__ = [
    "PRICE_PLACES",
    "PRICE_QUANTUM",
    "OffTickPrices",
    "bars_on_tick",
    "lot_problem",
    "price_text",
    "tick_problem",
]

PRICE_PLACES = 8
PRICE_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)  # 0.00000001
TICK_DIGITS = 16  # the column's max_digits: ticks below 10**8
MAX_TICK = Decimal(10) ** (TICK_DIGITS - PRICE_PLACES)
MAX_EXAMPLES = 5
_FOUR_PLACES = Decimal("0.0001")
_FIELDS = ("open", "high", "low", "close")


def _text(value: Decimal) -> str:
    return f"{value:f}"


def price_text(value: Decimal) -> str:
    """A stored price or tick as text: four places as always, more only where it has them.

    The columns keep 8 places for FX and crypto ticks; ``100.0000`` stays ``100.0000`` and a
    price of 1.23456 on a 0.00001 tick reads ``1.23456``, not ``1.23456000`` nor ``1.2346``.
    """
    four = value.quantize(_FOUR_PLACES)
    return f"{four:f}" if four == value else f"{value.normalize():f}"


def tick_problem(tick: Decimal | None) -> str | None:
    """Return why ``tick`` cannot be an instrument's tick size, or ``None`` when it can."""
    if tick is None or not isinstance(tick, Decimal) or not tick.is_finite():
        return f"Tick size {tick!r} is not a number."
    if tick <= 0:
        return f"Tick size {_text(tick)} must be positive."
    if tick >= MAX_TICK:
        return f"Tick size {_text(tick)} is too large (at most {_text(MAX_TICK - PRICE_QUANTUM)})."
    if tick % PRICE_QUANTUM:
        return (
            f"Tick size {_text(tick)} is finer than {_text(PRICE_QUANTUM)}, "
            f"the finest the database stores ({PRICE_PLACES} decimal places)."
        )
    return None


def lot_problem(lot: int | None) -> str | None:
    """Return why ``lot`` cannot be an instrument's lot size, or ``None`` when it can."""
    if not isinstance(lot, int) or isinstance(lot, bool) or lot < 1:
        return f"Lot size {lot!r} must be a whole number of at least 1."
    return None


class OffTickPrices(ValueError):
    """Raised by ``bars_on_tick`` when prices do not sit on the tick and rounding was not asked.

    ``count`` is how many prices are off the tick; ``examples`` names the first few as
    ``(timestamp, field, price)``.
    """

    def __init__(self, *, tick: Decimal, count: int, examples: list[tuple[str, str, Decimal]]):
        self.tick, self.count, self.examples = tick, count, examples
        shown = "; ".join(f"{ts} {field} {_text(price)}" for ts, field, price in examples)
        more = f" (and {count - len(examples)} more)" if count > len(examples) else ""
        super().__init__(
            f"{count} price(s) are not multiples of the tick size {_text(tick)}: {shown}{more}. "
            "Fix the file or the tick size, or round them onto the tick (--round-to-tick)."
        )


class PriceRoundsToZero(ValueError):
    """Raised by ``bars_on_tick`` when rounding would make a price zero (tick far too coarse)."""


def _to_tick(price: Decimal, tick: Decimal) -> Decimal:
    return ((price / tick).to_integral_value(ROUND_HALF_EVEN) * tick).quantize(tick)


def bars_on_tick(
    bars: Iterable[ParsedBar], *, tick: Decimal, round_to_tick: bool = False
) -> tuple[list[ParsedBar], int]:
    """Return the bars with every price on ``tick``, and how many prices were rounded.

    Without ``round_to_tick`` a price off the tick raises ``OffTickPrices`` (all of them
    counted); with it each is rounded to the nearest tick (half to even), which keeps
    low <= open, close <= high since rounding never reorders prices.
    """
    problem = tick_problem(tick)
    if problem:
        raise ValueError(problem)
    out: list[ParsedBar] = []
    count = 0
    examples: list[tuple[str, str, Decimal]] = []
    for bar in bars:
        changes: dict[str, Decimal] = {}
        for name in _FIELDS:
            price: Decimal = getattr(bar, name)
            if price % tick == 0:
                continue
            count += 1
            if not round_to_tick:
                if len(examples) < MAX_EXAMPLES:
                    examples.append((bar.ts.isoformat(), name.capitalize(), price))
                continue
            rounded = _to_tick(price, tick)
            if rounded <= 0:
                raise PriceRoundsToZero(
                    f"{bar.ts.isoformat()} {name.capitalize()} {_text(price)} rounds to zero on "
                    f"the tick size {_text(tick)}."
                )
            changes[name] = rounded
        out.append(dataclasses.replace(bar, **changes) if changes else bar)
    if count and not round_to_tick:
        raise OffTickPrices(tick=tick, count=count, examples=examples)
    return out, count
