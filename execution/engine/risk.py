"""The pre-trade risk gate every order intent passes, in backtests and paper alike (§7).

A refused intent becomes a DENIED order carrying the rule's name. Orders that only *reduce* the
current position (exits, stop-losses) are checked against the price band only: refusing an exit
because of a size or rate limit would leave the risk on, which is what the gate exists to avoid.

``max_daily_loss`` is not an order check: the engine compares each bar's equity with the equity
the day started with and, on a breach, halts the run (records ``halted_reason``, cancels working
orders, places nothing more).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """Optional limits; ``None`` switches a rule off. Values are in account currency/units."""

    max_order_quantity: int | None = None
    max_order_value: float | None = None
    max_position_value: float | None = None
    max_open_orders: int | None = None
    max_orders_per_minute: int | None = None
    max_daily_loss: float | None = None
    price_band_pct: float | None = None

    @property
    def any_order_rule(self) -> bool:
        return any(
            v is not None
            for v in (
                self.max_order_quantity,
                self.max_order_value,
                self.max_position_value,
                self.max_open_orders,
                self.max_orders_per_minute,
                self.price_band_pct,
            )
        )

    def tightened(self, other: RiskLimits) -> RiskLimits:
        """Return the stricter of two limit sets, rule by rule (user defaults ∧ strategy)."""
        out = {}
        for k, a in asdict(self).items():
            b = getattr(other, k)
            out[k] = a if b is None else b if a is None else min(a, b)
        return RiskLimits(**out)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RiskLimits:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class Denial:
    """Why the gate refused an intent: the rule's name and a message for people."""

    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """The facts the gate needs about one intended order."""

    side: str  # "BUY" / "SELL"
    quantity: int
    order_type: str
    price: float | None  # limit price (LIMIT, SL)
    ref_price: float  # the price the order is expected to trade at (last price or open)
    position_qty: int  # current net position of the symbol
    open_orders: int  # working orders now
    now_ts: int


class RiskGate:
    """Checks intents against ``RiskLimits``; keeps the timestamps the rate limit needs."""

    __slots__ = ("limits", "recent")

    def __init__(self, limits: RiskLimits, recent: list[int] | None = None):
        self.limits = limits
        # submission times in the last minute; the caller's list is kept (and mutated) so the
        # engine's state sees the same values
        self.recent: list[int] = recent if recent is not None else []

    def check(self, intent: OrderIntent) -> Denial | None:
        """Return ``None`` if the intent may go to the broker, else the first rule it breaks."""
        lim = self.limits
        signed = intent.quantity if intent.side == "BUY" else -intent.quantity
        pos = intent.position_qty
        reduces = pos != 0 and (pos > 0) != (signed > 0) and abs(signed) <= abs(pos)
        if lim.price_band_pct is not None and intent.price is not None and intent.ref_price > 0:
            band = abs(intent.price - intent.ref_price) / intent.ref_price * 100.0
            if band > lim.price_band_pct:
                return Denial(
                    "price_band_pct",
                    f"limit price {intent.price:.10g} is {band:.2f}% from the last price "
                    f"{intent.ref_price:.10g} (band {lim.price_band_pct:g}%)",
                )
        if reduces:
            return None
        if lim.max_order_quantity is not None and intent.quantity > lim.max_order_quantity:
            return Denial(
                "max_order_quantity",
                f"quantity {intent.quantity} exceeds the limit {lim.max_order_quantity}",
            )
        price = intent.price if intent.price is not None else intent.ref_price
        value = intent.quantity * price
        if lim.max_order_value is not None and value > lim.max_order_value:
            return Denial(
                "max_order_value",
                f"order value {value:.2f} exceeds the limit {lim.max_order_value:.2f}",
            )
        if lim.max_position_value is not None:
            pos_value = abs(pos + signed) * price
            if pos_value > lim.max_position_value:
                return Denial(
                    "max_position_value",
                    f"position value {pos_value:.2f} would exceed the limit "
                    f"{lim.max_position_value:.2f}",
                )
        if lim.max_open_orders is not None and intent.open_orders >= lim.max_open_orders:
            return Denial(
                "max_open_orders",
                f"{intent.open_orders} orders already open (limit {lim.max_open_orders})",
            )
        if lim.max_orders_per_minute is not None:
            cutoff = intent.now_ts - 60
            self.recent[:] = [t for t in self.recent if t > cutoff]
            if len(self.recent) >= lim.max_orders_per_minute:
                return Denial(
                    "max_orders_per_minute",
                    f"{len(self.recent)} orders in the last minute "
                    f"(limit {lim.max_orders_per_minute})",
                )
        return None

    def record(self, now_ts: int) -> None:
        """Count one order sent to the broker at ``now_ts`` (for the per-minute limit)."""
        if self.limits.max_orders_per_minute is not None:
            self.recent.append(int(now_ts))

    def daily_loss(self, day_start_equity: float, equity: float) -> Denial | None:
        """Return a denial if today's loss reached ``max_daily_loss``."""
        lim = self.limits.max_daily_loss
        if lim is not None and day_start_equity - equity >= lim:
            return Denial(
                "max_daily_loss",
                f"daily loss {day_start_equity - equity:.2f} reached the limit {lim:.2f}",
            )
        return None
