"""The engine: one code path for backtests and live paper steps (ARCHITECTURE §2).

Per bar ``i``:

(a) at the open, act on the decision pending from bar ``i-1``'s close with market orders: if the
    position must exit or flip, an exit leg first, filled at this open and booked, then an entry
    leg sized on the funds left after the exit (backtesting.py's stop-and-reverse and all-in
    sizing: ``units = floor(available / (open * (1 + commission)))``);
(b) match every working order against the bar; (c) book the fills; (d) mark to market at the
    close; (e) read the strategy's decision at the close — a value that is not NaN and differs
    from the current target becomes pending for the next open; (f) check the daily-loss limit.

Speed: signals are computed once with numpy and the decision changes found with numpy. Bars
where nothing can trade (no pending decision, no working order) are not visited one by one: cash
and position are constant there, so the equity of those stretches is filled in with numpy at the
end, and a decision bar only records its decision. Only the bar after a decision and bars with
working orders run the Python step above. The cost of a run is therefore set by how often it
trades (some fifteen microseconds per order, everything included), not by the number of bars.
On that per-order path a market leg is placed and filled at the open in one broker call
(``PaperBroker.place_market_at_open``), a fresh run keeps one ledger shared with the broker
(``new_state``), and the GC is kept off the run's many small result objects (``_gc_paused``);
each of these says in its docstring why the outputs are the same.

Client order ids are deterministic, ``f"{prefix}-{bar_ts}-{leg}"`` (leg ``x`` exit, ``e`` entry,
``sq`` final square-off, ``mis`` the daily MIS square-off of ``squareoff``, ``sl``/``tp`` the
stop and target legs of ``bracket``), so re-running a bar can never create a second order for it,
and bars with ``ts <= state.cursor`` are skipped.

Exits (``exits`` in the parameters: stop-loss, target, trailing, time) are the ``Brackets``
mixin's: legs placed after the entry (``_arm_bracket``), hooks at each stepped bar's open and
close, and bars no leg can fill on skipped with numpy (``bracket_skip``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np

from execution.brokers.base import BrokerOrder, Fill, OrderEvent, OrderRequest
from execution.brokers.paper import PaperBroker
from execution.engine.bars import BarSeries
from execution.engine.bracket import Brackets
from execution.engine.closeout import CloseOut
from execution.engine.config import CloseAtEnd, EngineConfig
from execution.engine.exits import ExitRules
from execution.engine.guard import RiskChecks
from execution.engine.manual import ManualOrders, ManualResult, RiskDenied
from execution.engine.orders import OrderType, Side, Validity
from execution.engine.results import RunResults, _gc_paused, _hold
from execution.engine.risk import RiskGate
from execution.engine.squareoff import MisSquareOff, mis_plan
from execution.engine.state import (
    ClosedTrade,
    EngineState,
    EquityCurve,
    RunResult,
    TradeTracker,
)


class SignalSource(Protocol):
    """A strategy type (``strategies.catalog``): vectorised, causal decisions per bar close."""

    @classmethod
    def signals(cls, bars: BarSeries, params: dict[str, Any]) -> np.ndarray: ...


# the engine's legs name their side as the broker records it (plain strings hash and compare
# fast; ``Side`` members go only into what the engine hands out)
_BUY = str(Side.BUY)
_SELL = str(Side.SELL)


def new_state(config: EngineConfig) -> EngineState:
    """Return the state of a run that has processed nothing yet.

    The engine's books are the broker's account itself, one ``Ledger`` object: two ledgers
    would start equal, book exactly the same fills and be marked to the same close at the end
    of every processed bar (the engine reads its books only then), so they would always hold
    the same values, and ``to_dict`` writes the same JSON either way. A state read back with
    ``EngineState.from_dict`` keeps the two ledgers it stored; ``Engine._on_fill`` books a fill
    in the engine's ledger only when it is not the account.
    """
    broker = PaperBroker(
        [config.instrument],
        starting_cash=config.starting_capital,
        charges=config.charges,
        slippage_bps=config.slippage_bps,
        slippage_random=config.slippage_random,
        volume_share=config.volume_share,
        seed=config.seed,
        calendar=config.calendar,
        market_protection_pct=config.market_protection_pct,
    )
    return EngineState(
        ledger=broker.account,
        broker=broker,
        last_equity=config.starting_capital,
    )


class Engine(ManualOrders, RiskChecks, RunResults, MisSquareOff, Brackets, CloseOut):
    """Runs one strategy on one instrument through the risk gate, the paper broker and a ledger.

    Build it from a config, a strategy type and its parameters, and optionally a saved state
    (``EngineState`` or its ``to_dict()``); call ``run(bars)``; save ``result.state.to_dict()``.
    This module holds the bar loop and the strategy's legs; manual orders are in ``manual``,
    risk checks and halts in ``guard``, the assembly of a run's result in ``results``.
    """

    def __init__(
        self,
        config: EngineConfig,
        strategy: SignalSource,
        params: Mapping[str, Any] | None = None,
        state: EngineState | Mapping[str, Any] | None = None,
        *,
        orders: bool = True,
    ):
        """``orders=False``: ``run`` leaves ``RunResult.orders`` empty (a sweep reads only the
        statistics, which never look at the order records, and saves ~3 % of a backtest)."""
        self.config = config
        self._keep_orders = orders
        self.strategy = strategy
        validate = getattr(strategy, "validate_params", None)
        self.params = dict(validate(params)) if validate is not None else dict(params or {})
        self._exits = ExitRules.from_params(self.params)  # bracket legs (``bracket``)
        if state is None:
            state = new_state(config)
        elif not isinstance(state, EngineState):
            state = EngineState.from_dict(dict(state))
        self.state: EngineState = state
        self.gate = RiskGate(config.risk, state.risk_recent)  # mutates the state's list
        self._check_orders = config.risk.any_order_rule
        self._rate_limited = config.risk.max_orders_per_minute is not None
        self._events: list[OrderEvent] = []
        self._fills: list[Fill] = []
        self._trades: list[ClosedTrade] = []
        self._tracker = TradeTracker(state.open_trade)
        self._prefix = config.client_order_prefix
        self._symbol = config.instrument.symbol
        self._product = str(config.product)
        self._denials = 0  # DENIED records made (``_deny``), so a run knows if it made any

    # ------------------------------------------------------------------ backtest / live step

    def run(
        self,
        bars: BarSeries,
        *,
        progress: Callable[[float], None] | None = None,
        close_at_end: CloseAtEnd | None = None,
    ) -> RunResult:
        """Process every bar newer than the cursor; return what changed.

        Signals are computed over all ``bars`` given (the strategy is causal), so a live step
        passes enough history for the indicators to warm up. ``close_at_end`` overrides the
        config's choice for this call (a resumed backtest closes only in its last call).
        """
        with _gc_paused():
            return self._run(bars, progress, close_at_end)

    def _run(
        self,
        bars: BarSeries,
        progress: Callable[[float], None] | None,
        close_at_end: CloseAtEnd | None,
        end_reason: str = "backtest ended",
    ) -> RunResult:
        st = self.state
        br = st.broker
        led = st.ledger
        sym = self._symbol
        self._start_run()
        mode = self.config.close_at_end if close_at_end is None else close_at_end

        n = len(bars)
        ts_arr = bars.ts
        start = 0 if st.cursor is None else int(np.searchsorted(ts_arr, st.cursor, side="right"))
        m = n - start
        if m <= 0:
            empty = EquityCurve(
                ts=np.zeros(0, dtype=np.int64),
                cash=np.zeros(0),
                position=np.zeros(0, dtype=np.int64),
                equity=np.zeros(0),
            )
            return self._result(empty, 0)

        sig = np.asarray(self.strategy.signals(bars, self.params), dtype=np.float64)
        if len(sig) != n:
            raise ValueError(f"strategy returned {len(sig)} signals for {n} bars")
        dec_idx, dec_val = _decision_changes(sig, start, st.target)

        closes = bars.close
        # one bar's values as Python numbers: a memoryview item costs less than float(arr[i])
        ts_at = _items(ts_arr, np.int64)
        opens = _items(bars.open, np.float64)
        highs = _items(bars.high, np.float64)
        lows = _items(bars.low, np.float64)
        closes_at = _items(closes, np.float64)
        vols = _items(bars.volume, np.float64)
        # cash and position at the processed bars (k = bar - start), from the state before them
        at_k = [0]
        at_cash = [led.cash]
        at_qty = [led.qty(sym)]

        limit_loss = self.config.risk.max_daily_loss
        day_ids = self._day_ids(ts_arr, start) if limit_loss is not None else None

        nd = len(dec_idx)
        p = 0
        sq = mis_plan(self.config, ts_arr)  # MIS on an exchange calendar: the daily square-off
        xa = self._exit_at_plan(ts_arr)  # bars at/after the exits' time of day (``bracket``)
        step = max(1, m // 100)
        next_report = start + step
        i = start
        shared = led is br.account  # one book (``new_state``)
        protected = br.market_protection_pct is not None
        # with nothing working now, only orders placed in this run can have events in it
        mark = None if br.has_working() else (br.order_count(), self._denials)
        br.attach(self._events, self._on_fill)
        try:
            while i < n:
                if (
                    not st.pending
                    and not br.has_working()
                    and st.bracket is None
                    and (sq is None or not sq.due[i] or led.qty(sym) == 0)
                ):
                    # Quiet stretch: nothing can trade before the next decision bar (included:
                    # its decision only becomes an order at the following open), nor before
                    # the next square-off bar while a position is held.
                    was_halted = st.halted_reason is not None
                    nxt = n if was_halted or p >= nd else dec_idx[p] + 1
                    if sq is not None and led.qty(sym) != 0:
                        nxt = min(nxt, sq.next_due(i))
                    halt_at = None
                    if day_ids is not None and not was_halted:
                        halt_at = self._quiet_daily_loss(
                            i, nxt, closes, ts_arr, day_ids, limit_loss
                        )
                    if not was_halted and p < nd and nxt == dec_idx[p] + 1:
                        # after a halt the target stays as it was at the halting bar's close
                        changed = dec_val[p] != st.target
                        if halt_at is None or halt_at == nxt - 1:
                            st.target = dec_val[p]
                        p += 1
                        st.pending = changed and st.halted_reason is None
                    i = nxt
                elif (
                    st.bracket is not None
                    and not st.pending
                    and sq is None
                    and day_ids is None
                    and (j := self._bracket_skip(i, dec_idx[p] if p < nd else n, bars)) > i
                ):
                    i = j  # bars no leg can fill on (``bracket_skip``)
                else:
                    # A bar where something can happen: steps (a) to (f) of the docstring.
                    ts = ts_at[i]
                    c = closes_at[i]
                    if protected and i:  # the band of a leg placed at this open: last close
                        br.note_close(sym, closes_at[i - 1])
                    br.begin_bar(sym, ts, opens[i], highs[i], lows[i], c, vols[i])
                    if st.pending and (sq is None or not sq.blocked[i]) and not (xa and xa[i]):
                        self._rebalance(ts)
                    if st.bracket is not None:
                        self._bracket_open(ts, bool(xa and xa[i]))
                    br.match_bar()
                    if st.bracket is not None:
                        self._bracket_close(c)
                    elif protected and self._exits is not None and led.qty(sym) != 0:
                        # an entry market protection turned into a limit filled on this bar
                        # (``_rebalance`` found nothing to protect at the open): arm it now
                        self._arm_bracket(ts)
                    if sq is not None and sq.due[i]:
                        self._mis_square_off(int(sq.due_ts[i]), c)
                    if not shared:  # the broker has marked its account to this close
                        led.mark(sym, c)
                    k = i - start
                    at_k.append(k)
                    at_cash.append(cash := led.cash)
                    at_qty.append(q := led.qty(sym))
                    if p < nd and dec_idx[p] == i:
                        if st.halted_reason is None and dec_val[p] != st.target:
                            st.target = dec_val[p]
                            st.pending = True
                        p += 1
                    if day_ids is not None and st.halted_reason is None:
                        self._slow_daily_loss(ts, int(day_ids[k]), cash + q * c)
                    i += 1
                if progress is not None and i >= next_report:
                    progress((i - start) / m)
                    next_report = i + step

            last = n - 1
            last_ts = int(ts_arr[last])
            br.skip_to(sym, last_ts, float(closes[last]))
            led.mark(sym, float(closes[last]))
            if mode != "none":
                self._close_at_end(
                    mode, last_ts, float(opens[last]), float(closes[last]), end_reason
                )
                at_k.append(m - 1)
                at_cash.append(led.cash)
                at_qty.append(led.qty(sym))
                br.skip_to(sym, last_ts, float(closes[last]))
                led.mark(sym, float(closes[last]))
        finally:
            br.detach()

        cash_arr, qty_arr = _hold(at_k, at_cash, at_qty, m)
        equity = cash_arr + qty_arr * closes[start:]
        if mode != "none":
            equity[-1] = led.equity
        st.cursor = last_ts
        st.bars_processed += m
        if st.bracket is not None:
            self._bracket_live()  # forget a bracket whose position the run's end closed
        st.open_trade = self._tracker.open
        if day_ids is None:
            st.last_equity = float(equity[-1])
        if progress is not None:
            progress(1.0)
        curve = EquityCurve(
            ts=ts_arr[start:].copy(),
            cash=cash_arr,
            position=qty_arr.astype(np.int64),
            equity=equity,
        )
        return self._result(curve, m, mark)

    # ------------------------------------------------------------------ internals

    def _on_fill(self, f: Fill) -> None:
        """Book a fill in the ledger and the round-trip tracker as the broker makes it."""
        st = self.state
        led = st.ledger
        symbol, price = f.symbol, f.price
        signed = f.quantity if f.side == "BUY" else -f.quantity
        total = f.charges.total
        br = st.broker
        if led is br.account:  # the broker has booked it in our books already (``new_state``)
            q0 = led.positions[symbol].qty - signed
            realised = br.last_fill_realised
        else:
            pos = led.positions.get(symbol)
            q0 = pos.qty if pos is not None else 0
            realised = led.apply_fill(symbol, signed, price, total)
        self._tracker.on_fill(symbol, q0, signed, price, total, realised, f.ts, self._trades)
        self._fills.append(f)
        if st.bracket is not None:
            self.on_bracket_fill(f.broker_order_id, led.qty(symbol))

    def _rebalance(self, ts: int) -> None:
        """Turn the pending target into an exit leg and/or an entry leg at this bar's open.

        With ``volume_share`` earlier legs may still be partly open. Those that now trade away
        from the target are cancelled first; those that trade towards it fill first, at this
        open, and an exit leg is sized on the position *net of* their unfilled quantity, so
        the legs together never sell (or buy) more than the position: a long_only run never
        goes short, a long_short one never beyond its target.
        """
        st = self.state
        br = st.broker
        led = st.ledger
        sym = self._symbol
        want = st.target
        if br.has_working():
            self._cancel_legs_against(want, led.qty(sym))
            br.fill_open()  # remainders of earlier market legs go first, at this open
        st.pending = False
        q = led.qty(sym)
        if q != 0 and (want == 0 or (q > 0) != (want > 0)):
            side = _SELL if q > 0 else _BUY
            need = abs(q) - (self._open_legs(side) if br.has_working() else 0)
            if need > 0:
                self._leg(ts, "x", side, need, reduce_only=True)
            q = led.qty(sym)
            if q != 0:
                # exit not done (volume cap, rejection): enter only once flat
                st.pending = any(o.order_type == OrderType.MARKET for o in self._working_orders())
                return
        if want != 0 and q == 0:
            side = _BUY if want > 0 else _SELL
            qty = self._size(side)
            if qty > 0:
                self._leg(ts, "e", side, qty)
                if self._exits is not None:
                    self._arm_bracket(ts)

    def _legs(self) -> list[tuple[str, str, str, int]]:
        """The engine's own market legs still working (not manual orders, not a square-off)."""
        pfx = f"{self._prefix}-"
        return [
            leg
            for leg in self.state.broker.working_market(self._symbol)
            if leg[1].startswith(pfx) and leg[1][-2:] in ("-x", "-e")
        ]

    def _open_legs(self, side: str) -> int:
        """Unfilled quantity of the engine's working market legs on ``side``."""
        return sum(left for _oid, _cid, s, left in self._legs() if s == side)

    def _cancel_legs_against(self, want: float, q: int) -> None:
        """Cancel the engine's working legs that would move the position away from ``want``."""
        if want > 0 or (want == 0 and q < 0):
            towards = _BUY
        elif want < 0 or q > 0:
            towards = _SELL
        else:
            towards = None  # flat and staying flat: every leg is stale
        br = self.state.broker
        for oid, _cid, side, _left in self._legs():
            if side != towards:
                br.cancel_order(oid, reason="superseded by a new decision")

    def _working_orders(self) -> list[BrokerOrder]:
        return self.state.broker.working_orders()

    def _size(self, side: str) -> int:
        """Units for an entry: fixed, or all-in on a share of available funds, in whole lots."""
        cfg = self.config
        if cfg.quantity is not None:
            return int(cfg.quantity)
        br = self.state.broker
        price = br.market_price_estimate(self._symbol, side)
        if price is None or price <= 0:
            return 0
        charges = br.charges
        # the rate bound plus the rounding slack is never below the exact charges, so the order
        # always passes the broker's funds check (for a flat commission this is exactly
        # backtesting.py's floor(available / (price * (1 + commission))))
        avail = br.available_funds() * cfg.allocation_pct / 100.0 - charges.rounding_slack
        if avail <= 0:
            return 0
        rate = charges.rate_bound(side, self._product)
        lot = cfg.instrument.lot_size
        return int(avail // (price + price * rate)) // lot * lot

    def _leg(self, ts: int, leg: str, side: str, qty: int, reduce_only: bool = False) -> None:
        """Send one market leg and fill it at this bar's open, as far as the volume allows.

        The risk gate checks it unless it only reduces the position. Callers have run the
        broker's ``fill_open`` first (or nothing was working), which is what lets the broker
        fill the leg directly (``PaperBroker.place_market_at_open``).
        """
        cid = f"{self._prefix}-{ts}-{leg}"
        if self._check_orders and not reduce_only:
            req = OrderRequest(
                cid,
                self._symbol,
                Side(side),
                OrderType.MARKET,
                qty,
                self.config.product,
                Validity.DAY,
            )
            denial = self._check(req, ts)
            if denial is not None:
                self._deny(req, ts, denial)
                return
        # the request's fields as the broker records them, as plain strings
        self.state.broker.place_market_at_open(cid, self._symbol, side, qty, self._product)
        if self._rate_limited:
            self.gate.record(ts)

    def leg_id(self, ts: int, leg: str) -> str:
        """The client order id of this run's leg ``leg`` at bar ``ts`` (``x``, ``e``, ``sq``)."""
        return f"{self._prefix}-{ts}-{leg}"


def _items(arr: np.ndarray, dtype: type[np.generic]) -> memoryview:
    """``arr`` as a memoryview whose items are Python ints or floats, as ``int(arr[i])`` or
    ``float(arr[i])`` would give them; without a copy when ``arr`` already has that dtype."""
    a = np.asarray(arr)
    if a.dtype != dtype or a.ndim != 1:
        a = a.astype(dtype).reshape(-1)
    return memoryview(a)


# Up to this many bars ``_decision_changes`` reads them in plain Python.
_FEW_BARS = 128


def _decision_changes(sig: np.ndarray, start: int, target: float) -> tuple[list[int], list[float]]:
    """Bars (absolute indices >= start) with a decision that may change the target, and it.

    A decision equal to the one before it is kept unless it repeats ``target`` before any other
    decision: a bracket leg that closes the position sets the target flat mid-run
    (``Brackets.on_bracket_fill``), so a repeated entry (a rule's entry-only side) must still
    reach the loop, which acts on a decision only when it differs from the target then.
    """
    seg = sig[start:]
    if len(seg) <= _FEW_BARS:  # a live or basket step: a loop costs less than numpy's calls
        bars: list[int] = []
        values: list[float] = []
        changed = False
        for j, v in enumerate(seg.tolist()):
            if v != v:
                continue  # NaN: no decision
            if not changed:
                if v == target:
                    continue  # repeats the target before any other decision
                changed = True
            bars.append(j + start)
            values.append(v)
        return bars, values
    idx = np.flatnonzero(~np.isnan(seg))
    if len(idx) == 0:
        return [], []
    vals = seg[idx]
    first = int(np.argmax(vals != target)) if (vals != target).any() else len(vals)
    return (idx[first:] + start).tolist(), vals[first:].tolist()


def run_backtest(
    config: EngineConfig,
    strategy: SignalSource,
    params: Mapping[str, Any] | None,
    bars: BarSeries,
    *,
    progress: Callable[[float], None] | None = None,
) -> RunResult:
    """Run a whole backtest in one call (state in memory, results returned for bulk saving)."""
    return Engine(config, strategy, params).run(bars, progress=progress)


__all__ = [
    "Engine",
    "ManualResult",
    "RiskDenied",
    "SignalSource",
    "_hold",
    "new_state",
    "run_backtest",
]
