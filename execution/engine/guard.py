"""The risk side of a run: the gate's checks on an order, DENIED records, the daily-loss halt.

A mixin of ``Engine``.
"""

from __future__ import annotations

import numpy as np

from execution.brokers.base import OrderEvent, OrderRequest
from execution.engine.config import EngineConfig
from execution.engine.orders import OrderStatus
from execution.engine.risk import Denial, OrderIntent, RiskGate
from execution.engine.state import EngineState, OrderRecord


class RiskChecks:
    """Risk checks and halts of ``Engine``."""

    config: EngineConfig
    state: EngineState
    gate: RiskGate
    _check_orders: bool
    _symbol: str
    _events: list[OrderEvent]
    _denials: int

    def _check(self, req: OrderRequest, now_ts: int, open_orders_offset: int = 0) -> Denial | None:
        if not self._check_orders:
            return None
        br = self.state.broker
        ref = br.market_price_estimate(req.symbol, req.side) or br.last_price(req.symbol) or 0.0
        return self.gate.check(
            OrderIntent(
                side=str(req.side),
                quantity=req.quantity,
                order_type=str(req.order_type),
                price=req.price,
                ref_price=float(ref),
                position_qty=self.state.ledger.qty(req.symbol),
                open_orders=br.working_count() + open_orders_offset,
                now_ts=int(now_ts),
            )
        )

    def _deny(self, req: OrderRequest, ts: int, denial: Denial) -> OrderRecord:
        rec = OrderRecord(
            req.client_order_id,
            None,
            req.symbol,
            str(req.side),
            str(req.order_type),
            str(req.product),
            str(req.validity),
            req.quantity,
            req.price,
            req.trigger_price,
            str(OrderStatus.DENIED),
            "",
            denial.message,
            0,
            0,
            0.0,
            ts,
            ts,
            denial.rule,
        )
        self.state.denied[req.client_order_id] = rec.to_dict()
        self._denials += 1
        self._events.append(
            OrderEvent(req.client_order_id, None, OrderStatus.DENIED, "", denial.message, ts, "")
        )
        return rec

    def _halt(self, ts: int, denial: Denial) -> None:
        """Stop trading for good: record why, cancel working orders, drop the pending action."""
        st = self.state
        br = st.broker
        st.halted_reason = f"{denial.rule}: {denial.message}"
        st.pending = False
        br.clock = ts
        try:
            for o in self._working_orders():
                br.cancel_order(o.broker_order_id, reason=f"run halted ({denial.rule})")
        finally:
            br.clock = None

    def _day_ids(self, ts: np.ndarray, start: int) -> np.ndarray:
        cal = self.config.calendar
        offset = cal.day_offset(int(ts[start])) if cal is not None else 0
        return (ts[start:] + offset) // 86400

    def _slow_daily_loss(self, ts: int, day: int, equity: float) -> None:
        st = self.state
        if st.day != day:
            st.day = day
            st.day_start_equity = st.last_equity
        st.last_equity = equity
        denial = self.gate.daily_loss(st.day_start_equity, equity)
        if denial is not None:
            self._halt(ts, denial)

    def _quiet_daily_loss(
        self,
        a: int,
        b: int,
        closes: np.ndarray,
        ts_arr: np.ndarray,
        day_ids: np.ndarray,
        limit: float,
    ) -> int | None:
        """Daily-loss check over bars [a, b) where cash and position are constant.

        Return the index of the bar at which the run halted, if it did.
        """
        st = self.state
        led = st.ledger
        start = len(ts_arr) - len(day_ids)
        eq = led.cash + led.qty(self._symbol) * closes[a:b]
        days = day_ids[a - start : b - start]
        prev_eq = np.empty_like(eq)
        prev_eq[0] = st.last_equity
        prev_eq[1:] = eq[:-1]
        prev_day = np.empty_like(days)
        prev_day[0] = st.day if st.day is not None else days[0] - 1
        prev_day[1:] = days[:-1]
        new_day = days != prev_day
        ref = np.where(new_day, prev_eq, np.nan)
        if not new_day[0]:
            ref[0] = st.day_start_equity
        idx = np.where(~np.isnan(ref), np.arange(len(ref)), 0)
        np.maximum.accumulate(idx, out=idx)
        ref = ref[idx]
        breach = np.flatnonzero(ref - eq >= limit)
        k = int(breach[0]) if len(breach) else len(eq) - 1
        st.day = int(days[k])
        st.day_start_equity = float(ref[k])
        st.last_equity = float(eq[k])
        if len(breach):
            denial = self.gate.daily_loss(st.day_start_equity, st.last_equity)
            if denial is not None:
                self._halt(int(ts_arr[a + k]), denial)
                return a + k
        return None
