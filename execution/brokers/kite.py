"""Zerodha Kite Connect behind the broker contract, through the official ``kiteconnect`` SDK.

The SDK does the HTTP (paths, the ``X-Kite-Version: 3`` header, ``token api_key:access_token``
auth, the ``{"status", "data"}`` envelope and the error classes); this adapter adds what the
contract asks of every broker:

- **Idempotency.** Our ``client_order_id`` travels as Kite's ``tag`` (``kite_mapping.kite_tag``:
  20 alphanumerics, deterministic). Before sending an order the adapter looks for the tag in
  today's order book, and after an ambiguous failure (a timeout, a 5xx: Kite may have accepted
  it) it looks again before re-sending, so a retried placement is found, never repeated.
- **Rate limits.** Every order request (place, modify, cancel) first takes a slot from a shared
  sliding-window limiter keyed by the account (10/s and 200/min) and one keyed by the account
  and exchange segment (SEBI: 10/s, ``sebi.SEGMENT_ORDER_LIMITS``); a 429 from Kite anyway is
  retried with exponential backoff. GETs are not counted against the order limits.
- **SEBI.** The tag starts with the strategy's algo id (``algo_id``); MARKET and SL-M orders
  carry ``market_protection`` (``-1``, Kite's automatic band, unless configured: Kite refuses
  them without it and converts them to limit orders at the band).
- **Translation.** Statuses and errors go through ``kite_mapping``; the raw status and message
  stay on every snapshot. A ``TokenException`` (the daily ~06:00 IST expiry) is ``SessionExpired``.

Nothing here imports Django; the broker-account service builds the adapter with the decrypted
access token and the configured limiter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from kiteconnect import KiteConnect

from execution.brokers.base import (
    BrokerAdapter,
    BrokerError,
    BrokerOrder,
    Fill,
    Funds,
    InvalidOrderState,
    OrderNotFound,
    OrderRequest,
    PositionView,
    SessionExpired,
    TemporaryBrokerError,
)
from execution.brokers.kite_mapping import (
    _epoch,
    kite_tag,
    order_from_kite,
    symbol_of,
    translate_error,
)
from execution.brokers.ratelimit import (
    KITE_ORDER_LIMITS,
    MemoryRateLimiter,
    RateLimiter,
    acquire,
)
from execution.brokers.sebi import SEGMENT_ORDER_LIMITS, algo_prefix, segment_key
from execution.engine.orders import TERMINAL_STATUSES, Product, Side

T = TypeVar("T")
VARIETY = "regular"


class KiteBroker(BrokerAdapter):
    """A linked Kite Connect account (one API key and today's access token)."""

    name = "kite"

    def __init__(
        self,
        *,
        api_key: str,
        access_token: str,
        account_key: str,
        root: str | None = None,
        timeout: float = 7.0,
        exchange: str = "NSE",
        limiter: RateLimiter | None = None,
        max_attempts: int = 4,
        backoff: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        client: KiteConnect | None = None,
        on_session_expired: Callable[[str], None] | None = None,
        algo_id: str = "",
        market_protection: float = -1,
    ):
        # debug stays False: the SDK's debug log prints the Authorization header.
        self.kite = client or KiteConnect(api_key=api_key, root=root, timeout=timeout)
        self.kite.set_access_token(access_token)
        self.account_key = account_key
        self.exchange = exchange
        self.limiter = limiter or MemoryRateLimiter()
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.sleep = sleep
        self.on_session_expired = on_session_expired  # e.g. mark the account "re-login needed"
        self._client_ids: dict[str, str] = {}  # tag -> our client_order_id
        self.algo_id = algo_prefix(algo_id)  # ValueError for an id no tag can carry
        self.market_protection = market_protection

    def __repr__(self) -> str:  # never the token
        return f"KiteBroker(account={self.account_key!r}, exchange={self.exchange!r})"

    # ------------------------------------------------------------------ plumbing

    def _call(
        self,
        fn: Callable[[], T],
        *,
        order_request: bool = False,
        lookup: bool = False,
        exchange: str | None = None,
    ) -> T:
        """Run one SDK call: take rate-limit slots, retry 429s with backoff, translate errors."""
        for attempt in range(1, self.max_attempts + 1):
            if order_request:
                acquire(
                    self.limiter, f"kite:{self.account_key}", KITE_ORDER_LIMITS, sleep=self.sleep
                )
                acquire(
                    self.limiter,
                    segment_key("kite", self.account_key, exchange or self.exchange),
                    SEGMENT_ORDER_LIMITS,
                    sleep=self.sleep,
                )
            try:
                return fn()
            except Exception as exc:  # every failure is translated below
                err = translate_error(exc, lookup=lookup)
                if getattr(exc, "code", None) == 429 and attempt < self.max_attempts:
                    self.sleep(self.backoff * 2 ** (attempt - 1))
                    continue
                if isinstance(err, SessionExpired) and self.on_session_expired is not None:
                    self.on_session_expired(str(err))
                raise err from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _split(self, symbol: str) -> tuple[str, str]:
        exchange, _, sym = symbol.rpartition(":")
        return (exchange or self.exchange), sym

    def _snapshot(self, row: dict[str, Any]) -> BrokerOrder:
        tag = str(row.get("tag") or "")
        cid = self._client_ids.get(tag, tag)
        return order_from_kite(row, client_order_id=cid, default_exchange=self.exchange)

    # ------------------------------------------------------------------ orders

    def place_order(self, request: OrderRequest) -> BrokerOrder:
        """Send an order with our id as its tag; return the existing one if the tag is known."""
        tag = kite_tag(request.client_order_id, self.algo_id)
        self._client_ids[tag] = request.client_order_id
        existing = self._find_by_tag(tag)
        if existing is not None:
            return existing
        exchange, sym = self._split(request.symbol)
        params: dict[str, Any] = {
            "variety": VARIETY,
            "exchange": exchange,
            "tradingsymbol": sym,
            "transaction_type": str(request.side),
            "quantity": request.quantity,
            "product": str(request.product),
            "order_type": str(request.order_type),
            "validity": str(request.validity),
            "tag": tag,
        }
        if request.price is not None:
            params["price"] = request.price
        if request.trigger_price is not None:
            params["trigger_price"] = request.trigger_price
        if str(request.order_type) in ("MARKET", "SL-M"):
            params["market_protection"] = self.market_protection  # SEBI: a protected limit
        last: TemporaryBrokerError | None = None
        for _ in range(self.max_attempts):
            try:
                order_id = self._call(
                    lambda: self.kite.place_order(**params), order_request=True, exchange=exchange
                )
            except TemporaryBrokerError as exc:
                # Kite may have accepted it before the failure: look before sending again.
                last = exc
                found = self._find_by_tag(tag)
                if found is not None:
                    return found
                self.sleep(self.backoff)
                continue
            return self.order_status(str(order_id))
        raise TemporaryBrokerError(f"order {request.client_order_id} not confirmed: {last}")

    def _find_by_tag(self, tag: str) -> BrokerOrder | None:
        rows = [r for r in self._call(self.kite.orders) if r.get("tag") == tag]
        return self._snapshot(rows[-1]) if rows else None

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        """Return today's order carrying our id's tag."""
        tag = kite_tag(client_order_id, self.algo_id)
        self._client_ids[tag] = client_order_id
        found = self._find_by_tag(tag)
        if found is None:
            raise OrderNotFound(f"no Kite order tagged for {client_order_id}")
        return found

    def order_status(self, order_id: str) -> BrokerOrder:
        """Return the latest entry of the order's history."""
        history = self._call(lambda: self.kite.order_history(order_id), lookup=True)
        if not history:
            raise OrderNotFound(f"no Kite order {order_id}")
        return self._snapshot(history[-1])

    def order_history(self, order_id: str) -> list[BrokerOrder]:
        """Return every status the order went through, oldest first (raw statuses kept)."""
        history = self._call(lambda: self.kite.order_history(order_id), lookup=True)
        return [self._snapshot(row) for row in history]

    def orders(self) -> list[BrokerOrder]:
        return [self._snapshot(row) for row in self._call(self.kite.orders)]

    def _change(self, order_id: str, fn: Callable[[], Any]) -> BrokerOrder:
        """Modify or cancel; a refusal on a final order is ``InvalidOrderState``."""
        current = self.order_status(order_id)
        if current.status in TERMINAL_STATUSES:
            raise InvalidOrderState(f"order {order_id} is {current.status}", status=current.status)
        try:
            self._call(fn, order_request=True, exchange=self._split(current.symbol)[0])
        except BrokerError:
            after = self.order_status(order_id)
            if after.status in TERMINAL_STATUSES:  # it finished while we asked
                raise InvalidOrderState(
                    f"order {order_id} is {after.status}", status=after.status
                ) from None
            raise
        return self.order_status(order_id)

    def cancel_order(self, order_id: str) -> BrokerOrder:
        return self._change(order_id, lambda: self.kite.cancel_order(VARIETY, order_id))

    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> BrokerOrder:
        return self._change(
            order_id,
            lambda: self.kite.modify_order(
                VARIETY, order_id, quantity=quantity, price=price, trigger_price=trigger_price
            ),
        )

    # ------------------------------------------------------------------ books

    def fills(self) -> list[Fill]:
        """Return today's trades (Kite's trade book)."""
        out = []
        for row in self._call(self.kite.trades):
            tag = str(row.get("tag") or "")
            out.append(
                Fill(
                    fill_id=str(row["trade_id"]),
                    broker_order_id=str(row["order_id"]),
                    client_order_id=self._client_ids.get(tag, tag),
                    symbol=symbol_of(row, self.exchange),
                    side=Side(row["transaction_type"]),
                    quantity=int(row["quantity"]),
                    price=float(row["average_price"]),
                    ts=_epoch(row.get("fill_timestamp") or row.get("exchange_timestamp")),
                )
            )
        return out

    def positions(self) -> list[PositionView]:
        """Return Kite's net positions (the ``net`` half of ``/portfolio/positions``)."""
        data = self._call(self.kite.positions)
        return [
            PositionView(
                symbol=symbol_of(row, self.exchange),
                product=Product(row["product"]),
                quantity=int(row["quantity"]),
                average_price=float(row.get("average_price") or 0.0),
                last_price=float(row.get("last_price") or 0.0),
                realised_pnl=float(row.get("realised") or 0.0),
                unrealised_pnl=float(row.get("unrealised") or 0.0),
            )
            for row in data.get("net", [])
            if int(row.get("quantity") or 0) != 0 or row.get("realised")
        ]

    def holdings(self) -> list[PositionView]:
        """Return ``/portfolio/holdings``: settled delivery stock plus today's T1 quantity."""
        return [
            PositionView(
                symbol=symbol_of(row, self.exchange),
                product=Product.CNC,
                quantity=int(row.get("quantity") or 0) + int(row.get("t1_quantity") or 0),
                average_price=float(row.get("average_price") or 0.0),
                last_price=float(row.get("last_price") or 0.0),
                realised_pnl=0.0,
                unrealised_pnl=float(row.get("pnl") or 0.0),
            )
            for row in self._call(self.kite.holdings) or []
        ]

    def funds(self) -> Funds:
        """Return the equity segment's margins: ``net`` is what a new order may use."""
        equity = self._call(lambda: self.kite.margins("equity"))
        available = equity.get("available", {})
        cash = float(available.get("live_balance", available.get("cash", 0.0)))
        net = float(equity.get("net", 0.0))
        blocked = float(equity.get("utilised", {}).get("debits", 0.0))
        return Funds(cash=cash, available=min(net, cash), blocked=blocked, equity=cash + blocked)

    def profile(self) -> dict[str, Any]:
        """Return the account's profile (used to confirm a fresh login works)."""
        return self._call(self.kite.profile)
