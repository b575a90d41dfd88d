"""Cash, positions and P&L of one book, driven only by fills (ARCHITECTURE §8).

Conventions, chosen so the invariants hold exactly (up to float rounding):

- Cash moves by the full traded value: a buy pays ``qty * price``, a sell (also a short sale)
  receives it; charges are paid from cash separately.
- Equity = cash + Σ qty * last price (a short has negative market value).
- Realised P&L is **gross of charges** (price moves only, average-cost method); charges are
  accumulated in ``total_charges``. Hence
  ``realised + unrealised = equity - starting cash + total charges``.
- A position's average price follows its opening fills; a fill that crosses zero realises the
  closing part and opens the remainder at the fill price.
"""

from __future__ import annotations

from typing import Any


class Position:
    """Net position of one symbol."""

    __slots__ = ("avg_price", "last_price", "qty", "realised_pnl", "symbol")

    def __init__(
        self,
        symbol: str,
        qty: int = 0,
        avg_price: float = 0.0,
        realised_pnl: float = 0.0,
        last_price: float = 0.0,
    ):
        self.symbol = symbol
        self.qty = qty
        self.avg_price = avg_price
        self.realised_pnl = realised_pnl
        self.last_price = last_price

    @property
    def market_value(self) -> float:
        return self.qty * self.last_price

    @property
    def unrealised_pnl(self) -> float:
        return self.qty * (self.last_price - self.avg_price) if self.qty else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "qty": self.qty,
            "avg_price": self.avg_price,
            "realised_pnl": self.realised_pnl,
            "last_price": self.last_price,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Position:
        return cls(
            d["symbol"],
            int(d["qty"]),
            float(d["avg_price"]),
            float(d["realised_pnl"]),
            float(d["last_price"]),
        )


class Ledger:
    """The books: cash, positions per symbol, realised P&L and charges."""

    __slots__ = ("cash", "positions", "starting_cash", "total_charges")

    def __init__(self, starting_cash: float):
        self.starting_cash = float(starting_cash)
        self.cash = float(starting_cash)
        self.total_charges = 0.0
        self.positions: dict[str, Position] = {}

    def position(self, symbol: str) -> Position:
        """Return the (possibly flat) position of ``symbol``, creating it if needed."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        return pos

    def qty(self, symbol: str) -> int:
        pos = self.positions.get(symbol)
        return pos.qty if pos is not None else 0

    def apply_fill(self, symbol: str, signed_qty: int, price: float, charges: float) -> float:
        """Book one fill (``signed_qty`` > 0 buys) and return the gross P&L it realised."""
        pos = self.positions.get(symbol)
        if pos is None:
            pos = self.positions[symbol] = Position(symbol)
        self.cash -= signed_qty * price + charges
        self.total_charges += charges
        q = pos.qty
        new_q = q + signed_qty
        realised = 0.0
        if q == 0 or (q > 0) == (signed_qty > 0):
            # Opening or adding: the average price is the volume-weighted entry price.
            pos.avg_price = (pos.avg_price * q + price * signed_qty) / new_q
        else:
            closed = -signed_qty if abs(signed_qty) <= abs(q) else q
            # closed has the sign of q: P&L of buying back / selling ``closed`` units.
            realised = closed * (price - pos.avg_price)
            if new_q == 0:
                pos.avg_price = 0.0
            elif (new_q > 0) != (q > 0):
                pos.avg_price = price  # flipped through zero: the remainder opens here
        pos.qty = new_q
        pos.realised_pnl += realised
        pos.last_price = price
        return realised

    def mark(self, symbol: str, price: float) -> None:
        """Set the last price of ``symbol`` (mark to market)."""
        pos = self.positions.get(symbol)
        if pos is not None:
            pos.last_price = price

    @property
    def market_value(self) -> float:
        return sum(p.qty * p.last_price for p in self.positions.values())

    @property
    def equity(self) -> float:
        return self.cash + self.market_value

    @property
    def realised_pnl(self) -> float:
        return sum(p.realised_pnl for p in self.positions.values())

    @property
    def unrealised_pnl(self) -> float:
        return sum(p.unrealised_pnl for p in self.positions.values())

    def short_exposure(self) -> float:
        return sum(-p.qty * p.last_price for p in self.positions.values() if p.qty < 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "starting_cash": self.starting_cash,
            "cash": self.cash,
            "total_charges": self.total_charges,
            "positions": [p.to_dict() for p in self.positions.values()],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ledger:
        led = cls(d["starting_cash"])
        led.cash = float(d["cash"])
        led.total_charges = float(d["total_charges"])
        for p in d["positions"]:
            pos = Position.from_dict(p)
            led.positions[pos.symbol] = pos
        return led
