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
- Market protection (SEBI's rule for API orders; on by default, ``market_protection_pct``):
  a MARKET order fills no worse than its band, the last price when it was placed ± the
  percentage (rounded to the tick inside the band); an SL-M no worse than its trigger ± the
  percentage. A fill that would fall beyond the band does not happen: the order becomes a LIMIT
  at the band (a MODIFY event says so), fills on this bar if the bar trades through it, else
  rests, as Kite and Dhan convert protected orders. ``None`` switches it off (backtests).
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
from collections.abc import Callable, Iterable
from typing import Any

from execution.brokers.base import (
    BrokerAdapter,
    BrokerOrder,
    Fill,
    InsufficientFunds,
    InvalidOrderState,
    OrderEvent,
    OrderRejected,
    OrderRequest,
    PositionView,
)
from execution.brokers.paper_book import (
    _ACCEPT,
    _ACCEPT_STOP,
    _CANCEL,
    _MODIFY,
    _NEXT,
    _REJECT,
    _TERMINAL,
    RAW_STATUS,
    OrderBook,
    _Order,
)
from execution.brokers.paper_funds import FundsChecks, _decimals
from execution.brokers.paper_groups import OrderGroups
from execution.brokers.paper_matching import Matching
from execution.engine.charges import ChargesModel, IndiaEquityCharges, charges_from_dict
from execution.engine.config import InstrumentSpec, SessionCalendar
from execution.engine.ledger import Ledger
from execution.engine.orders import Product

# SEBI's framework has brokers convert API market orders to limits within a protection band
# (Kite's automatic band is a few percent, narrower for dearer stocks); the paper broker models
# one band for all, configurable per deployment (``ALGOSAAS["MARKET_PROTECTION_PCT"]``).
DEFAULT_MARKET_PROTECTION_PCT = 2.0


class PaperBroker(OrderBook, Matching, FundsChecks, OrderGroups, BrokerAdapter):
    """A matching simulator with its own account (cash, positions, charges).

    Its parts are mixins by responsibility: ``OrderBook`` (``paper_book``: records, status
    steps, snapshots and rows), ``Matching`` (``paper_matching``: bars and fills) and
    ``FundsChecks`` (``paper_funds``: placement checks, funds, tick rounding).
    """

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
        market_protection_pct: float | None = DEFAULT_MARKET_PROTECTION_PCT,
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
        self.market_protection_pct = market_protection_pct
        self.account = Ledger(starting_cash)
        self._orders: dict[str, _Order] = {}  # by broker order id, creation order
        self._by_cid: dict[str, str] = {}
        self._working: dict[str, _Order] = {}
        self._products: dict[str, str] = {}
        self._seq = 0
        # the bar being processed (between begin_bar and match_bar), else None
        self._bar: tuple[int, float, float, float, float, float] | None = None
        self._bar_symbol: str | None = None
        self._pre_open: float | None = None  # the last price before the bar in progress
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
        # the records the orders were loaded from (``from_state`` with ``orders``), to tell
        # which changed; and, for a partial load, what the orders it did not load add up to
        self._loaded: dict[str, dict[str, Any]] = {}
        self._partial = False
        self._base_count = 0
        self._base_reserved = 0.0
        self._base_selling: dict[str, int] = {}
        self._tick_dec = {s: _decimals(i.tick_size) for s, i in self.instruments.items()}
        # ticks like 0.05 or 0.01 are 1/n: k / n is then exactly the float of the decimal price
        self._inv_tick = {
            s: (round(1 / i.tick_size) if abs(1 / i.tick_size - round(1 / i.tick_size)) < 1e-9
                else 0)
            for s, i in self.instruments.items()
        }  # fmt: skip

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

    def submit_leg(
        self,
        client_order_id: str,
        symbol: str,
        side: str,
        order_type: str,
        quantity: int,
        product: str,
        *,
        price: float | None = None,
        trigger_price: float | None = None,
        group: str = "",
    ) -> str:
        """``submit`` of a DAY order given as the plain strings ``_new_order`` would make of
        its request (the engine's bracket legs, as ``place_market_at_open`` is its market
        legs': no request object and enums in between). The same checks and events."""
        oid = self._by_cid.get(client_order_id)
        if oid is not None:
            return oid
        return self._admit(
            self._create(
                client_order_id,
                symbol,
                side,
                order_type,
                product,
                "DAY",
                int(quantity),
                None if price is None else float(price),
                None if trigger_price is None else float(trigger_price),
                group,
            )
        )

    def _admit(self, o: _Order) -> str:
        """Run the placement checks on a new order: reject it, or accept it as working."""
        reason = self._check(o)
        if reason is not None:
            self._apply(o, _REJECT, o.created, reason)
        else:
            self._apply(o, _ACCEPT_STOP if o.otype in ("SL", "SL-M") else _ACCEPT, o.created)
            self._working[o.oid] = o
            if o.otype == "MARKET" and self.market_protection_pct is not None:
                self._protect(o)
            if self._bar is None:
                self._hold(o)
        return o.oid

    def _protect(self, o: _Order) -> None:
        """Set a market order's protection band from the last price it was placed at: the
        previous close for an order placed in a bar's open phase (the engine's legs)."""
        in_bar = self._bar is not None and self._bar_symbol == o.symbol
        ref = self._pre_open if in_bar else self._last_price.get(o.symbol)
        if ref:
            o.protect = self._band(ref, o.side, o.symbol)

    def _band(self, ref: float, side: str, symbol: str) -> float:
        """The worst price protection allows around ``ref``, on the tick inside the band."""
        pct = self.market_protection_pct or 0.0
        if side == "BUY":
            return self._to_tick(ref * (1 + pct / 100.0), symbol, False)
        return self._to_tick(ref * (1 - pct / 100.0), symbol, True)

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
        return self._snapshot(
            self.modify(order_id, quantity=quantity, price=price, trigger_price=trigger_price)
        )

    def modify(
        self,
        order_id: str,
        *,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
    ) -> _Order:
        """``modify_order`` without building the snapshot (a trailing stop's hot path, as
        ``submit`` is ``place_order``'s): the same checks, events and errors."""
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
        return o

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

    def holdings(self) -> list[PositionView]:
        """Return the long CNC positions: the paper broker settles at once, so every delivery
        buy it filled is carried over as a holding (a real broker shows it from T+1)."""
        return [p for p in self.positions() if p.product == Product.CNC and p.quantity > 0]

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

    def _now(self) -> int:
        if self._bar is not None:
            return self._bar[0]
        if self.clock is not None:
            return self.clock
        return self._last_ts or 0

    def to_state(self, *, book: bool = True) -> dict[str, Any]:
        """Return the whole broker as a JSON-safe dict (drain events and fills first).

        Terminal orders beyond the newest ``order_history_limit`` are dropped: the database
        keeps them, and the deterministic client ids of old bars are never sent again.

        With ``book=False`` the orders are left out (their driver stores each one apart, from
        ``changed_records``) and the state carries instead what a partial load needs of the
        working orders it does not hold (``_book_summary``).
        """
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
                # only when on, so a state without it reads as it always did
                **(
                    {"market_protection_pct": self.market_protection_pct}
                    if self.market_protection_pct is not None
                    else {}
                ),
            },
            "account": self.account.to_dict(),
        }
        if book:
            keep: list[_Order] = []
            terminal = 0
            for o in reversed(self._orders.values()):
                if o.status in _TERMINAL:
                    terminal += 1
                    if terminal > self.order_history_limit:
                        continue
                keep.append(o)
            keep.reverse()
            state["orders"] = [o.to_dict() for o in keep]
            state["working"] = list(self._working)
        else:
            state["book"] = self._book_summary()
        state["products"] = dict(self._products)
        state["seq"] = self._seq
        state["last_ts"] = self._last_ts
        state["last_price"] = dict(self._last_price)
        # only while some working order still waits for a bar after it (rare: manual orders
        # between steps), so a run without any has exactly the state it always had; without
        # the book, each order's own record carries it (``changed_records``)
        after = {oid: t for oid, t in self._after.items() if oid in self._working}
        if after and book:
            state["after"] = after
        return state

    @classmethod
    def from_state(
        cls,
        state: dict[str, Any],
        orders: Iterable[dict[str, Any]] | None = None,
        *,
        partial: bool = False,
    ) -> PaperBroker:
        """Rebuild a broker from ``to_state()`` output (after a JSON round trip).

        A state written with ``book=False`` takes its orders from ``orders`` (records as
        ``changed_records`` gave them, oldest first): every working one, or with ``partial``
        only those a call will touch (a manual order's), the others then counted from the
        state's summary (``working_count``, ``available_funds``, the CNC sell check).
        """
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
            # a state saved before market protection existed keeps trading without it
            market_protection_pct=cfg.get("market_protection_pct"),
        )
        b.account = Ledger.from_dict(state["account"])
        if "orders" in state:
            for d in state["orders"]:
                o = _Order.from_dict(d)
                b._orders[o.oid] = o
                b._by_cid[o.cid] = o.oid
            b._working = {oid: b._orders[oid] for oid in state["working"]}
        else:
            for d in orders or ():
                o = _Order.from_dict(d)
                b._orders[o.oid] = o
                b._by_cid[o.cid] = o.oid
                b._loaded[o.oid] = d
                if o.status not in _TERMINAL:
                    b._working[o.oid] = o
                    if d.get("after") is not None:
                        b._after[o.oid] = int(d["after"])
            if partial:
                b._partial = True
                b._set_base(state["book"])
        b._products = dict(state["products"])
        b._seq = int(state["seq"])
        b._last_ts = state["last_ts"]
        b._last_price = {k: float(v) for k, v in state["last_price"].items()}
        b._after.update({oid: int(t) for oid, t in state.get("after", {}).items()})
        return b

    def changed_records(self) -> list[dict[str, Any]]:
        """Return the records of the orders created or changed since ``from_state``, oldest
        first: what a driver storing each order apart (``to_state(book=False)``) must write."""
        loaded, after = self._loaded, self._after
        out = []
        for o in self._orders.values():
            d = o.to_dict()
            # the bar time a working order waits for (``_hold``) travels with it
            d["after"] = after.get(o.oid) if o.status not in _TERMINAL else None
            if d != loaded.get(o.oid):
                out.append(d)
        return out


__all__ = ["RAW_STATUS", "PaperBroker"]
