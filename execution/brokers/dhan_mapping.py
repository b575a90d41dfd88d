"""DhanHQ's words translated into ours: statuses, order kinds, errors, correlation ids, tokens.

Pure functions the tests read directly. Sources: DhanHQ v2 docs (orders, trades, portfolio,
funds, annexure: order status and the ``DH-9xx`` error codes) and the ``dhanhq`` SDK's source
(``_order.py``, ``dhan_http.py``) for paths, headers and payload names.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from execution.brokers.base import (
    BrokerError,
    BrokerOrder,
    InsufficientFunds,
    OrderNotFound,
    OrderRejected,
    SessionExpired,
    TemporaryBrokerError,
)
from execution.brokers.sebi import algo_prefix
from execution.engine.orders import OrderStatus, OrderType, Product, Side, Validity

IST = ZoneInfo("Asia/Kolkata")
CORRELATION_LENGTH = 25  # Dhan: correlationId up to 30 characters, [a-zA-Z0-9 _-]; we use 25

ORDER_TYPE_TO_DHAN = {
    "MARKET": "MARKET",
    "LIMIT": "LIMIT",
    "SL": "STOP_LOSS",
    "SL-M": "STOP_LOSS_MARKET",
}
ORDER_TYPE_FROM_DHAN = {v: k for k, v in ORDER_TYPE_TO_DHAN.items()}
PRODUCT_TO_DHAN = {"CNC": "CNC", "MIS": "INTRADAY", "NRML": "MARGIN"}
PRODUCT_FROM_DHAN = {v: k for k, v in PRODUCT_TO_DHAN.items()}
SEGMENT_TO_DHAN = {"NSE": "NSE_EQ", "BSE": "BSE_EQ", "NFO": "NSE_FNO", "BFO": "BSE_FNO"}
SEGMENT_FROM_DHAN = {v: k for k, v in SEGMENT_TO_DHAN.items()}

# Dhan's error codes (annexure). Temporary: rate limit, internal error, network error.
_TEMPORARY_CODES = {"DH-904", "DH-908", "DH-909"}
_SESSION_CODES = {"DH-901"}  # invalid or expired access token / client id
_FUNDS_WORDS = ("margin", "fund", "insufficient")


def correlation_id(client_order_id: str, algo_id: str = "") -> str:
    """Return Dhan's ``correlationId`` for one of our ids: 25 characters, deterministic.

    As Kite's tag (``kite_mapping.kite_tag``): the strategy's algo identifier (upper case, at
    most 8) then the lower-case base32 SHA-256 of our id, to 25 characters in all. Hashing
    every id (not passing short ones verbatim) means two ids never share one by construction;
    at least 85 bits of the hash remain.
    """
    prefix = algo_prefix(algo_id)
    digest = hashlib.sha256(client_order_id.encode("utf-8")).digest()
    tail = base64.b32encode(digest).decode("ascii").lower()
    return prefix + tail[: CORRELATION_LENGTH - len(prefix)]


def token_claims(access_token: str) -> dict[str, Any]:
    """Return the claims of Dhan's access token (a JWT) without verifying its signature.

    We cannot verify it (Dhan's key is Dhan's); we read ``exp`` to show when it stops working
    and ``dhanClientId`` to catch a token pasted for another account. Raises ``ValueError`` when
    it is not a JWT with a numeric ``exp``.
    """
    parts = access_token.split(".")
    if len(parts) != 3:
        raise ValueError("not a JWT")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError) as exc:
        raise ValueError("not a JWT") from exc
    if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int | float):
        raise ValueError("the token has no expiry")
    return claims


def map_status(raw_status: str, *, order_type: str, validity: str, filled: int) -> OrderStatus:
    """Return our canonical status for Dhan's ``orderStatus``."""
    raw = (raw_status or "").upper()
    if raw == "TRADED":
        return OrderStatus.COMPLETE
    if raw == "REJECTED":
        return OrderStatus.REJECTED
    if raw == "EXPIRED":
        return OrderStatus.EXPIRED
    if raw == "CANCELLED":
        # The exchange cancels an IOC order's remainder: our EXPIRED, not a user cancel.
        return OrderStatus.EXPIRED if validity == "IOC" else OrderStatus.CANCELLED
    if raw == "PART_TRADED":
        return OrderStatus.PARTIALLY_FILLED
    if raw == "PENDING":
        if order_type in ("STOP_LOSS", "STOP_LOSS_MARKET"):
            return OrderStatus.TRIGGER_PENDING
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    if raw == "TRIGGERED":
        return OrderStatus.PARTIALLY_FILLED if filled > 0 else OrderStatus.OPEN
    if raw == "CLOSED":  # a super order whose legs are all done
        return OrderStatus.COMPLETE
    return OrderStatus.PENDING  # TRANSIT and anything Dhan adds later: not working yet


def epoch(value: Any) -> int:
    """Dhan's times are IST wall-clock strings ("2026-12-07 09:15:02"); "NA" or empty is 0."""
    if not value or not isinstance(value, str) or value[:2] in ("NA", "00"):
        return 0
    try:
        parsed = datetime.strptime(value[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return 0
    return int(parsed.replace(tzinfo=IST).timestamp())


def _price(value: Any) -> float | None:
    return float(value) if value not in (None, "", 0, 0.0) else None


def order_from_dhan(row: dict[str, Any], *, client_order_id: str, symbol: str) -> BrokerOrder:
    """Translate one Dhan order row (order book, by id, by correlation id) into our snapshot."""
    raw = str(row.get("orderStatus") or "")
    dhan_type = str(row.get("orderType") or "MARKET")
    order_type = ORDER_TYPE_FROM_DHAN.get(dhan_type, "MARKET")
    validity = str(row.get("validity") or "DAY")
    quantity = int(row.get("quantity") or 0)
    filled = int(row.get("filledQty") or 0)
    remaining = row.get("remainingQuantity")
    pending = int(remaining) if remaining is not None else quantity - filled
    status = map_status(raw, order_type=dhan_type, validity=validity, filled=filled)
    if status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED, OrderStatus.REJECTED):
        pending = 0
    return BrokerOrder(
        broker_order_id=str(row["orderId"]),
        client_order_id=client_order_id,
        symbol=symbol,
        side=Side(row["transactionType"]),
        order_type=OrderType(order_type),
        product=Product(PRODUCT_FROM_DHAN.get(str(row.get("productType")), "CNC")),
        validity=Validity(validity) if validity in ("DAY", "IOC") else Validity.DAY,
        quantity=quantity,
        price=_price(row.get("price")) if order_type in ("LIMIT", "SL") else None,
        trigger_price=_price(row.get("triggerPrice")) if order_type in ("SL", "SL-M") else None,
        status=status,
        raw_status=raw,
        status_message=str(row.get("omsErrorDescription") or ""),
        filled_quantity=filled,
        pending_quantity=max(pending, 0),
        average_price=float(row.get("averageTradedPrice") or 0.0),
        created_ts=epoch(row.get("createTime")),
        updated_ts=epoch(row.get("updateTime") or row.get("createTime")),
    )


def translate_error(status: int, body: Any, *, lookup: bool = False) -> BrokerError:
    """Map an HTTP error answer from Dhan (``{"errorType", "errorCode", "errorMessage"}``).

    ``lookup``: the call fetched one order, so an input/order error or a 404 is "no such order".
    """
    body = body if isinstance(body, dict) else {}
    code = str(body.get("errorCode") or "")
    message = str(body.get("errorMessage") or body.get("message") or f"HTTP {status}")
    words = f"Dhan {code or status}: {message}"
    if code in _SESSION_CODES or status == 401:
        return SessionExpired(f"Dhan session expired or invalid: {words}")
    if code in _TEMPORARY_CODES or status in (429, 500, 502, 503, 504):
        return TemporaryBrokerError(f"Dhan is busy: {words}")
    if lookup and (status == 404 or code in ("DH-905", "DH-906", "DH-907")):
        return OrderNotFound(words)
    if code in ("DH-905", "DH-906") or status == 400:
        if any(w in message.lower() for w in _FUNDS_WORDS):
            return InsufficientFunds(words, reason=message)
        return OrderRejected(words, reason=message)
    return BrokerError(f"Dhan error: {words}")
