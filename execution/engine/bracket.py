"""The engine's bracket legs: stop-loss and target orders placed after an entry fills.

A mixin of ``Engine``. After the entry leg fills at a bar's open (``_arm_bracket``, from
``_rebalance``), the protective legs go to the broker as one order group (``OrderRequest.group``,
one-cancels-other): an SL-M stop ``{prefix}-{ts}-sl`` and a LIMIT target ``{prefix}-{ts}-tp``,
for the quantity filled, priced from the fill price (``execution.engine.exits``) and rounded to
the tick (towards the position's favour: a long's stop and target up, a short's down). They are
placed in the bar's open phase, so they meet the entry bar itself; the stop goes first, so the
broker matches it first. The broker, not this loop, cancels the other leg when one fills and
both when the position is closed by anything else (an exit signal's leg, a square-off).

Per processed bar while a bracket is live: at the open, a time exit that came due at the last
close is sent as a market exit leg (``x``), and DAY legs that expired at a session close are
placed again (``{prefix}-{ts}-sl`` of the renewing bar); at the close the bar is counted, the
trailing stop raised (the broker's ``modify``, ``modify_order`` without its snapshot: the new
trigger applies from the next bar, as backtesting.py's ``TrailingStrategy``), and the time
limit checked. The bracket's own state (``EngineState.bracket``) is JSON, so a live deployment
resumes it between steps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from execution.brokers.base import InvalidOrderState, OrderRejected, OrderRequest
from execution.engine.bars import BarSeries
from execution.engine.bracket_skip import Views, bar_views, skip_to
from execution.engine.config import EngineConfig
from execution.engine.exits import ExitRules, after_exit_at, to_tick
from execution.engine.legs import LEG_ENTRY, LEG_EXIT, LEG_STOP, LEG_TARGET
from execution.engine.orders import OrderType, Side, Validity
from execution.engine.risk import Denial, RiskGate
from execution.engine.state import EngineState, OrderRecord


class Brackets:
    """Stop and target legs of the engine's positions (``EngineState.bracket``)."""

    config: EngineConfig
    state: EngineState
    _exits: ExitRules | None
    _symbol: str
    _product: str  # ``str(config.product)``, as the broker records it
    _exit_at: np.ndarray | None = None
    _views_of: BarSeries | None = None  # the bars ``_views`` reads (``bracket_skip.bar_views``)
    _views: Views | None = None
    leg_id: Callable[[int, str], str]  # ``Engine.leg_id``
    _leg: Callable[..., None]  # ``Engine._leg``
    gate: RiskGate
    _check_orders: bool
    _rate_limited: bool
    _check: Callable[..., Denial | None]  # ``guard.RiskChecks``
    _deny: Callable[[OrderRequest, int, Denial], OrderRecord]

    def _arm_bracket(self, ts: int) -> None:
        """Place the legs protecting the position the entry of bar ``ts`` has just opened."""
        st = self.state
        ex = self._exits
        q = st.ledger.qty(self._symbol)
        if ex is None or q == 0:
            return
        long = q > 0
        entry = st.ledger.positions[self._symbol].avg_price
        b: dict[str, Any] = {
            "group": self.leg_id(ts, LEG_ENTRY),
            "long": long,
            "qty": abs(q),
            "bars": 0,
            "due": False,
            "stop": None,
            "target": None,
            "sl": None,
            "tp": None,
        }
        st.bracket = b
        stop = ex.stop_price(entry, long)
        if stop is not None:
            b["stop"] = self._tick(stop, long)
            b["sl"] = self._place_leg(ts, LEG_STOP)
        target = ex.target_price(entry, long)
        if target is not None:
            b["target"] = self._tick(target, long)
            b["tp"] = self._place_leg(ts, LEG_TARGET)

    def _place_leg(self, ts: int, leg: str) -> str | None:
        """Send the bracket's stop (``sl``) or target (``tp``) leg; return its broker id.

        The leg passes the risk gate like every order before it reaches a broker (a live
        deployment's leaves for a real one): as an order reducing the position only the price
        band applies, so a target further from the market than the band is DENIED (``None``:
        the position keeps its stop) while an SL-M stop, which has no limit price, always goes.
        """
        b = self.state.bracket
        if b is None:  # an invariant, kept under `python -O` too
            raise RuntimeError("a bracket leg without an open bracket")
        stop = leg == LEG_STOP
        side = "SELL" if b["long"] else "BUY"
        price = None if stop else b["target"]
        trigger = b["stop"] if stop else None
        cid = self.leg_id(ts, leg)
        if self._check_orders:
            req = OrderRequest(
                cid,
                self._symbol,
                Side(side),
                OrderType.SLM if stop else OrderType.LIMIT,
                b["qty"],
                self.config.product,
                Validity.DAY,
                price=price,
                trigger_price=trigger,
                group=b["group"],
            )
            denial = self._check(req, ts)
            if denial is not None:
                self._deny(req, ts, denial)
                return None
        # ``submit(OrderRequest(...))`` with the fields as the broker records them
        oid = self.state.broker.submit_leg(
            cid,
            self._symbol,
            side,
            "SL-M" if stop else "LIMIT",
            b["qty"],
            self._product,
            price=price,
            trigger_price=trigger,
            group=b["group"],
        )
        if self._rate_limited:
            self.gate.record(ts)
        return oid

    def on_bracket_fill(self, broker_order_id: str, qty: int) -> None:
        """A stop or target leg that closed the position ends the trade: the target is flat
        again, so the strategy's next entry opens a new one (backtesting.py's "enter when
        flat"), as an entry-only rule's next cross must."""
        b = self.state.bracket
        if b is not None and qty == 0 and broker_order_id in (b["sl"], b["tp"]):
            self._trade_ended(b)

    def _trade_ended(self, b: dict[str, Any]) -> None:
        """Flatten the target the bracket's trade followed; a newer decision (a flip still
        pending) stands."""
        st = self.state
        if st.target != 0 and (st.target > 0) == b["long"]:
            st.target = 0.0

    def _tick(self, price: float, up: bool) -> float:
        return to_tick(price, self.config.instrument.tick_size, up)

    def _bracket_live(self) -> dict[str, Any] | None:
        """The bracket if its position is still open, else forget it (``None``)."""
        st = self.state
        b = st.bracket
        if b is None:
            return None
        q = st.ledger.qty(self._symbol)
        if q == 0 or (q > 0) != b["long"]:
            st.bracket = None
            return None
        return b

    def _exit_at_plan(self, ts: np.ndarray) -> memoryview | None:
        """Which bars open at or after the exits' ``exit_at`` (None without one); kept for
        ``_bracket_skip`` as ``_exit_at``."""
        ex = self._exits
        at = None
        if ex is not None and ex.exit_at is not None:
            at = after_exit_at(ts, ex.exit_at, self.config.calendar)
        self._exit_at = at
        return None if at is None else memoryview(at)

    def _bracket_open(self, ts: int, at_exit_time: bool = False) -> None:
        """At a processed bar's open: a time exit that is due, and expired DAY legs renewed."""
        st = self.state
        b = st.bracket  # ``_bracket_live``, inline: the call costs more than its work here
        if b is None:
            return
        q = st.ledger.qty(self._symbol)
        if q == 0 or (q > 0) != b["long"]:
            st.bracket = None
            return
        br = st.broker
        if b["due"] or at_exit_time:
            br.fill_open()  # as ``_rebalance``: what fills at this open goes first
            q = st.ledger.qty(self._symbol)
            if q != 0:
                self._leg(ts, LEG_EXIT, "SELL" if q > 0 else "BUY", abs(q), reduce_only=True)
            if self.state.ledger.qty(self._symbol) == 0:
                self._trade_ended(b)  # the time exit ended the trade, as a leg's fill does
            self._bracket_live()
            return
        if br.calendar is None:
            return  # without a calendar DAY orders never expire
        for key, leg in (("sl", LEG_STOP), ("tp", LEG_TARGET)):
            oid = b[key]
            if oid is not None and str(br.order_status(oid).status) == "EXPIRED":
                b[key] = self._place_leg(ts, leg)

    def _bracket_close(self, close: float) -> None:
        """At a processed bar's close: count it, trail the stop, check the time limit."""
        st = self.state
        b = st.bracket  # ``_bracket_live``, inline (once per stepped bar of every trade)
        if b is None:
            return
        q = st.ledger.qty(self._symbol)
        long = b["long"]
        if q == 0 or (q > 0) != long:
            st.bracket = None
            return
        ex = self._exits
        if ex is None:
            return
        b["bars"] += 1
        pct = ex.trailing_stop_pct
        if pct is not None and b["sl"] is not None:
            # ``ex.trail(close, long)``, inline. A level a whole tick short of the stop cannot
            # round past it (the stop is on the tick, the rounding monotone, its float noise
            # far below a tick): most closes need no rounding.
            stop = b["stop"]
            tick = self.config.instrument.tick_size
            if long:
                trail = close * (1 - pct / 100)
                near = trail > stop - tick
            else:
                trail = close * (1 + pct / 100)
                near = trail < stop + tick
            if near:
                new = to_tick(trail, tick, long)
                if (new > stop) if long else (new < stop):
                    try:
                        st.broker.modify(b["sl"], trigger_price=new)
                        b["stop"] = new
                    except (InvalidOrderState, OrderRejected):
                        pass  # already triggered (a remainder filling) or refused: keep the old
        limit = ex.max_bars_in_trade
        if limit is not None and b["bars"] >= limit:
            b["due"] = True

    def _bracket_skip(self, i: int, end: int, bars: BarSeries) -> int:
        """The next bar to step while only the bracket is live (``bracket_skip``): ``i`` when
        this one must be stepped, else a later one, the skipped bars' effects applied."""
        st = self.state
        br = st.broker
        b = st.bracket  # ``_bracket_live``, inline
        if b is None:
            return i
        q = st.ledger.qty(self._symbol)
        long = b["long"]
        if q == 0 or (q > 0) != long:
            st.bracket = None
            return i
        ex = self._exits
        if ex is None or b["due"] or br.calendar is not None:
            return i
        stop, target = b["stop"], b["target"]
        legs = (b["sl"] is not None) + (b["tp"] is not None)
        if br.volume_share is not None or br.working_count() != legs:
            return i
        if self._views_of is not bars:  # once per run: the bars as Python floats
            self._views_of, self._views = bars, bar_views(bars)
        lows, highs, _closes = self._views  # type: ignore[misc]
        # half the stretches end at their first bar: ``skip_to``'s first test, before the call
        lo_level, hi_level = (stop, target) if long else (target, stop)
        if (lo_level is not None and lows[i] <= lo_level) or (
            hi_level is not None and highs[i] >= hi_level
        ):
            return i
        at = self._exit_at
        if at is not None:  # the bar at the exit time is stepped
            k = int(np.argmax(at[i:end])) if end > i else 0
            if end > i and at[i + k]:
                end = i + k
        j, raised_at = skip_to(b, ex, bars, i, end, self.config.instrument.tick_size, self._views)
        if j == i:
            return i
        b["bars"] += j - i
        if raised_at is not None:
            level = ex.trail(float(bars.close[raised_at]), b["long"])
            if level is None:  # skip_to reports a raise only where a trailing stop is set
                raise RuntimeError("a trailing raise without a trailing stop")
            br.clock = int(bars.ts[raised_at])  # when bar-by-bar stepping raises it last
            new = self._tick(level, b["long"])
            try:
                br.modify(b["sl"], trigger_price=new)
                b["stop"] = new
            except (InvalidOrderState, OrderRejected):
                pass
            finally:
                br.clock = None
        return j
