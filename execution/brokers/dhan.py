"""DhanHQ (v2 REST API) behind the broker contract, over ``httpx``.

Why not the official ``dhanhq`` SDK: its HTTP layer (``DhanHTTP._send_request``) catches every
exception and returns ``{"status": "failure", "remarks": str(e)}``, dropping the HTTP status, so
a timeout after Dhan accepted an order cannot be told apart from a refusal except by parsing a
message, and it logs each failure at ERROR itself. We need exactly that distinction for
idempotency, so this adapter speaks the same paths, headers (``access-token``, ``client-id``)
and JSON payloads the SDK sends (checked by a test) through one ``httpx.Client``.

- **Idempotency.** Our ``client_order_id`` travels as Dhan's ``correlationId``
  (``dhan_mapping.correlation_id``: 25 characters, deterministic). Before sending, and after an
  ambiguous failure (a timeout, a 5xx), the adapter asks ``GET /orders/external/{id}``, so a
  retried placement is found, never repeated.
- **Rate limits.** Place, modify and cancel take a slot from the shared limiter (25/s, 250/min,
  1000/h, 7000/day per account); a 429 (``DH-904``) is retried with exponential backoff; an
  order's 26th modification is refused before it is sent (Dhan allows 25).
- **SEBI.** The correlationId starts with the strategy's algo id (``algo_id``); orders also
  take a slot keyed by account and exchange segment (10/s, ``sebi.SEGMENT_ORDER_LIMITS``),
  below Dhan's own 25/s. Dhan's v2 order API has no market-protection field: Dhan converts
  API market orders to limit orders with its Market Price Protection itself (docs/compliance.md).
- **Translation.** ``dhan_mapping`` maps statuses and ``DH-9xx`` errors; raw words are kept.

Nothing here imports Django.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from execution.brokers.base import (
    BrokerAdapter,
    BrokerError,
    BrokerOrder,
    Fill,
    Funds,
    InvalidOrderState,
    OrderNotFound,
    OrderRejected,
    OrderRequest,
    PositionView,
    SessionExpired,
    TemporaryBrokerError,
)
from execution.brokers.dhan_mapping import (
    ORDER_TYPE_TO_DHAN,
    PRODUCT_FROM_DHAN,
    PRODUCT_TO_DHAN,
    SEGMENT_FROM_DHAN,
    SEGMENT_TO_DHAN,
    correlation_id,
    epoch,
    order_from_dhan,
    translate_error,
)
from execution.brokers.ratelimit import (
    DHAN_MODIFY_LIMIT,
    DHAN_ORDER_LIMITS,
    MemoryRateLimiter,
    RateLimiter,
    acquire,
)
from execution.brokers.sebi import SEGMENT_ORDER_LIMITS, algo_prefix, segment_key
from execution.engine.orders import TERMINAL_STATUSES, Product, Side

DEFAULT_ROOT = "https://api.dhan.co/v2"


class DhanBroker(BrokerAdapter):
    """A linked DhanHQ account (client id and access token).

    ``security_ids`` maps our symbols ("INFY", "BSE:INFY") to Dhan's numeric ``securityId``;
    ``security_lookup`` (symbol -> ``(securityId, exchangeSegment)`` or None) is asked for any
    other symbol (the instruments ``import_instruments --from dhan`` stored); a symbol that is
    already numeric is sent as it is. Anything else is refused before it is sent.
    """

    name = "dhan"

    def __init__(
        self,
        *,
        client_id: str,
        access_token: str,
        account_key: str,
        root: str = DEFAULT_ROOT,
        timeout: float = 7.0,
        exchange: str = "NSE",
        security_ids: Mapping[str, str] | None = None,
        security_lookup: Callable[[str], tuple[str, str] | None] | None = None,
        limiter: RateLimiter | None = None,
        max_attempts: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        on_session_expired: Callable[[str], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        algo_id: str = "",
    ):
        self.client_id = client_id
        self.account_key = account_key
        self.exchange = exchange
        self.security_ids = dict(security_ids or {})
        self._symbols = {sid: sym for sym, sid in self.security_ids.items()}
        self.security_lookup = security_lookup
        self.limiter = limiter or MemoryRateLimiter()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.on_session_expired = on_session_expired
        self._client_ids: dict[str, str] = {}  # correlationId -> our client_order_id
        self.algo_id = algo_prefix(algo_id)  # ValueError for an id no correlationId can carry
        self._http = httpx.Client(
            base_url=root.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={
                "access-token": access_token,
                "client-id": client_id,
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )

    def __repr__(self) -> str:  # never the token
        return f"DhanBroker(account={self.account_key!r}, exchange={self.exchange!r})"

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        payload: dict[str, Any] | None = None,
        order_request: bool = False,
        lookup: bool = False,
        exchange: str | None = None,
    ) -> Any:
        """One HTTP call: a rate-limit slot, 429s retried with backoff, errors translated."""
        for attempt in range(1, self.max_attempts + 1):
            if order_request:
                acquire(
                    self.limiter, f"dhan:{self.account_key}", DHAN_ORDER_LIMITS, sleep=self.sleep
                )
                acquire(
                    self.limiter,
                    segment_key("dhan", self.account_key, exchange or self.exchange),
                    SEGMENT_ORDER_LIMITS,
                    sleep=self.sleep,
                )
            try:
                response = self._http.request(method, path, json=payload)
            except httpx.HTTPError as exc:
                raise TemporaryBrokerError(f"Dhan did not answer: {type(exc).__name__}") from exc
            if response.is_success:
                return response.json() if response.content else None
            try:
                body = response.json()
            except ValueError:
                body = None
            err = translate_error(response.status_code, body, lookup=lookup)
            if response.status_code == 429 and attempt < self.max_attempts:
                self.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if isinstance(err, SessionExpired) and self.on_session_expired is not None:
                self.on_session_expired(str(err))
            raise err
        raise AssertionError("unreachable")  # pragma: no cover

    def _split(self, symbol: str) -> tuple[str, str]:
        exchange, _, sym = symbol.rpartition(":")
        return (exchange or self.exchange), sym

    def _security(self, symbol: str) -> tuple[str, str]:
        """Return Dhan's ``(securityId, exchangeSegment)`` for one of our symbols."""
        exchange, sym = self._split(symbol)
        segment = SEGMENT_TO_DHAN.get(exchange, f"{exchange}_EQ")
        sid = self.security_ids.get(symbol)
        if sid is None and self.security_lookup is not None:
            found = self.security_lookup(symbol)
            if found is not None:
                sid, segment = found
                self._symbols.setdefault(sid, symbol)
        if sid is None:
            if not sym.isdigit():
                raise OrderRejected(
                    f"no Dhan security id for {symbol}: run import_instruments --from dhan",
                    reason="unknown symbol",
                )
            sid = sym
        return sid, segment

    def _symbol(self, row: dict[str, Any]) -> str:
        sid = str(row.get("securityId") or "")
        if sid in self._symbols:
            return self._symbols[sid]
        exchange = SEGMENT_FROM_DHAN.get(str(row.get("exchangeSegment")), self.exchange)
        sym = str(row.get("tradingSymbol") or sid)
        return sym if exchange == self.exchange else f"{exchange}:{sym}"

    def _snapshot(self, row: dict[str, Any]) -> BrokerOrder:
        corr = str(row.get("correlationId") or "")
        cid = self._client_ids.get(corr, corr)
        return order_from_dhan(row, client_order_id=cid, symbol=self._symbol(row))

    @staticmethod
    def _one(data: Any) -> dict[str, Any]:
        """Dhan answers a single order as an object or a one-element list."""
        if isinstance(data, list):
            if not data:
                raise OrderNotFound("Dhan returned no order")
            return data[-1]
        return data

    # ------------------------------------------------------------------ orders

    def place_order(self, request: OrderRequest) -> BrokerOrder:
        """Send an order with our id as its correlationId; return the existing one if known."""
        corr = correlation_id(request.client_order_id, self.algo_id)
        self._client_ids[corr] = request.client_order_id
        security_id, segment = self._security(request.symbol)  # refused before any request
        existing = self._find(corr)
        if existing is not None:
            return existing
        exchange, _ = self._split(request.symbol)
        payload: dict[str, Any] = {
            "dhanClientId": self.client_id,
            "correlationId": corr,
            "transactionType": str(request.side),
            "exchangeSegment": segment,
            "productType": PRODUCT_TO_DHAN[str(request.product)],
            "orderType": ORDER_TYPE_TO_DHAN[str(request.order_type)],
            "validity": str(request.validity),
            "securityId": security_id,
            "quantity": int(request.quantity),
            "disclosedQuantity": 0,
            "price": float(request.price or 0.0),
            "triggerPrice": float(request.trigger_price or 0.0),
            "afterMarketOrder": False,
        }
        last: TemporaryBrokerError | None = None
        for _ in range(self.max_attempts):
            try:
                answer = self._request(
                    "POST", "/orders", payload=payload, order_request=True, exchange=exchange
                )
            except TemporaryBrokerError as exc:
                last = exc  # Dhan may have accepted it before failing: look before resending
                found = self._find(corr)
                if found is not None:
                    return found
                self.sleep(self.backoff)
                continue
            return self.order_status(str(answer["orderId"]))
        raise TemporaryBrokerError(f"order {request.client_order_id} not confirmed: {last}")

    def _find(self, corr: str) -> BrokerOrder | None:
        try:
            data = self._request("GET", f"/orders/external/{corr}", lookup=True)
        except OrderNotFound:
            return None
        if not data:
            return None
        return self._snapshot(self._one(data))

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        corr = correlation_id(client_order_id, self.algo_id)
        self._client_ids[corr] = client_order_id
        found = self._find(corr)
        if found is None:
            raise OrderNotFound(f"no Dhan order with the correlation id of {client_order_id}")
        return found

    def order_status(self, order_id: str) -> BrokerOrder:
        if not order_id.isdigit():  # Dhan's ids are numeric; do not put anything else in a path
            raise OrderNotFound(f"no Dhan order {order_id}")
        return self._snapshot(self._one(self._request("GET", f"/orders/{order_id}", lookup=True)))

    def orders(self) -> list[BrokerOrder]:
        return [self._snapshot(row) for row in self._request("GET", "/orders") or []]

    def _change(
        self,
        order_id: str,
        method: str,
        payload: dict[str, Any] | None,
        current: BrokerOrder | None = None,
    ) -> BrokerOrder:
        """Modify or cancel; a refusal on a final order is ``InvalidOrderState``."""
        current = current or self.order_status(order_id)
        if current.status in TERMINAL_STATUSES:
            raise InvalidOrderState(f"order {order_id} is {current.status}", status=current.status)
        if method == "PUT":
            key = f"dhan:{self.account_key}:modify:{order_id}"
            if self.limiter.try_acquire(key, DHAN_MODIFY_LIMIT) > 0:
                raise OrderRejected(
                    f"order {order_id}: Dhan allows at most 25 modifications per order",
                    reason="modification limit",
                )
        try:
            self._request(
                method,
                f"/orders/{order_id}",
                payload=payload,
                order_request=True,
                exchange=self._split(current.symbol)[0],
            )
        except BrokerError:
            after = self.order_status(order_id)
            if after.status in TERMINAL_STATUSES:  # it finished while we asked
                raise InvalidOrderState(
                    f"order {order_id} is {after.status}", status=after.status
                ) from None
            raise
        return self.order_status(order_id)

    def cancel_order(self, order_id: str) -> BrokerOrder:
        return self._change(order_id, "DELETE", None)

    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> BrokerOrder:
        """Dhan's modify takes the whole order: unchanged fields are sent as they are now."""
        current = self.order_status(order_id)
        payload = {
            "dhanClientId": self.client_id,
            "orderId": order_id,
            "orderType": ORDER_TYPE_TO_DHAN[str(current.order_type)],
            "legName": "",
            "quantity": int(quantity if quantity is not None else current.quantity),
            "price": float(price if price is not None else current.price or 0.0),
            "disclosedQuantity": 0,
            "triggerPrice": float(
                trigger_price if trigger_price is not None else current.trigger_price or 0.0
            ),
            "validity": str(current.validity),
        }
        return self._change(order_id, "PUT", payload, current)

    # ------------------------------------------------------------------ books

    def fills(self) -> list[Fill]:
        """Return today's trades (``GET /trades``); our id comes from the order's correlationId."""
        corr_of = {o.broker_order_id: o.client_order_id for o in self.orders()}
        return [
            Fill(
                fill_id=str(row.get("exchangeTradeId") or f"{row['orderId']}:{n}"),
                broker_order_id=str(row["orderId"]),
                client_order_id=corr_of.get(str(row["orderId"]), ""),
                symbol=self._symbol(row),
                side=Side(row["transactionType"]),
                quantity=int(row["tradedQuantity"]),
                price=float(row["tradedPrice"]),
                ts=epoch(row.get("exchangeTime") or row.get("createTime")),
            )
            for n, row in enumerate(self._request("GET", "/trades") or [])
        ]

    def positions(self) -> list[PositionView]:
        """Return Dhan's positions (``GET /positions``); a closed one only if it realised P&L."""
        return [
            PositionView(
                symbol=self._symbol(row),
                product=Product(PRODUCT_FROM_DHAN.get(str(row.get("productType")), "CNC")),
                quantity=int(row.get("netQty") or 0),
                average_price=float(row.get("costPrice") or 0.0),
                last_price=float(row.get("lastTradedPrice") or 0.0),
                realised_pnl=float(row.get("realizedProfit") or 0.0),
                unrealised_pnl=float(row.get("unrealizedProfit") or 0.0),
            )
            for row in self._request("GET", "/positions") or []
            if int(row.get("netQty") or 0) != 0 or row.get("realizedProfit")
        ]

    def holdings(self) -> list[PositionView]:
        """Return ``GET /holdings``: delivery stock (``totalQty``, of which ``availableQty`` is
        free to sell) at its ``avgCostPrice``."""
        out = []
        for row in self._request("GET", "/holdings") or []:
            qty = int(row.get("totalQty") or 0)
            avg = float(row.get("avgCostPrice") or 0.0)
            last = float(row.get("lastTradedPrice") or 0.0)
            out.append(
                PositionView(
                    symbol=self._symbol(row),
                    product=Product.CNC,
                    quantity=qty,
                    average_price=avg,
                    last_price=last,
                    realised_pnl=0.0,
                    unrealised_pnl=(last - avg) * qty if last else 0.0,
                )
            )
        return out

    def funds(self) -> Funds:
        """Return ``GET /fundlimit`` (Dhan spells it ``availabelBalance``).

        ``cash`` is the start-of-day limit, or what is available when sales raised it above.
        """
        data = self._request("GET", "/fundlimit")
        available = float(data.get("availabelBalance", data.get("availableBalance", 0.0)))
        blocked = float(data.get("utilizedAmount") or 0.0)
        cash = float(data.get("sodLimit") or 0.0)
        return Funds(cash=max(cash, available), available=available, blocked=blocked, equity=cash)

    def profile(self) -> dict[str, Any]:
        """Return ``GET /profile`` (proves the token works; ``tokenValidity`` says until when)."""
        return self._request("GET", "/profile")

    def close(self) -> None:
        self._http.close()
