"""Manual orders: a user's order, cancel or modification sent to a run between its steps.

A mixin of ``Engine``: the same risk gate and paper broker the run's own legs go through.
"""

from __future__ import annotations

from dataclasses import dataclass

from execution.brokers.base import OrderEvent, OrderNotFound, OrderRequest
from execution.engine.orders import OrderType, Product, Side, Validity
from execution.engine.risk import Denial
from execution.engine.squareoff import mis_cutoff_denial
from execution.engine.state import OrderRecord


class RiskDenied(Exception):
    """Raised when a manual modification is refused by the risk gate (no order is created)."""

    def __init__(self, denial: Denial):
        super().__init__(f"{denial.rule}: {denial.message}")
        self.denial = denial


@dataclass(slots=True)
class ManualResult:
    """What a manual order call produced: the order's record and its new events."""

    order: OrderRecord
    events: list[OrderEvent]


class ManualOrders:
    """``submit_order``, ``cancel_order`` and ``modify_order`` of ``Engine``."""

    def submit_order(
        self,
        *,
        client_order_id: str,
        side: Side | str,
        order_type: OrderType | str,
        quantity: int,
        price: float | None = None,
        trigger_price: float | None = None,
        product: Product | str | None = None,
        validity: Validity | str = Validity.DAY,
        now_ts: int,
        feed_ts: int | None = None,
    ) -> ManualResult:
        """Send a user's order through the risk gate to the paper broker (idempotent on id).

        The order is placed between steps, so it meets only bars that open after ``feed_ts``,
        the feed's time at the call (default ``now_ts``: the synthetic feed stamps bars with
        wall time; a replay passes its own clock): a MARKET order fills at the open of the first
        of them, never at the open of a bar that had started before the order existed, even
        when that bar is still to be processed by the next step. Strategy legs are placed
        inside a bar and are unaffected.
        """
        st = self.state
        br = st.broker
        self._events = []
        if client_order_id in st.denied:
            return ManualResult(OrderRecord.from_dict(st.denied[client_order_id]), [])
        req = OrderRequest(
            client_order_id,
            self._symbol,
            Side(side),
            OrderType(order_type),
            int(quantity),
            Product(product or self.config.product),
            Validity(validity),
            price,
            trigger_price,
        )
        try:
            existing = br.order_by_client_id(client_order_id)
        except OrderNotFound:
            existing = None
        if existing is not None:
            return ManualResult(OrderRecord.from_broker(existing), [])
        denial = None
        if st.halted_reason is not None:
            denial = Denial("halted", f"the run is halted: {st.halted_reason}")
        else:
            feed_now = now_ts if feed_ts is None else feed_ts
            denial = mis_cutoff_denial(self.config, req.product, feed_now) or self._check(
                req, now_ts
            )
        if denial is not None:
            rec = self._deny(req, now_ts, denial)
            return ManualResult(rec, self._take_events())
        br.clock = now_ts
        br.feed_clock = now_ts if feed_ts is None else feed_ts
        try:
            bo = br.place_order(req)
        finally:
            br.clock = br.feed_clock = None
        self.gate.record(now_ts)
        return ManualResult(OrderRecord.from_broker(bo), self._take_events())

    def cancel_order(self, client_order_id: str, *, now_ts: int) -> ManualResult:
        """Cancel a working order by our id (``InvalidOrderState`` if it is final)."""
        br = self.state.broker
        self._events = []
        oid = br.order_by_client_id(client_order_id).broker_order_id
        br.clock = now_ts
        try:
            bo = br.cancel_order(oid)
        finally:
            br.clock = None
        return ManualResult(OrderRecord.from_broker(bo), self._take_events())

    def modify_order(
        self,
        client_order_id: str,
        *,
        now_ts: int,
        quantity: int | None = None,
        price: float | None = None,
        trigger_price: float | None = None,
        feed_ts: int | None = None,
    ) -> ManualResult:
        """Change a working order; ``RiskDenied`` if the new values break a risk rule.

        As for ``submit_order``, the new terms meet only bars that open after ``feed_ts``.
        """
        br = self.state.broker
        self._events = []
        cur = br.order_by_client_id(client_order_id)
        req = OrderRequest(
            client_order_id,
            cur.symbol,
            cur.side,
            cur.order_type,
            int(quantity if quantity is not None else cur.quantity) - cur.filled_quantity,
            cur.product,
            cur.validity,
            price if price is not None else cur.price,
            trigger_price if trigger_price is not None else cur.trigger_price,
        )
        denial = self._check(req, now_ts, open_orders_offset=-1)
        if denial is not None:
            raise RiskDenied(denial)
        br.clock = now_ts
        br.feed_clock = now_ts if feed_ts is None else feed_ts
        try:
            bo = br.modify_order(
                cur.broker_order_id, quantity=quantity, price=price, trigger_price=trigger_price
            )
        finally:
            br.clock = br.feed_clock = None
        return ManualResult(OrderRecord.from_broker(bo), self._take_events())

    def _take_events(self) -> list[OrderEvent]:
        self._events.extend(self.state.broker.drain_events())
        out, self._events = self._events, []
        return out
