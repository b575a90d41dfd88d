"""The contract every broker adapter fills (ARCHITECTURE §3, STYLE 7).

Adapters take and return only the dataclasses below, never a vendor's dicts, and translate
vendor errors into the exception tree below with ``raise ... from e``. The engine, the API and
the views talk to this contract only; which adapter runs is configuration.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from execution.engine.charges import ZERO_CHARGES, ChargesBreakdown
from execution.engine.orders import (
    OrderStatus,
    OrderType,
    Product,
    Side,
    Validity,
)

# --------------------------------------------------------------------------- errors


class BrokerError(Exception):
    """Base of every error an adapter raises; never retried blindly."""


class TemporaryBrokerError(BrokerError):
    """The broker could not answer now (timeout, rate limit, 5xx): the only retryable error."""


class OrderRejected(BrokerError):
    """Raised when the broker refuses a request without creating an order.

    An order the broker creates and then rejects is *returned* with status REJECTED instead, so
    it keeps its id and its reason.
    """

    def __init__(self, message: str, *, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class InsufficientFunds(OrderRejected):
    """Raised when the account cannot cover an order's value and charges (or margin)."""


class SessionExpired(BrokerError):
    """Raised when the broker refuses the session (a real broker's daily token expiry, a logout).

    Not retryable: the account needs a new login before anything else is sent.
    """


class OrderNotFound(BrokerError):
    """Raised when no order has the given id at this broker."""


class InvalidOrderState(BrokerError):
    """Raised when an order cannot be cancelled or modified in its current status."""

    def __init__(self, message: str, *, status: OrderStatus | None = None):
        super().__init__(message)
        self.status = status


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as the client asks for it. ``client_order_id`` is the idempotency key."""

    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    quantity: int
    product: Product = Product.CNC
    validity: Validity = Validity.DAY
    price: float | None = None  # LIMIT and SL
    trigger_price: float | None = None  # SL and SL-M
    # An order group (one-cancels-other): see ``BrokerAdapter``'s "Order groups".
    group: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_order_id": self.client_order_id,
            "symbol": self.symbol,
            "side": str(self.side),
            "order_type": str(self.order_type),
            "quantity": self.quantity,
            "product": str(self.product),
            "validity": str(self.validity),
            "price": self.price,
            "trigger_price": self.trigger_price,
            "group": self.group,
        }


@dataclass(frozen=True, slots=True)
class BrokerOrder:
    """A snapshot of one order at the broker, in our canonical terms."""

    broker_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    order_type: OrderType
    product: Product
    validity: Validity
    quantity: int
    price: float | None
    trigger_price: float | None
    status: OrderStatus
    raw_status: str  # the broker's own word for the status
    status_message: str
    filled_quantity: int
    pending_quantity: int
    average_price: float
    created_ts: int
    updated_ts: int


@dataclass(frozen=True, slots=True)
class OrderEvent:
    """One status change of one order (an append-only ``OrderEvent`` row in the database)."""

    client_order_id: str
    broker_order_id: str | None
    status: OrderStatus
    raw_status: str
    message: str
    ts: int
    trigger: str = ""  # the OrderTrigger applied, "" at creation
    payload: dict[str, Any] | None = None  # the broker's raw report, when it sent one


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution (a ``Trade`` row): quantity is unsigned, ``side`` gives the direction."""

    fill_id: str
    broker_order_id: str
    client_order_id: str
    symbol: str
    side: Side
    quantity: int
    price: float
    ts: int
    charges: ChargesBreakdown = ZERO_CHARGES

    @property
    def signed_quantity(self) -> int:
        return self.quantity if self.side == "BUY" else -self.quantity


@dataclass(frozen=True, slots=True)
class PositionView:
    """A net position as the broker reports it."""

    symbol: str
    product: Product
    quantity: int
    average_price: float
    last_price: float
    realised_pnl: float
    unrealised_pnl: float


@dataclass(frozen=True, slots=True)
class Funds:
    """Money at the broker: ``available`` is what a new order may use."""

    cash: float
    available: float
    blocked: float
    equity: float


# --------------------------------------------------------------------------- contract


class BrokerAdapter(ABC):
    """The broker contract.

    Required methods:

    - ``place_order(request: OrderRequest) -> BrokerOrder`` — send MARKET, LIMIT, SL or SL-M
      orders for CNC or MIS. Idempotent on ``request.client_order_id``: a second call with the
      same id returns the first order and creates nothing. An order the broker creates and then
      refuses (lot/tick size, funds, short selling) comes back with status REJECTED and the
      reason in ``status_message``; ``OrderRejected`` is raised only when no order was created.
    - ``cancel_order(order_id: str) -> BrokerOrder`` — cancel a working order
      (``InvalidOrderState`` if it is final, ``OrderNotFound`` if unknown).
    - ``modify_order(order_id, *, quantity=None, price=None, trigger_price=None) -> BrokerOrder``
      — change a working order.
    - ``order_status(order_id: str) -> BrokerOrder`` — the order's latest snapshot.
    - ``orders() -> list[BrokerOrder]`` — today's orders (or all the adapter still holds).
    - ``positions() -> list[PositionView]`` — net positions.
    - ``funds() -> Funds`` — cash and what is available for new orders.

    Optional methods (default: ``NotImplementedError``):

    - ``order_by_client_id(client_order_id: str) -> BrokerOrder`` — look an order up by our id.
    - ``fills() -> list[Fill]`` — executions the adapter has seen.
    - ``holdings() -> list[PositionView]`` — delivery (CNC) stock carried over from earlier
      sessions, product CNC, ``unrealised_pnl`` against its average price.
    - ``drain_events() -> list[OrderEvent]`` / ``drain_fills() -> list[Fill]`` — the status
      changes and executions since the last call, for the append-only ``OrderEvent`` rows.

    Order groups (bracket legs): orders placed with the same non-empty ``request.group`` are
    the protective legs of one position (a stop-loss and a target). When one of them fills
    (even in part) the others are cancelled (one-cancels-other), and when the position in the
    symbol is closed by any other order, every working grouped order of that symbol is
    cancelled. An adapter maps a group to its broker's bracket/cover or OCO orders (Kite's
    GTT OCO, Dhan's bracket order); the paper broker implements it in ``paper_groups``.

    ``order_id`` is always the broker's id. Only ``TemporaryBrokerError`` may be retried.
    """

    name: str = "base"

    @abstractmethod
    def place_order(self, request: OrderRequest) -> BrokerOrder:
        """Send an order; return the broker's snapshot of it."""

    @abstractmethod
    def cancel_order(self, order_id: str) -> BrokerOrder:
        """Cancel a working order."""

    @abstractmethod
    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> BrokerOrder:
        """Change a working order's quantity, limit price or trigger price."""

    @abstractmethod
    def order_status(self, order_id: str) -> BrokerOrder:
        """Return an order's latest snapshot."""

    @abstractmethod
    def orders(self) -> list[BrokerOrder]:
        """Return the orders the broker holds."""

    @abstractmethod
    def positions(self) -> list[PositionView]:
        """Return net positions."""

    @abstractmethod
    def funds(self) -> Funds:
        """Return cash and available funds."""

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        """Return the order placed with ``client_order_id``."""
        raise NotImplementedError

    def fills(self) -> list[Fill]:
        """Return the executions the adapter has seen."""
        raise NotImplementedError

    def holdings(self) -> list[PositionView]:
        """Return the delivery holdings (CNC) the account carries."""
        raise NotImplementedError

    def drain_events(self) -> list[OrderEvent]:
        """Return and forget the status changes since the last call."""
        raise NotImplementedError

    def drain_fills(self) -> list[Fill]:
        """Return and forget the executions since the last call."""
        raise NotImplementedError
