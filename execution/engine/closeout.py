"""The end of a run: square off what is still open (mixed into ``Engine``).

A backtest ends with ``close_at_end``; a live feed that has released its last bar (a replay)
ends with ``close_out``. Both cancel what is working and close the position with one
reduce-only market leg ``{prefix}-{ts}-sq``, so a backtest and its replay end alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from execution.engine.orders import OrderType, Side
from execution.engine.results import _gc_paused
from execution.engine.state import EquityCurve, RunResult

if TYPE_CHECKING:
    from execution.brokers.base import BrokerOrder
    from execution.engine.bars import BarSeries
    from execution.engine.config import EngineConfig
    from execution.engine.state import EngineState

_BUY = str(Side.BUY)
_SELL = str(Side.SELL)


class CloseOut:
    """Closing a run's position after its last bar."""

    state: EngineState
    config: EngineConfig
    _symbol: str
    _prefix: str

    def close_out(self, bars: BarSeries, *, reason: str) -> RunResult:
        """Play out a feed that has ended with the last of ``bars``; leave nothing open.

        A live feed that has released its last bar (a replay) never opens another, so no
        working order can fill any more: a market order closing the position would wait for
        ever. Process the bars newer than the cursor as ``run`` does, then cancel what is still
        working (with ``reason``) and close the position at the last bar's close, exactly as
        ``run(bars, close_at_end="close")`` ends a backtest (a reduce-only market leg
        ``{prefix}-{ts}-sq``, charges booked). When every bar has been processed already, the
        close is booked on the last one, and the result's equity curve is that bar again,
        restated after the close (as a backtest's last point is).
        """
        st = self.state
        n = len(bars)
        if n == 0:
            raise ValueError("close_out needs the feed's bars, up to its last")
        last_ts = int(bars.ts[-1])
        if st.cursor is not None and st.cursor > last_ts:
            raise ValueError(f"the cursor {st.cursor} is past the last bar {last_ts}")
        with _gc_paused():
            if st.cursor is None or st.cursor < last_ts:
                return self._run(bars, None, "close", end_reason=reason)
            return self._close_processed(bars, reason)

    def _close_processed(self, bars: BarSeries, reason: str) -> RunResult:
        """``close_out`` when the last bar is the cursor: the end of ``_run``, with no bar left."""
        st = self.state
        br = st.broker
        led = st.ledger
        sym = self._symbol
        self._start_run()
        last_ts = int(bars.ts[-1])
        op, close = float(bars.open[-1]), float(bars.close[-1])
        mark = None if br.has_working() else (br.order_count(), self._denials)
        br.attach(self._events, self._on_fill)
        try:
            self._close_at_end("close", last_ts, op, close, reason)
            br.skip_to(sym, last_ts, close)
            led.mark(sym, close)
        finally:
            br.detach()
        st.open_trade = self._tracker.open
        if st.bracket is not None:
            self._bracket_live()  # the close cancelled its legs
        if self.config.risk.max_daily_loss is None:
            st.last_equity = led.equity
        curve = EquityCurve(
            ts=np.array([last_ts], dtype=np.int64),
            cash=np.array([led.cash]),
            position=np.array([led.qty(sym)], dtype=np.int64),
            equity=np.array([led.equity]),
        )
        return self._result(curve, 0, mark)

    def _close_at_end(
        self, mode: str, ts: int, open_: float, close: float, reason: str = "backtest ended"
    ) -> None:
        """Square off what is still open after the last bar (backtests, ``close_out``).

        A square-off leg of this run still working (a stop's, ``leg_id(ts, "sq")``, that no
        later bar will fill) is not replaced: it fills here, so one order closes the position.
        """
        st = self.state
        br = st.broker
        q = st.ledger.qty(self._symbol)
        keep = [o.broker_order_id for o in self._working_orders() if self._closes(o, q)]
        br.clock = ts
        try:
            for o in self._working_orders():
                if o.broker_order_id not in keep:
                    br.cancel_order(o.broker_order_id, reason=reason)
        finally:
            br.clock = None
        if q == 0:
            return
        price = close if mode == "close" else open_
        br.begin_bar(self._symbol, ts, price, price, price, price, 1e18)
        if keep:
            for oid in keep:
                br.release(oid)
            br.fill_open()
            q = st.ledger.qty(self._symbol)
        if q != 0:
            self._leg(ts, "sq", _SELL if q > 0 else _BUY, abs(q), reduce_only=True)
        br.match_bar()

    def _closes(self, o: BrokerOrder, q: int) -> bool:
        """Whether ``o`` is this run's square-off market leg, reducing position ``q`` to 0 or
        towards it."""
        cid = o.client_order_id
        return (
            q != 0
            and cid.startswith(f"{self._prefix}-")
            and cid.endswith("-sq")
            and o.order_type == OrderType.MARKET
            and str(o.side) == (_SELL if q > 0 else _BUY)
            and o.pending_quantity <= abs(q)
        )
