"""Assembling what an engine run returns: its orders, events, fills, trades and curve.

A mixin of ``Engine`` (the loop is in ``runner``), with the helpers that turn the values the
loop recorded at processed bars into per-bar arrays, and the GC pause a run holds.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import pairwise
from operator import attrgetter

import numpy as np

from execution.brokers.base import Fill, OrderEvent
from execution.engine.state import (
    ClosedTrade,
    EngineState,
    EquityCurve,
    OrderRecord,
    RunResult,
    TradeTracker,
)

_CLIENT_ORDER_ID = attrgetter("client_order_id")


class RunResults:
    """The output collections of one run and the ``RunResult`` built from them."""

    state: EngineState
    _events: list[OrderEvent]
    _fills: list[Fill]
    _trades: list[ClosedTrade]
    _tracker: TradeTracker
    _denials: int
    _keep_orders: bool

    def _start_run(self) -> None:
        """Fresh collections for one run's output; the tracker resumes the open round trip."""
        self._events = []
        self._fills = []
        self._trades = []
        self._tracker = TradeTracker(self.state.open_trade)

    def _result(self, curve: EquityCurve, m: int, mark: tuple[int, int] | None = None) -> RunResult:
        """Collect the run's output. ``mark``: the broker's ``order_count()`` and ``_denials``
        when the run began, given only if no order was working then."""
        st = self.state
        self._events.extend(st.broker.drain_events())
        events = self._events
        br = st.broker
        if not self._keep_orders:
            return self._run_result([], curve, m)
        # every order with an event in this run, in the order of its first event
        if mark is not None and mark[1] == self._denials:
            # Nothing was working when the run began and nothing was denied in it, so every
            # event is a broker's event of an order placed in the run (only working orders
            # change, and none can work again once final), and each order's first event is the
            # PENDING its placement records: the orders placed since the mark, in their order.
            return self._run_result(br.order_rows_since(mark[0], OrderRecord), curve, m)
        cids = dict.fromkeys(map(_CLIENT_ORDER_ID, events))
        denied = st.denied
        if denied.keys().isdisjoint(cids.keys()):  # all at the broker: rows in one pass
            orders = br.order_rows(cids, OrderRecord)
        else:
            orders = [
                OrderRecord.from_dict(denied[cid])
                if cid in denied
                else OrderRecord(*br.order_row(cid))
                for cid in cids
            ]
        return self._run_result(orders, curve, m)

    def _run_result(self, orders: list[OrderRecord], curve: EquityCurve, m: int) -> RunResult:
        st = self.state
        return RunResult(
            orders=orders,
            events=self._events,
            fills=self._fills,
            equity=curve,
            trades=self._trades,
            state=st,
            bars_processed=m,
            halted_reason=st.halted_reason,
        )


# A run that leaves at least this many new objects (a backtest: a handful per order) moves them
# to the oldest GC generation when it ends (``_gc_paused``).
_PROMOTE_AFTER = 50_000


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC during a run; then move a big run's objects to the oldest generation.

    Every order leaves a handful of small objects (events, fills, records) that live as long as
    the run's result. With the GC on, young collections would rescan all of them again and
    again for nothing, so it is paused. When it resumes, the next two young collections would
    still scan each of them once more before it reaches the oldest generation; after a big run
    ``gc.freeze()`` followed by ``gc.unfreeze()`` moves every tracked object there at once (the
    documented effect of ``unfreeze``), which skips only those two scans: cyclic garbage is
    still found by the next full collection. Small runs (live steps) leave the GC's
    generations alone, and so does a run when the caller had paused the GC or something is
    frozen (a pre-fork ``gc.freeze()`` must stay in effect).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if gc.get_count()[0] >= _PROMOTE_AFTER and gc.get_freeze_count() == 0:
            gc.freeze()
            gc.unfreeze()
        gc.enable()


def _hold(
    at_k: list[int], at_cash: list[float], at_qty: list[int], m: int
) -> tuple[np.ndarray, np.ndarray]:
    """Cash and position for each of ``m`` bars from the values recorded at processed bars.

    Cash and position only change on processed bars, so a bar holds the values of the last
    record at or before it. ``at_k`` is non-decreasing and starts with 0 (the state before the
    run); of several records at one ``k`` the last counts, and a record with a NaN cash counts
    only at ``k == 0`` — exactly what a full NaN-initialised array written at each record and
    forward-filled over its NaNs gives, without the per-bar arrays.
    """
    if len(at_k) <= _FEW:
        return _hold_few(at_k, at_cash, at_qty, m)
    k = np.asarray(at_k, dtype=np.int64)
    cash = np.asarray(at_cash, dtype=np.float64)
    qty = np.asarray(at_qty, dtype=np.float64)
    keep = np.empty(len(k), dtype=bool)
    np.not_equal(k[1:], k[:-1], out=keep[:-1])
    keep[-1] = True
    keep &= (k == 0) | ~np.isnan(cash)
    k = k[keep]
    # ``np.diff(k, append=m)``, spelled out: its generic path costs more than the work on the
    # short records of a live step or a basket's step
    lengths = np.empty_like(k)
    np.subtract(k[1:], k[:-1], out=lengths[:-1])
    lengths[-1] = m - k[-1]
    return cash[keep].repeat(lengths), qty[keep].repeat(lengths)


# Up to this many records (a live step, a basket's step), ``_hold`` picks them in plain Python:
# a dozen numpy calls on a handful of values cost more than the loop.
_FEW = 16


def _hold_few(
    at_k: list[int], at_cash: list[float], at_qty: list[int], m: int
) -> tuple[np.ndarray, np.ndarray]:
    """``_hold`` of a few records: the same records kept (the last at each ``k``; a NaN cash
    only at ``k == 0``), the same arrays."""
    n = len(at_k)
    ks: list[int] = []
    cs: list[float] = []
    qs: list[int] = []
    for j in range(n):
        k = at_k[j]
        if j + 1 < n and at_k[j + 1] == k:
            continue  # a later record at the same bar counts
        c = at_cash[j]
        if k != 0 and c != c:
            continue  # a NaN cash counts only at k == 0
        ks.append(k)
        cs.append(c)
        qs.append(at_qty[j])
    ks.append(m)
    lengths = [b - a for a, b in pairwise(ks)]
    return (
        np.array(cs, dtype=np.float64).repeat(lengths),
        np.array(qs, dtype=np.float64).repeat(lengths),
    )
