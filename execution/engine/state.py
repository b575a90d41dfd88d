"""What a run produces and what it must remember between runs.

``EngineState`` is everything a paper deployment stores between live steps (JSON-safe through
``to_dict``/``from_dict``): running the same bars in one call or in several calls with the state
round-tripped through JSON in between gives exactly the same orders, fills and equity.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from execution.brokers.base import BrokerOrder, Fill, OrderEvent
from execution.brokers.paper import PaperBroker
from execution.engine.charges import fast_constructor
from execution.engine.ledger import Ledger


@dataclass(slots=True)
class OrderRecord:
    """One order as the database stores it (the ``Order`` row), after this run's changes."""

    client_order_id: str
    broker_order_id: str | None
    symbol: str
    side: str
    order_type: str
    product: str
    validity: str
    quantity: int
    price: float | None
    trigger_price: float | None
    status: str
    raw_status: str
    message: str
    filled_quantity: int
    pending_quantity: int
    average_price: float
    created_ts: int
    updated_ts: int
    denial_rule: str | None = None

    @classmethod
    def from_broker(cls, o: BrokerOrder) -> OrderRecord:
        return cls(
            o.client_order_id,
            o.broker_order_id,
            o.symbol,
            str(o.side),
            str(o.order_type),
            str(o.product),
            str(o.validity),
            o.quantity,
            o.price,
            o.trigger_price,
            str(o.status),
            o.raw_status,
            o.status_message,
            o.filled_quantity,
            o.pending_quantity,
            o.average_price,
            o.created_ts,
            o.updated_ts,
        )

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OrderRecord:
        return cls(**d)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    """A round trip: from flat to flat (or to a flip). ``quantity`` is signed (short < 0).

    ``pnl`` is net of the charges of both legs (backtesting.py's ``PnL``); ``return_pct`` is
    ``pnl`` over the entry value.
    """

    symbol: str
    quantity: int
    entry_ts: int
    exit_ts: int
    entry_price: float
    exit_price: float
    gross_pnl: float
    charges: float
    pnl: float
    return_pct: float

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


@dataclass(slots=True)
class EquityCurve:
    """Per processed bar: bar open time, cash, net position and equity at the bar's close."""

    ts: np.ndarray
    cash: np.ndarray
    position: np.ndarray
    equity: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)


@dataclass(slots=True)
class RunResult:
    """Everything one ``Engine.run`` (or a manual order call) produced."""

    orders: list[OrderRecord]
    events: list[OrderEvent]
    fills: list[Fill]
    equity: EquityCurve
    trades: list[ClosedTrade]
    state: EngineState
    bars_processed: int = 0
    halted_reason: str | None = None


_new_closed_trade = fast_constructor(ClosedTrade)


class TradeTracker:
    """Turns fills into round-trip trades (average-cost, charges split pro rata on flips)."""

    __slots__ = ("open",)

    def __init__(self, open_: dict[str, Any] | None = None):
        self.open = open_

    def on_fill(
        self,
        symbol: str,
        q0: int,
        signed: int,
        price: float,
        charges: float,
        realised: float,
        ts: int,
        out: list[ClosedTrade],
    ) -> None:
        """Account one fill that moved the position from ``q0`` by ``signed`` units."""
        t = self.open
        if q0 == 0 or t is None:
            self.open = _new_trade(signed, price, charges, ts)
            return
        if (q0 > 0) == (signed > 0):
            t["qty"] += signed
            t["entry_value"] += abs(signed) * price
            t["entry_charges"] += charges
            return
        n = abs(signed)
        closing = min(n, abs(q0))
        share = closing / n
        t["exit_qty"] = exit_qty = t["exit_qty"] + closing
        t["exit_value"] = exit_value = t["exit_value"] + closing * price
        t["exit_charges"] = exit_charges = t["exit_charges"] + charges * share
        t["gross"] = gross = t["gross"] + realised
        if n < abs(q0):
            return
        qty = t["qty"]
        entry_value = t["entry_value"]
        # volume-weighted prices, rounded off float noise (187.44999999999996 -> 187.45)
        entry_price = round(entry_value / abs(qty), 10)
        ch = t["entry_charges"] + exit_charges
        pnl = gross - ch
        out.append(
            _new_closed_trade(
                symbol,
                qty,
                t["entry_ts"],
                ts,
                entry_price,
                round(exit_value / exit_qty, 10),
                gross,
                ch,
                pnl,
                pnl / entry_value * 100.0,
            )
        )
        rest = q0 + signed
        self.open = _new_trade(rest, price, charges * (1 - share), ts) if rest else None


def _new_trade(qty: int, price: float, charges: float, ts: int) -> dict[str, Any]:
    return {
        "qty": qty,
        "entry_ts": ts,
        "entry_value": abs(qty) * price,
        "entry_charges": charges,
        "exit_qty": 0,
        "exit_value": 0.0,
        "exit_charges": 0.0,
        "gross": 0.0,
    }


@dataclass
class EngineState:
    """The resumable part of a run (ARCHITECTURE §2, §5).

    ``cursor`` is the open time of the last processed bar: bars with ``ts <= cursor`` are never
    processed again. ``target`` is the strategy's last decision; ``pending`` says the engine must
    act on it at the next bar's open.
    """

    ledger: Ledger
    broker: PaperBroker
    cursor: int | None = None
    target: float = 0.0
    pending: bool = False
    halted_reason: str | None = None
    bars_processed: int = 0
    open_trade: dict[str, Any] | None = None
    risk_recent: list[int] = field(default_factory=list)
    day: int | None = None
    day_start_equity: float | None = None
    last_equity: float | None = None
    denied: dict[str, dict[str, Any]] = field(default_factory=dict)
    # the live bracket's legs and counters (``execution.engine.bracket``), JSON
    bracket: dict[str, Any] | None = None

    DENIED_HISTORY = 1000

    def to_dict(self, *, book: bool = True) -> dict[str, Any]:
        """Return a JSON-safe dict (``json.dumps`` works on it as is).

        ``book=False``: without the broker's orders, which the caller stores one by one
        (``PaperBroker.to_state``, ``changed_records``).
        """
        denied = self.denied
        if len(denied) > self.DENIED_HISTORY:
            denied = dict(list(denied.items())[-self.DENIED_HISTORY :])
        extra = {"bracket": dict(self.bracket)} if self.bracket else {}
        return {
            **extra,
            "version": 1,
            "cursor": self.cursor,
            "target": self.target,
            "pending": self.pending,
            "halted_reason": self.halted_reason,
            "bars_processed": self.bars_processed,
            "open_trade": dict(self.open_trade) if self.open_trade else None,
            "risk_recent": list(self.risk_recent),
            "day": self.day,
            "day_start_equity": self.day_start_equity,
            "last_equity": self.last_equity,
            "denied": denied,
            "ledger": self.ledger.to_dict(),
            "broker": self.broker.to_state(book=book),
        }

    @classmethod
    def from_dict(
        cls,
        d: dict[str, Any],
        orders: Iterable[dict[str, Any]] | None = None,
        *,
        partial: bool = False,
    ) -> EngineState:
        """Rebuild a state from ``to_dict()`` (``orders``, ``partial``: see ``from_state``)."""
        return cls(
            ledger=Ledger.from_dict(d["ledger"]),
            broker=PaperBroker.from_state(d["broker"], orders, partial=partial),
            cursor=d["cursor"],
            target=float(d["target"]),
            pending=bool(d["pending"]),
            halted_reason=d["halted_reason"],
            bars_processed=int(d["bars_processed"]),
            open_trade=dict(d["open_trade"]) if d["open_trade"] else None,
            risk_recent=[int(x) for x in d["risk_recent"]],
            day=d["day"],
            day_start_equity=d["day_start_equity"],
            last_equity=d["last_equity"],
            denied=dict(d["denied"]),
            bracket=dict(d["bracket"]) if d.get("bracket") else None,
        )
