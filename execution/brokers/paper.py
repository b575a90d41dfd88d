"""The paper broker: a full in-memory matching simulator behind the broker contract (§3).

Pure Python; its whole state is a JSON-safe dict (``to_state``/``from_state``) so a paper
deployment can store it between live steps. Market data reaches it from whoever drives it (the
engine) one bar at a time:

``begin_bar(ts, o, h, l, c, v)`` → ``fill_open()`` (market orders at this open) →
``match_bar()`` (everything else against the whole bar) → the bar is closed.

An order placed between ``begin_bar`` and ``match_bar`` meets the current bar (that is how the
engine's stop-and-reverse legs both fill at the same open). An order placed or modified while no
bar is open meets only bars that open *after* it: after ``feed_clock`` if the driver set it (the
feed's time at the call; a live deployment may still have closed bars to process that opened
before the order existed), else after the last bar shown. Its first possible price is therefore
never one from before it existed: a market order fills at the open of the first such bar, and a
limit or stop is checked only against such bars.

Fill rules
----------
- MARKET: at the open ± slippage (``slippage_bps``; buys pay up, sells receive less), rounded to
  the tick (buys up, sells down).
- LIMIT: when the bar trades *through* the price (buy: low < limit; sell: high > limit), at the
  limit; if the open is already at or through it, at the open.
- SL-M: triggers when the bar touches the trigger (buy: high ≥ trigger; sell: low ≤ trigger),
  then fills as a market order at the trigger, or at the open if the open gapped through it,
  ± slippage. SL: the same trigger, then works as a LIMIT at ``price`` (filling at the trigger
  price or the open when that is within the limit).
- Volume: with ``volume_share`` set, all fills in one bar together take at most that share of the
  bar's volume (whole lots); the rest stays working (PARTIALLY_FILLED) for later bars.
- IOC: whatever did not fill on the first bar the order met expires. DAY: with a
  ``SessionCalendar`` the order expires at its session's close; without one (the synthetic 24-hour
  market) it never expires.
- Checks at placement (REJECTED with the reason): known instrument, quantity a positive multiple of
  the lot size, prices multiples of the tick size, SL limit on the right side of its trigger, no
  CNC short sale unless the instrument allows it, funds for the order's value plus its estimated
  charges (shorts block 100 % margin).

Randomness (``slippage_random`` draws each fill's slippage in [0, slippage_bps]) comes from a
counter-based generator keyed by (seed, order id, bar), so reruns and resumed runs are identical.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable
from decimal import Decimal
from itertools import islice
from typing import Any, TypeVar

from execution.brokers.base import (
    BrokerAdapter,
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
)
from execution.engine.charges import (
    ChargesModel,
    IndiaEquityCharges,
    charges_from_dict,
    fast_constructor,
)
from execution.engine.config import InstrumentSpec, SessionCalendar
from execution.engine.ledger import Ledger
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


def _decimals(tick: float) -> int:
    s = f"{tick:.10f}".rstrip("0")
    return len(s.split(".")[1]) if "." in s else 0


# How far (in ticks) a float may sit from a whole number of ticks and still count as on it:
# 1e-6 of a tick, widened with the count of ticks, since a float carries ~16 significant digits
# and a crypto price of 43210.12345678 on a 1e-8 tick is 4.3e12 ticks (±0.0005 in float).
_TICK_SLACK = 1e-6
_TICK_SLACK_REL = 4e-15


def _tick_slack(k: float) -> float:
    return _TICK_SLACK + abs(k) * _TICK_SLACK_REL


def _num(x: float) -> str:
    """A price or tick as its shortest decimal, never in exponent form (1e-05 → 0.00001)."""
    return f"{Decimal(repr(float(x))).normalize():f}"


def _on_tick(x: float, tick: float) -> bool:
    k = x / tick
    return abs(k - round(k)) < _tick_slack(k)


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a good stateless hash of a 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


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
        "last_bar",
        "met",
        "msg",
        "nfills",
        "oid",
        "otype",
        "price",
        "product",
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
        return {k: getattr(self, k) for k in self.__slots__}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> _Order:
        o = cls()
        for k in cls.__slots__:
            setattr(o, k, d[k])
        return o


class PaperBroker(BrokerAdapter):
    """A matching simulator with its own account (cash, positions, charges)."""

    name = "paper"

    def __init__(
        self,
        instruments: Iterable[InstrumentSpec],
        *,
        starting_cash: float,
        charges: ChargesModel | None = None,
        slippage_bps: float = 0.0,
        slippage_random: bool = False,
        volume_share: float | None = None,
        seed: int = 0,
        calendar: SessionCalendar | None = None,
        order_history_limit: int = 1000,
        id_prefix: str = "PB",
    ):
        self.instruments: dict[str, InstrumentSpec] = {i.symbol: i for i in instruments}
        self.charges = charges if charges is not None else IndiaEquityCharges()
        self.slippage_bps = float(slippage_bps)
        self.slippage_random = bool(slippage_random)
        self.volume_share = volume_share
        self.seed = int(seed)
        self.calendar = calendar
        self.order_history_limit = int(order_history_limit)
        self.id_prefix = id_prefix
        self.account = Ledger(starting_cash)
        self._orders: dict[str, _Order] = {}  # by broker order id, creation order
        self._by_cid: dict[str, str] = {}
        self._working: dict[str, _Order] = {}
        self._products: dict[str, str] = {}
        self._seq = 0
        # the bar being processed (between begin_bar and match_bar), else None
        self._bar: tuple[int, float, float, float, float, float] | None = None
        self._bar_symbol: str | None = None
        self._budget = math.inf
        self._last_ts: int | None = None
        self._last_price: dict[str, float] = {}
        self._events: list[OrderEvent] = []
        self._fills: list[Fill] = []
        self._on_fill: Callable[[Fill], None] | None = None
        # gross P&L the latest fill realised in ``account`` (for an ``on_fill`` callback that
        # keeps its books in this same account); not persisted
        self.last_fill_realised = 0.0
        # wall-clock time for calls made between bars (manual orders); not persisted
        self.clock: int | None = None
        # the feed's time (the clock bars are stamped with) for calls made between bars; an
        # order placed or modified then meets only bars opening after it; not persisted
        self.feed_clock: int | None = None
        # broker order id -> bar time: the order meets only bars opening after it (``_hold``)
        self._after: dict[str, int] = {}
        self._tick_dec = {s: _decimals(i.tick_size) for s, i in self.instruments.items()}
        # ticks like 0.05 or 0.01 are 1/n: k / n is then exactly the float of the decimal price
        self._inv_tick = {
            s: (round(1 / i.tick_size) if abs(1 / i.tick_size - round(1 / i.tick_size)) < 1e-9
                else 0)
            for s, i in self.instruments.items()
        }  # fmt: skip

    # ------------------------------------------------------------------ contract

    def place_order(self, request: OrderRequest) -> BrokerOrder:
        """Create an order; return it REJECTED with the reason if it fails a check."""
        return self._snapshot(self._orders[self.submit(request)])

    def submit(self, request: OrderRequest) -> str:
        """``place_order`` without building the snapshot: return the broker order id.

        Everything else (checks, events, idempotency) is the same.
        """
        oid = self._by_cid.get(request.client_order_id)
        if oid is not None:
            return oid
        return self._admit(self._new_order(request))

    def _admit(self, o: _Order) -> str:
        """Run the placement checks on a new order: reject it, or accept it as working."""
        reason = self._check(o)
        if reason is not None:
            self._apply(o, _REJECT, o.created, reason)
        else:
            self._apply(o, _ACCEPT_STOP if o.otype in ("SL", "SL-M") else _ACCEPT, o.created)
            self._working[o.oid] = o
            if self._bar is None:
                self._hold(o)
        return o.oid

    def _hold(self, o: _Order) -> None:
        """Keep an order placed or modified between bars away from bars that opened before it."""
        after = self.feed_clock if self.feed_clock is not None else self._last_ts
        if after is not None:
            self._after[o.oid] = int(after)

    def _held(self, o: _Order, ts: int) -> bool:
        """Whether bar ``ts`` opened before ``o`` was placed (or last modified) between bars."""
        after = self._after.get(o.oid)
        if after is None:
            return False
        if ts <= after:
            return True
        del self._after[o.oid]  # bars only move forward: every later bar is eligible too
        return False

    def cancel_order(self, order_id: str, *, reason: str = "cancelled by user") -> BrokerOrder:
        """Cancel a working order (``InvalidOrderState`` if it is already final)."""
        o = self._get(order_id)
        if o.status in _TERMINAL:
            raise InvalidOrderState(f"order {order_id} is {o.status}", status=o.status)
        self._finish(o, _CANCEL, self._now(), reason)
        return self._snapshot(o)

    def modify_order(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> BrokerOrder:
        """Change a working order; refuse (``OrderRejected``) changes that fail the checks."""
        o = self._get(order_id)
        if (o.status, _MODIFY) not in _NEXT:
            raise InvalidOrderState(f"order {order_id} is {o.status}", status=o.status)
        old = (o.qty, o.price, o.trigger, o.reserve)
        if quantity is not None:
            if quantity <= o.filled:
                raise OrderRejected(
                    f"quantity {quantity} must exceed the filled quantity {o.filled}"
                )
            o.qty = int(quantity)
        if price is not None:
            o.price = float(price)
        if trigger_price is not None:
            o.trigger = float(trigger_price)
        # the funds check must not count the order against itself; like an exchange, a modified
        # order goes to the back of the queue
        reason = self._check(o)
        self._working[o.oid] = o
        if reason is not None:
            o.qty, o.price, o.trigger, o.reserve = old
            if reason.startswith("insufficient funds"):
                raise InsufficientFunds(reason)
            raise OrderRejected(reason)
        self._apply(o, _MODIFY, self._now(), "modified")
        if self._bar is None:
            self._hold(o)  # the new terms apply only to bars opening after the change
        return self._snapshot(o)

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

    def positions(self) -> list[PositionView]:
        """Return the non-flat net positions."""
        return [
            PositionView(
                symbol=p.symbol,
                product=Product(self._products.get(p.symbol, "CNC")),
                quantity=p.qty,
                average_price=p.avg_price,
                last_price=p.last_price,
                realised_pnl=p.realised_pnl,
                unrealised_pnl=p.unrealised_pnl,
            )
            for p in self.account.positions.values()
            if p.qty != 0 or p.realised_pnl != 0
        ]

    def funds(self) -> Funds:
        """Return cash, what new orders may use, and what working orders/shorts block."""
        avail = self.available_funds()
        return Funds(
            cash=self.account.cash,
            available=avail,
            blocked=self.account.cash - avail,
            equity=self.account.equity,
        )

    def fills(self) -> list[Fill]:
        return list(self._fills)

    def drain_events(self) -> list[OrderEvent]:
        """Return and forget the status changes since the last call."""
        out, self._events = self._events, []
        return out

    def drain_fills(self) -> list[Fill]:
        """Return and forget the executions since the last call."""
        out, self._fills = self._fills, []
        return out

    # ------------------------------------------------------------------ market data

    def working_orders(self) -> list[BrokerOrder]:
        """Return snapshots of the orders still working, oldest first."""
        return [self._snapshot(o) for o in self._working.values()]

    def has_working(self) -> bool:
        return bool(self._working)

    def working_count(self) -> int:
        return len(self._working)

    def working_market(self, symbol: str) -> list[tuple[str, str, str, int]]:
        """Return ``(broker order id, client order id, side, unfilled quantity)`` of each
        working MARKET order on ``symbol``, oldest first (no snapshots: the engine's hot path).
        """
        return [
            (o.oid, o.cid, o.side, o.qty - o.filled)
            for o in self._working.values()
            if o.otype == "MARKET" and o.symbol == symbol
        ]

    def begin_bar(
        self, symbol: str, ts: int, o: float, h: float, lo: float, c: float, v: float
    ) -> None:
        """Open a new bar: expire DAY orders of past sessions, reset the volume budget."""
        self._bar = (ts, o, h, lo, c, v)
        self._bar_symbol = symbol
        self._last_ts = ts
        self._last_price[symbol] = o
        self.account.mark(symbol, o)
        share = self.volume_share
        if share is None:
            self._budget = math.inf
        else:
            lot = self.instruments[symbol].lot_size
            self._budget = math.floor(share * v / lot + _EPS) * lot
        if self._working and self.calendar is not None:
            day = self.calendar.session_day(ts)
            for od in list(self._working.values()):
                if od.validity == "DAY" and od.day is not None and od.day < day:
                    self._finish(
                        od,
                        _EXPIRE,
                        self.calendar.session_close_ts(od.day),
                        "DAY order expired at the session close",
                    )

    def fill_open(self) -> None:
        """Fill working market orders (and triggered SL-M remainders) at the current open."""
        if not self._working or self._bar is None:
            return
        ts, op = self._bar[0], self._bar[1]
        symbol = self._bar_symbol
        held = self._after
        for od in list(self._working.values()):
            if od.symbol != symbol or od.last_bar == ts or (held and self._held(od, ts)):
                continue
            if _fills_at_open(od):
                self._fill_at_open(od, ts, op)

    def _fill_at_open(self, od: _Order, ts: int, op: float) -> None:
        """Fill one market order (or triggered SL-M remainder) at the open ``op`` of bar ``ts``."""
        if not od.met:  # ``_meet``, inline: a fresh engine leg always gets here
            self._meet(od, ts)
        od.last_bar = ts
        self._fill_up_to(od, self._slip(op, od, ts), ts)
        if od.validity == "IOC" and od.status not in _TERMINAL:
            self._finish(od, _EXPIRE, ts, "IOC remainder expired")

    def place_market_at_open(self, client_order_id: str, symbol: str, side: str, quantity: int,
                             product: str) -> str:  # fmt: skip
        """The engine's market legs: ``submit`` then ``fill_open``, in one call.

        The same as ``submit(OrderRequest(client_order_id, symbol, Side(side), OrderType.MARKET,
        quantity, Product(product), Validity.DAY))`` (``_new_order`` would turn those fields
        back into exactly these strings) followed by ``fill_open()``. A leg is placed in a bar's
        open phase right after ``fill_open`` has run (or when nothing was working), so every
        other working order has met this bar already or does not fill at the open: the
        ``fill_open`` would fill exactly this order, which is done here directly, through the
        same ``_fill_at_open``. Placed outside a bar, the order waits, as after ``submit``.
        """
        oid = self._by_cid.get(client_order_id)
        if oid is None:
            o = self._create(client_order_id, symbol, side, "MARKET", product, "DAY", int(quantity))
            oid = self._admit(o)
        o = self._working.get(oid)
        bar = self._bar
        if o is not None and bar is not None and o.symbol == self._bar_symbol:
            ts = bar[0]
            if o.last_bar != ts and _fills_at_open(o) and not (self._after and self._held(o, ts)):
                self._fill_at_open(o, ts, bar[1])
        return oid

    def match_bar(self) -> None:
        """Match every working order against the current bar, then close the bar."""
        if self._bar is None:
            return
        ts, op, hi, lo, cl, _v = self._bar
        symbol = self._bar_symbol
        if self._working:
            self.fill_open()
            held = self._after
            for od in list(self._working.values()):
                if od.symbol != symbol or od.last_bar == ts or (held and self._held(od, ts)):
                    continue
                self._meet(od, ts)
                od.last_bar = ts
                self._match_one(od, ts, op, hi, lo)
                if od.validity == "IOC" and od.status not in _TERMINAL:
                    self._finish(od, _EXPIRE, ts, "IOC remainder expired")
        self._bar = None
        self._last_price[symbol] = cl
        self.account.mark(symbol, cl)

    def skip_to(self, symbol: str, ts: int, close: float) -> None:
        """Note quiet bars the driver did not show us (no working orders): only the last price."""
        self._last_ts = ts
        self._last_price[symbol] = close
        self.account.mark(symbol, close)

    def last_price(self, symbol: str) -> float | None:
        return self._last_price.get(symbol)

    # ------------------------------------------------------------------ internals

    def _now(self) -> int:
        if self._bar is not None:
            return self._bar[0]
        if self.clock is not None:
            return self.clock
        return self._last_ts or 0

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

    def _check(self, o: _Order) -> str | None:
        """Return why the order must be rejected, or None; sets its funds reservation."""
        symbol = o.symbol
        spec = self.instruments.get(symbol)
        if spec is None:
            return f"unknown instrument {symbol}"
        side, otype, product = o.side, o.otype, o.product
        if (
            side not in _SIDE
            or otype not in _OTYPE
            or product not in _PRODUCT
            or o.validity not in _VALIDITY
        ):
            return "unknown side, order type, product or validity"
        lot = spec.lot_size
        if o.qty <= 0 or o.qty % lot:
            return f"quantity {o.qty} is not a positive multiple of the lot size {lot}"
        if otype == "MARKET":
            if o.price is not None or o.trigger is not None:
                return "MARKET order takes no price or trigger price"
        else:
            reason = self._check_prices(o, spec.tick_size)
            if reason is not None:
                return reason
        pos = self.account.qty(symbol)
        remaining = o.qty - o.filled
        if side == "SELL" and product == "CNC" and not spec.allow_short_cnc:
            selling = sum(
                w.qty - w.filled
                for w in self._working.values()
                if w.symbol == symbol and w.side == "SELL" and w.product == "CNC"
            )
            if remaining > pos - selling:
                return (
                    f"insufficient holdings: CNC sell of {remaining} exceeds the "
                    f"{max(pos - selling, 0)} held "
                    f"(no short selling in delivery on {spec.exchange})"
                )
        ref = self.market_price_estimate(symbol, side) if otype == "MARKET" else self._ref_price(o)
        if ref is None:
            return "no market price yet for a market order"
        signed_pos = pos if side == "SELL" else -pos
        # min(remaining, max(signed_pos, 0)): the part that closes a position
        closing = 0 if signed_pos <= 0 else remaining if remaining < signed_pos else signed_pos
        opening = remaining - closing
        avail = self.available_funds() + closing * ref
        model = self.charges
        # a cheap upper bound first; the exact schedule only when the bound does not fit
        need = opening * ref + model.upper_bound(side, product, remaining * ref)
        if need > avail + 1e-9:
            need = opening * ref + model.total(side, product, remaining, ref)
            if need > avail + 1e-9:
                return f"insufficient funds: need {need:.2f}, available {max(avail, 0.0):.2f}"
        o.reserve = (need / remaining) if remaining else 0.0
        return None

    @staticmethod
    def _check_prices(o: _Order, tick: float) -> str | None:
        """The price and trigger rules of LIMIT, SL and SL-M orders (part of ``_check``)."""
        if o.otype in ("LIMIT", "SL"):
            if o.price is None or not o.price > 0:
                return f"{o.otype} order needs a positive price"
            if not _on_tick(o.price, tick):
                return f"price {_num(o.price)} is not a multiple of the tick size {_num(tick)}"
        elif o.price is not None:
            return f"{o.otype} order takes no price"
        if o.otype in ("SL", "SL-M"):
            if o.trigger is None or not o.trigger > 0:
                return f"{o.otype} order needs a positive trigger price"
            if not _on_tick(o.trigger, tick):
                return (
                    f"trigger price {_num(o.trigger)} is not a multiple of the tick size "
                    f"{_num(tick)}"
                )
            if o.otype == "SL" and (
                (o.side == "BUY" and o.price < o.trigger)
                or (o.side == "SELL" and o.price > o.trigger)
            ):
                return "SL limit price must not be beyond its trigger price"
        elif o.trigger is not None:
            return f"{o.otype} order takes no trigger price"
        return None

    def _ref_price(self, o: _Order) -> float | None:
        """The price the funds check assumes the order trades at (worst case of slippage)."""
        otype = o.otype
        if otype == "MARKET":
            return self.market_price_estimate(o.symbol, o.side)
        if otype == "SL-M":
            return self._worst_price(o.trigger, o.side, o.symbol)
        return o.price  # LIMIT, SL

    def market_price_estimate(self, symbol: str, side: Side | str) -> float | None:
        """Return the worst price a market order placed now would fill at (funds, sizing).

        During a bar's open phase that is the open; between bars, the last price. Slippage is
        taken at its maximum and the result rounded to the tick against the taker.
        """
        bar = self._bar
        if bar is not None and self._bar_symbol == symbol:
            base = bar[1]
        else:
            base = self._last_price.get(symbol)
            if base is None:
                return None
        if not self.slippage_bps:  # ``_worst_price`` without slippage: the tick rounding only
            return self._to_tick(base, symbol, side == "BUY")
        return self._worst_price(base, str(side), symbol)

    def _worst_price(self, base: float, side: str, symbol: str) -> float:
        bps = self.slippage_bps
        if side == "BUY":
            return self._to_tick(base * (1 + bps / 1e4) if bps else base, symbol, True)
        return self._to_tick(base * (1 - bps / 1e4) if bps else base, symbol, False)

    def _to_tick(self, p: float, symbol: str, up: bool) -> float:
        """Round a price to the instrument's tick, up or down (float noise tolerated)."""
        inv = self._inv_tick[symbol]
        if inv:
            k = p * inv
            slack = _TICK_SLACK + k * _TICK_SLACK_REL  # _tick_slack, inlined: a hot path
            return (math.ceil(k - slack) if up else math.floor(k + slack)) / inv
        tick = self.instruments[symbol].tick_size
        k = p / tick
        slack = _tick_slack(k)
        k = math.ceil(k - slack) if up else math.floor(k + slack)
        return round(k * tick, self._tick_dec[symbol])

    def available_funds(self) -> float:
        """Cash less 100 % margin on shorts and what working orders reserve."""
        acct = self.account
        avail = acct.cash
        for p in acct.positions.values():
            if p.qty < 0:
                avail += 2 * p.qty * p.last_price
        for w in self._working.values():
            avail -= (w.qty - w.filled) * w.reserve
        return avail

    def _slip(self, price: float, o: _Order, ts: int) -> float:
        """Apply slippage against the taker and round to the tick (buys up, sells down)."""
        bps = self.slippage_bps
        if bps and self.slippage_random:
            key = (self.seed * 0x100000001B3) ^ zlib.crc32(o.oid.encode()) ^ (ts << 20)
            bps *= _mix64(key & 0xFFFFFFFFFFFFFFFF) / 2.0**64
        if o.side == "BUY":
            return self._to_tick(price * (1 + bps / 1e4) if bps else price, o.symbol, True)
        return self._to_tick(price * (1 - bps / 1e4) if bps else price, o.symbol, False)

    def _meet(self, o: _Order, ts: int) -> None:
        if not o.met:
            o.met = True
            if self.calendar is not None:
                o.day = self.calendar.session_day(ts)

    def _match_one(self, o: _Order, ts: int, op: float, hi: float, lo: float) -> None:
        buy = o.side == "BUY"
        if o.otype in ("SL", "SL-M") and not o.triggered:
            t = o.trigger
            if buy:
                hit = op if op >= t else (t if hi >= t else None)
            else:
                hit = op if op <= t else (t if lo <= t else None)
            if hit is None:
                return
            o.triggered = True
            self._apply(o, _TRIGGER, ts, f"triggered at {hit:g}")
            if o.otype == "SL-M":
                self._fill_up_to(o, self._slip(hit, o, ts), ts)
                return
            # SL: now a limit order; marketable at the trigger price if within the limit
            lim = o.price
            if (buy and hit <= lim) or (not buy and hit >= lim):
                self._fill_up_to(o, self._slip_limit(hit, lim, o), ts)
                return
            if (buy and lo < lim) or (not buy and hi > lim):
                self._fill_up_to(o, lim, ts)
            return
        if o.otype == "LIMIT" or (o.otype == "SL" and o.triggered):
            lim = o.price
            if buy:
                if op <= lim:
                    self._fill_up_to(o, self._slip_limit(op, lim, o), ts)
                elif lo < lim:
                    self._fill_up_to(o, lim, ts)
            elif op >= lim:
                self._fill_up_to(o, self._slip_limit(op, lim, o), ts)
            elif hi > lim:
                self._fill_up_to(o, lim, ts)

    def _slip_limit(self, price: float, lim: float, o: _Order) -> float:
        """A limit order filling at a better price than its limit: on the tick, never beyond."""
        if o.side == "BUY":
            return min(self._to_tick(price, o.symbol, True), lim)
        return max(self._to_tick(price, o.symbol, False), lim)

    def _fill_up_to(self, o: _Order, price: float, ts: int) -> None:
        """Fill what the volume budget allows of the order's remainder at ``price``: book it."""
        filled = o.filled
        qty = o.qty - filled
        budget = self._budget
        if qty > budget:
            qty = int(budget)
        if qty <= 0:
            return
        self._budget = budget - qty
        side, symbol, oid = o.side, o.symbol, o.oid
        ch = self.charges.compute(side, o.product, qty, price, o.value)
        o.value = value = o.value + qty * price
        o.filled = filled = filled + qty
        o.avg = avg = value / filled
        o.nfills = nfills = o.nfills + 1
        self.last_fill_realised = self.account.apply_fill(
            symbol, qty if side == "BUY" else -qty, price, ch.total
        )
        self._products[symbol] = o.product
        fill = _new_fill(f"{oid}-{nfills}", oid, o.cid, symbol, _SIDE[side], qty, price, ts, ch)
        if self._on_fill is not None:
            self._on_fill(fill)
        else:
            self._fills.append(fill)
        # %-formatting writes exactly what f"{filled} @ {avg:g}" writes, in half the time
        if filled >= o.qty:
            self._apply(o, _FILL, ts, "filled %s @ %g" % (filled, avg))  # noqa: UP031
            self._working.pop(oid, None)  # as ``_finish``
        else:
            self._apply(o, _FILL_PARTIAL, ts, "filled %s/%s @ %g" % (filled, o.qty, avg))  # noqa: UP031

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
        return self._rows(islice(self._orders.values(), mark, None), make)

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

    def attach(self, events: list[OrderEvent], on_fill: Callable[[Fill], None]) -> None:
        """Send new events into ``events`` and each fill to ``on_fill`` as it happens.

        The engine uses this instead of draining, so its ledger books a fill immediately (the
        stop-and-reverse entry is sized on the cash left after the exit) and events keep their
        order with the engine's own DENIED events.
        """
        self._events = events
        self._on_fill = on_fill

    def detach(self) -> None:
        """Go back to collecting events and fills for ``drain_events``/``drain_fills``."""
        self._events = []
        self._on_fill = None

    # ------------------------------------------------------------------ state

    def to_state(self) -> dict[str, Any]:
        """Return the whole broker as a JSON-safe dict (drain events and fills first).

        Terminal orders beyond the newest ``order_history_limit`` are dropped: the database
        keeps them, and the deterministic client ids of old bars are never sent again.
        """
        keep: list[_Order] = []
        terminal = 0
        for o in reversed(self._orders.values()):
            if o.status in _TERMINAL:
                terminal += 1
                if terminal > self.order_history_limit:
                    continue
            keep.append(o)
        keep.reverse()
        state = {
            "config": {
                "instruments": [i.to_dict() for i in self.instruments.values()],
                "charges": self.charges.to_dict(),
                "slippage_bps": self.slippage_bps,
                "slippage_random": self.slippage_random,
                "volume_share": self.volume_share,
                "seed": self.seed,
                "calendar": self.calendar.to_dict() if self.calendar else None,
                "order_history_limit": self.order_history_limit,
                "id_prefix": self.id_prefix,
            },
            "account": self.account.to_dict(),
            "orders": [o.to_dict() for o in keep],
            "working": list(self._working),
            "products": dict(self._products),
            "seq": self._seq,
            "last_ts": self._last_ts,
            "last_price": dict(self._last_price),
        }
        # only while some working order still waits for a bar after it (rare: manual orders
        # between steps), so a run without any has exactly the state it always had
        after = {oid: t for oid, t in self._after.items() if oid in self._working}
        if after:
            state["after"] = after
        return state

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PaperBroker:
        """Rebuild a broker from ``to_state()`` output (after a JSON round trip)."""
        cfg = state["config"]
        b = cls(
            [InstrumentSpec.from_dict(i) for i in cfg["instruments"]],
            starting_cash=state["account"]["starting_cash"],
            charges=charges_from_dict(cfg["charges"]),
            slippage_bps=cfg["slippage_bps"],
            slippage_random=cfg["slippage_random"],
            volume_share=cfg["volume_share"],
            seed=cfg["seed"],
            calendar=SessionCalendar.from_dict(cfg["calendar"]),
            order_history_limit=cfg["order_history_limit"],
            id_prefix=cfg["id_prefix"],
        )
        b.account = Ledger.from_dict(state["account"])
        for d in state["orders"]:
            o = _Order.from_dict(d)
            b._orders[o.oid] = o
            b._by_cid[o.cid] = o.oid
        b._working = {oid: b._orders[oid] for oid in state["working"]}
        b._products = dict(state["products"])
        b._seq = int(state["seq"])
        b._last_ts = state["last_ts"]
        b._last_price = {k: float(v) for k, v in state["last_price"].items()}
        b._after = {oid: int(t) for oid, t in state.get("after", {}).items()}
        return b
