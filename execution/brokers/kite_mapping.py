"""Kite Connect's words translated into ours: statuses, errors, tags and order snapshots.

Kept apart from the adapter so each rule is one small pure function that the tests read
directly. Sources: Kite Connect v3 docs (orders, postbacks, exceptions) and ``kiteconnect``'s own
``connect.py`` / ``exceptions.py``.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests
from kiteconnect import exceptions as kex

from execution.brokers.base import (
    BrokerError,
    BrokerOrder,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    SessionExpired,
    TemporaryBrokerError,
)
from execution.brokers.sebi import ALGO_ID_LENGTH, algo_prefix
from execution.engine.orders import OrderStatus, OrderType, Product, Side, Validity

IST = ZoneInfo("Asia/Kolkata")
TAG_LENGTH = 20  # Kite: "tag — alphanumeric, max 20 characters"
HASH_LENGTH = TAG_LENGTH - ALGO_ID_LENGTH  # our id's hash after an algo id (kite_tag)

# Kite's statuses before the exchange has the order: nothing is working yet.
_PENDING_RAW = {
    "PUT ORDER REQ RECEIVED",
    "VALIDATION PENDING",
    "OPEN PENDING",
    "AMO REQ RECEIVED",
}
# Transient statuses of an order that is already working (a modify or cancel in flight).
_WORKING_RAW = {"OPEN", "MODIFY VALIDATION PENDING", "MODIFY PENDING", "MODIFIED", "CANCEL PENDING"}


def _digest(client_order_id: str) -> str:
    digest = hashlib.sha256(client_order_id.encode("utf-8")).digest()
    return base64.b32encode(digest).decode("ascii").lower()


def kite_tag(client_order_id: str, algo_id: str = "") -> str:
    """Return the Kite ``tag`` for one of our client order ids: at most 20 alphanumerics.

    SEBI's retail algo framework wants every strategy order to carry its algo identifier, and
    Kite gives us one 20-character tag, so the tag is ``ALGOID`` (upper case, at most 8) then
    the first 12 characters (60 bits) of the lower-case base32 SHA-256 of our id: always the
    last 12, so ``tag_parts`` splits it back. Without an algo id it is the first 20 characters
    of that hash. Deterministic, so a retried placement carries the same tag and is found in
    the order book, never repeated; hashing every id (rather than passing short ones verbatim)
    means two of our ids never share a tag by construction; 60 bits make an accidental
    collision among a day's orders negligible.
    """
    prefix = algo_prefix(algo_id)
    if not prefix:
        return _digest(client_order_id)[:TAG_LENGTH]
    return prefix + _digest(client_order_id)[:HASH_LENGTH]


def tag_parts(tag: str) -> tuple[str, str]:
    """Split a tag ``kite_tag`` wrote with an algo id into (algo id, hash of our id)."""
    return tag[:-HASH_LENGTH], tag[-HASH_LENGTH:]


def map_status(raw_status: str, *, filled_quantity: int, validity: str) -> OrderStatus:
    """Return our canonical status for Kite's ``status`` (ARCHITECTURE §3's table)."""
    raw = (raw_status or "").upper()
    if raw == "COMPLETE":
        return OrderStatus.COMPLETE
    if raw == "REJECTED":
        return OrderStatus.REJECTED
    if raw == "CANCELLED":
        # The exchange cancels an IOC order's remainder: that is our EXPIRED, not a user cancel.
        return OrderStatus.EXPIRED if validity == "IOC" else OrderStatus.CANCELLED
    if raw == "TRIGGER PENDING":
        return OrderStatus.TRIGGER_PENDING
    if raw in _WORKING_RAW:
        return OrderStatus.PARTIALLY_FILLED if filled_quantity > 0 else OrderStatus.OPEN
    return OrderStatus.PENDING  # _PENDING_RAW and anything Kite adds later: not working yet


def _epoch(value: Any) -> int:
    """Kite's timestamps are IST wall-clock ("2026-12-04 09:15:02", parsed or not by the SDK)."""
    if not value:
        return 0
    if isinstance(value, str):
        value = datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")
    if value.tzinfo is None:
        value = value.replace(tzinfo=IST)
    return int(value.timestamp())


def _price(value: Any) -> float | None:
    return float(value) if value not in (None, "", 0, 0.0) else None


def symbol_of(row: dict[str, Any], default_exchange: str) -> str:
    """Our symbol for a Kite row: the bare tradingsymbol on the default exchange, else EX:SYM."""
    exchange, sym = row.get("exchange") or default_exchange, row["tradingsymbol"]
    return sym if exchange == default_exchange else f"{exchange}:{sym}"


def order_from_kite(
    row: dict[str, Any], *, client_order_id: str, default_exchange: str
) -> BrokerOrder:
    """Translate one Kite order row (order book or history entry) into our snapshot."""
    filled = int(row.get("filled_quantity") or 0)
    validity = str(row.get("validity") or "DAY")
    raw = str(row.get("status") or "")
    order_type = str(row.get("order_type") or "MARKET")
    return BrokerOrder(
        broker_order_id=str(row["order_id"]),
        client_order_id=client_order_id,
        symbol=symbol_of(row, default_exchange),
        side=Side(row["transaction_type"]),
        order_type=OrderType(order_type),
        product=Product(row.get("product") or "CNC"),
        validity=Validity(validity) if validity in ("DAY", "IOC") else Validity.DAY,
        quantity=int(row.get("quantity") or 0),
        price=_price(row.get("price")) if order_type in ("LIMIT", "SL") else None,
        trigger_price=_price(row.get("trigger_price")) if order_type in ("SL", "SL-M") else None,
        status=map_status(raw, filled_quantity=filled, validity=validity),
        raw_status=raw,
        status_message=str(row.get("status_message") or row.get("status_message_raw") or ""),
        filled_quantity=filled,
        pending_quantity=int(row.get("pending_quantity") or 0),
        average_price=float(row.get("average_price") or 0.0),
        created_ts=_epoch(row.get("order_timestamp")),
        updated_ts=_epoch(row.get("exchange_update_timestamp") or row.get("order_timestamp")),
    )


_FUNDS_WORDS = ("margin", "fund", "insufficient")


def translate_error(exc: Exception, *, lookup: bool = False) -> BrokerError:
    """Map an SDK or transport exception into our taxonomy (the caller raises it ``from exc``).

    ``lookup``: the call fetched one order, so a 400/404 input or general error means "no such
    order".
    Only timeouts, connection failures, 429s and the OMS's 502/503/504 are temporary.
    """
    if isinstance(exc, requests.exceptions.RequestException):
        return TemporaryBrokerError(f"Kite did not answer: {type(exc).__name__}")
    if not isinstance(exc, kex.KiteException):
        return BrokerError(f"Kite client error: {type(exc).__name__}")
    message = str(exc)
    code = getattr(exc, "code", 500)
    if isinstance(exc, kex.TokenException):
        return SessionExpired(f"Kite session expired or invalid: {message}")
    if (
        code == 429
        or code in (502, 503, 504)
        or isinstance(exc, kex.NetworkException | kex.DataException)
    ):
        return TemporaryBrokerError(f"Kite is busy ({code}): {message}")
    if lookup and code in (400, 404) and isinstance(exc, kex.InputException | kex.GeneralException):
        return OrderNotFound(message)
    if isinstance(exc, kex.OrderException | kex.InputException):
        if any(word in message.lower() for word in _FUNDS_WORDS):
            return InsufficientFunds(message, reason=message)
        return OrderRejected(message, reason=message)
    return BrokerError(f"Kite error ({type(exc).__name__}, {code}): {message}")
