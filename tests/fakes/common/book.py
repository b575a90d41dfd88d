"""The order book machinery both fake brokers run: a wall clock that moves only when the book
does, and how a working order meets one bar (stop trigger, limit reach, partial fills, IOC).

A book mixes in ``BarBook`` and says, in its own field names and status words, which orders are
working (``_working``) and how one is matched (``_match``, built from the functions below).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any


class BarBook:
    """``advance`` and ``_tick`` for a dataclass book (``clock``, ``orders``, ``instruments``).

    Not a dataclass itself, so a book keeps its own fields in its own order.
    """

    clock: datetime
    orders: dict[str, dict[str, Any]]
    instruments: dict[str, Any]

    def _tick(self, seconds: int = 1) -> str:
        """Move the book's clock on and give the time as the brokers write it (IST wall clock)."""
        self.clock += timedelta(seconds=seconds)
        return self.clock.strftime("%Y-%m-%d %H:%M:%S")

    def _working(self, order: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _match(self, order: dict[str, Any], o: float, h: float, lo: float) -> None:
        raise NotImplementedError

    def advance(self, o: float, h: float, lo: float, c: float) -> None:
        """Show every working order one bar (opening at ``o``), then set last prices to ``c``."""
        self._tick(59)
        for order in list(self.orders.values()):
            if self._working(order):
                self._match(order, o, h, lo)
        for inst in self.instruments.values():
            inst.last_price = c


def triggered_open(buy: bool, trigger: float, o: float, h: float, lo: float) -> float | None:
    """Where a stop order starts in a bar that reaches its trigger (gapped through: the open,
    else the trigger); None when the bar does not reach it."""
    if not (h >= trigger if buy else lo <= trigger):
        return None
    return max(o, trigger) if buy else min(o, trigger)


def bar_price(buy: bool, limit: float | None, o: float, h: float, lo: float) -> float | None:
    """The fill price in a bar opening at ``o``: a market order (``limit`` None) at the open, a
    limit order at the open or its limit when the bar reaches it, else None."""
    if limit is None:
        return o
    if buy:
        return min(o, limit) if lo < limit or o <= limit else None
    return max(o, limit) if h > limit or o >= limit else None


def bar_quantity(quantity: int, pending: int, fill_share: float) -> int:
    """How much one bar fills: all that is pending, or (``fill_share`` < 1) that share of the
    order's quantity, at least one, never more than is pending."""
    qty = max(1, math.floor(quantity * fill_share)) if fill_share < 1 else pending
    return min(qty, pending)


def averaged(average: float, done: int, price: float, qty: int) -> float:
    """The average fill price once ``qty`` more fill at ``price`` after ``done`` at ``average``."""
    return (average * done + price * qty) / (done + qty)


def off_tick(value: float, tick: float) -> bool:
    """Whether a (non-zero) price is not a multiple of the instrument's tick size."""
    return bool(value) and not math.isclose(value / tick, round(value / tick), abs_tol=1e-6)
