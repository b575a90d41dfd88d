"""The paper broker's order book: its records of orders, their status steps and read views.

``_Order`` is the broker's mutable record of one order (plain strings and numbers, JSON-safe);
``OrderBook`` is the part of ``PaperBroker`` that creates orders, moves them through THE
transition table and reads them back as snapshots or rows. Matching (``paper_matching``) and the
funds checks (``paper_funds``) work on the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any, TypeVar

from execution.brokers.base import (
    BrokerOrder,
    Fill,
    OrderEvent,
    OrderNotFound,
    OrderRequest,
)
from execution.engine.charges import fast_constructor
from execution.engine.orders import (
    ORDER_TRANSITIONS,
    TERMINAL_STATUSES,
    InvalidOrderTransition,
    OrderStatus,
    OrderTrigger,
    OrderType,
    Product,
    Side,
    Validity,
)

# Kite Connect's words for our statuses: the paper broker speaks like the first real broker.
RAW_STATUS = {
    "PENDING": "PUT ORDER REQ RECEIVED",
    "OPEN": "OPEN",
    "TRIGGER_PENDING": "TRIGGER PENDING",
    "PARTIALLY_FILLED": "OPEN",
    "COMPLETE": "COMPLETE",
    "CANCELLED": "CANCELLED",
    "REJECTED": "REJECTED",
    "EXPIRED": "CANCELLED",
}

# Enum members hash through Python code (slow in a hot loop), so the broker's records hold plain
# strings and these tables, built from THE transition table, are keyed by plain strings.
_NEXT: dict[tuple[str, str], str] = {
    (str(a), str(b)): str(c) for (a, b), c in ORDER_TRANSITIONS.items()
}
_TERMINAL = frozenset(str(x) for x in TERMINAL_STATUSES)
_STATUS = {str(m): m for m in OrderStatus}
# _NEXT with what an order records on each step: (next status, Kite's word for it, the member)
_STEP: dict[tuple[str, str], tuple[str, str, OrderStatus]] = {
    k: (new, RAW_STATUS[new], _STATUS[new]) for k, new in _NEXT.items()
}
_SIDE = {str(m): m for m in Side}
_OTYPE = {str(m): m for m in OrderType}
_PRODUCT = {str(m): m for m in Product}
_VALIDITY = {str(m): m for m in Validity}
_PENDING = OrderStatus.PENDING
_ACCEPT = str(OrderTrigger.ACCEPT)
_ACCEPT_STOP = str(OrderTrigger.ACCEPT_STOP)
_TRIGGER = str(OrderTrigger.TRIGGER)
_FILL = str(OrderTrigger.FILL)
_FILL_PARTIAL = str(OrderTrigger.FILL_PARTIAL)
_MODIFY = str(OrderTrigger.MODIFY)
_CANCEL = str(OrderTrigger.CANCEL)
_REJECT = str(OrderTrigger.REJECT)
_EXPIRE = str(OrderTrigger.EXPIRE)

_EPS = 1e-9

# the broker makes events and fills by the hundred thousand in a backtest
_new_event = fast_constructor(OrderEvent)
_new_fill = fast_constructor(Fill)

_R = TypeVar("_R")


def _row(*fields: Any) -> tuple[Any, ...]:
    """An order's row as a plain tuple (``order_rows``' default)."""
    return fields


def _fills_at_open(o: _Order) -> bool:
    """Whether a working order fills at a bar's open: a market order or a triggered SL-M."""
    return o.otype == "MARKET" or (o.otype == "SL-M" and o.triggered)


class _Order:
    """The broker's mutable record of one order."""

    __slots__ = (
        "avg",
        "cid",
        "created",
        "day",
        "filled",
        "group",
        "last_bar",
        "met",
        "msg",
        "nfills",
        "oid",
        "otype",
        "price",
        "product",
        "protect",
        "qty",
        "raw",
        "reserve",
        "side",
        "status",
        "symbol",
        "trigger",
        "triggered",
        "updated",
        "validity",
        "value",
    )

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__slots__}
        if not d["group"]:
            del d["group"]  # an ungrouped order's record is what it was before order groups
        if d["protect"] is None:
            del d["protect"]  # and an unprotected one's what it was before market protection
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Order:
        o = cls()
        for k in cls.__slots__:
            setattr(o, k, d[k] if k in d else _OPTIONAL[k])  # records before groups/protection
        return o


# fields an older record may lack, and what they mean there
_OPTIONAL: dict[str, Any] = {"group": "", "protect": None}


class OrderBook:
    """Orders by broker id (creation order), by client id, and the working ones.

    A mixin of ``PaperBroker``: it expects ``_orders``, ``_by_cid``, ``_working``, ``_seq``,
    ``_bar``, ``_events`` and ``id_prefix`` set by the broker's ``__init__``.
    """

    _orders: dict[str, _Order]
    _by_cid: dict[str, str]
    _working: dict[str, _Order]
    _seq: int
    _bar: tuple[int, float, float, float, float, float] | None
    _events: list[OrderEvent]
    _base_count: int
    id_prefix: str

    def order_status(self, order_id: str) -> BrokerOrder:
        """Return an order's latest snapshot (``OrderNotFound`` if unknown)."""
        return self._snapshot(self._get(order_id))

    def order_by_client_id(self, client_order_id: str) -> BrokerOrder:
        """Return the order placed with ``client_order_id``."""
        oid = self._by_cid.get(client_order_id)
        if oid is None:
            raise OrderNotFound(client_order_id)
        return self._snapshot(self._orders[oid])

    def orders(self) -> list[BrokerOrder]:
        """Return every order the broker still holds, oldest first."""
        return [self._snapshot(o) for o in self._orders.values()]

    def working_orders(self) -> list[BrokerOrder]:
        """Return snapshots of the orders still working, oldest first."""
        return [self._snapshot(o) for o in self._working.values()]

    def has_working(self) -> bool:
        return bool(self._working) or self._base_count > 0

    def working_count(self) -> int:
        """How many orders are working (with a partial load, those it did not load too)."""
        return len(self._working) + self._base_count

    def working_market(self, symbol: str) -> list[tuple[str, str, str, int]]:
        """Return ``(broker order id, client order id, side, unfilled quantity)`` of each
        working MARKET order on ``symbol`` (market protection's converted ones included),
        oldest first (no snapshots: the engine's hot path).
        """
        return [
            (o.oid, o.cid, o.side, o.qty - o.filled)
            for o in self._working.values()
            if (o.otype == "MARKET" or o.protect is not None) and o.symbol == symbol
        ]

    def _get(self, order_id: str) -> _Order:
        o = self._orders.get(order_id)
        if o is None:
            raise OrderNotFound(order_id)
        return o

    def _new_order(self, r: OrderRequest) -> _Order:
        return self._create(
            r.client_order_id,
            r.symbol,
            str(r.side),
            str(r.order_type),
            str(r.product),
            str(r.validity),
            int(r.quantity),
            None if r.price is None else float(r.price),
            None if r.trigger_price is None else float(r.trigger_price),
            r.group,
        )

    def _create(
        self,
        cid: str,
        symbol: str,
        side: str,
        otype: str,
        product: str,
        validity: str,
        qty: int,
        price: float | None = None,
        trigger: float | None = None,
        group: str = "",
    ) -> _Order:
        """Record a new PENDING order (fields as plain strings and numbers) and its event."""
        self._seq += 1
        o = _Order()
        # f"{prefix}{seq:08d}", spelled the way that formats fastest (zfill keeps a sign first)
        o.oid = oid = self.id_prefix + str(self._seq).zfill(8)
        o.cid = cid
        o.symbol = symbol
        o.side = side
        o.otype = otype
        o.product = product
        o.validity = validity
        o.qty = qty
        o.price = price
        o.trigger = trigger
        o.group = group
        o.protect = None  # market protection's band price, once set (``paper_protection``)
        o.status = "PENDING"
        o.raw = raw = RAW_STATUS["PENDING"]
        o.msg = ""
        o.filled = 0
        o.avg = 0.0
        o.value = 0.0
        o.nfills = 0
        bar = self._bar  # in a bar (the engine's legs): its open time, as ``_now`` gives it
        o.created = o.updated = now = bar[0] if bar is not None else self._now()
        o.triggered = False
        o.met = False
        o.last_bar = None
        o.day = None
        o.reserve = 0.0
        self._orders[oid] = o
        self._by_cid[cid] = oid
        self._events.append(_new_event(cid, oid, _PENDING, raw, "order received", now))
        return o

    def _apply(self, o: _Order, trigger: str, ts: int, message: str = "") -> None:
        """Move the order through THE transition table and record the event."""
        step = _STEP.get((o.status, trigger))
        if step is None:
            raise InvalidOrderTransition(o.status, trigger)
        o.status, o.raw, status = step
        o.msg = message
        o.updated = ts
        self._events.append(_new_event(o.cid, o.oid, status, o.raw, message, ts, trigger))

    def _finish(self, o: _Order, trigger: str, ts: int, message: str) -> None:
        self._apply(o, trigger, ts, message)
        self._working.pop(o.oid, None)

    def _snapshot(self, o: _Order) -> BrokerOrder:
        return BrokerOrder(
            o.oid,
            o.cid,
            o.symbol,
            _SIDE[o.side],
            _OTYPE[o.otype],
            _PRODUCT[o.product],
            _VALIDITY[o.validity],
            o.qty,
            o.price,
            o.trigger,
            _STATUS[o.status],
            o.raw,
            o.msg,
            o.filled,
            o.qty - o.filled if o.status not in _TERMINAL else 0,
            o.avg,
            o.created,
            o.updated,
        )

    def order_row(self, client_order_id: str) -> tuple[Any, ...]:
        """Return an order's fields in ``OrderRecord`` order, without building a snapshot."""
        return self.order_rows((client_order_id,))[0]

    def order_rows(
        self, client_order_ids: Iterable[str], make: Callable[..., _R] = _row
    ) -> list[_R]:
        """``order_row`` of each order, in one pass (a backtest's result has one per order);
        ``make(*row)`` of each instead with ``make`` (``OrderRecord``: no tuples in between)."""
        by_cid, orders = self._by_cid, self._orders
        return self._rows([orders[by_cid[cid]] for cid in client_order_ids], make)

    def order_count(self) -> int:
        """Return how many orders the broker holds: a mark for ``order_rows_since``."""
        return len(self._orders)

    def order_rows_since(self, mark: int, make: Callable[..., _R] = _row) -> list[_R]:
        """``order_rows`` of the orders placed since ``order_count()`` returned ``mark``, oldest
        first (orders are only ever added during a run, so they follow the mark in order)."""
        new = len(self._orders) - mark
        if new <= 0:
            return []
        if mark <= 0:  # a whole run's orders (a backtest): in their order, no list between
            return self._rows(self._orders.values(), make)
        # from the end: a long run's many earlier orders are not walked through again (each of
        # a basket's thousands of short steps would otherwise cost its whole order history)
        latest = list(islice(reversed(self._orders.values()), new))
        latest.reverse()
        return self._rows(latest, make)

    @staticmethod
    def _rows(orders: Iterable[_Order], make: Callable[..., _R]) -> list[_R]:
        return [
            make(
                o.cid,
                o.oid,
                o.symbol,
                o.side,
                o.otype,
                o.product,
                o.validity,
                o.qty,
                o.price,
                o.trigger,
                o.status,
                o.raw,
                o.msg,
                o.filled,
                o.qty - o.filled if o.status not in _TERMINAL else 0,
                o.avg,
                o.created,
                o.updated,
            )
            for o in orders
        ]
