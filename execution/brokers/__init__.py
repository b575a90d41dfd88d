"""Broker adapters behind one contract (``base.BrokerAdapter``); the paper broker first."""

from execution.brokers.base import (
    BrokerAdapter,
    BrokerError,
    BrokerOrder,
    Fill,
    Funds,
    InsufficientFunds,
    InvalidOrderState,
    OrderEvent,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    PositionView,
    SessionExpired,
    TemporaryBrokerError,
)

__all__ = [
    "BrokerAdapter",
    "BrokerError",
    "BrokerOrder",
    "Fill",
    "Funds",
    "InsufficientFunds",
    "InvalidOrderState",
    "OrderEvent",
    "OrderNotFound",
    "OrderRejected",
    "OrderRequest",
    "PositionView",
    "SessionExpired",
    "TemporaryBrokerError",
]
