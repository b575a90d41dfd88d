"""A basket: one strategy over several instruments, each with its own book, on shared capital.

Each member is an ordinary ``Engine`` (its own signals, orders, position, broker and ledger)
whose book starts with its *cap*: ``capital * allocation_pct / 100``. The capital is shared:
the cash not held in any position is one pool, and an entry may use no more than the member's
own available funds **and** the pool's free cash::

    pool free = capital - sum(caps) + sum(available funds of every member)

so a member's limit is its own funds less the pool's shortfall, ``max(0, -(capital - sum(caps)
+ the others' available funds))``, reserved on its broker for the entry (``MemberEngine``).
With caps adding up to 100 % or less (an equal split) the others' term is never negative and
each member trades exactly as it would alone on its cap; caps adding up to more let the members
compete for the capital, first come first served.

Bars are aligned by timestamp: the members are stepped together in time, up to each member's
next possible entry (the bar after a decision to enter), so that when it sizes an entry at bar
time ``T`` every other member has processed its bars before ``T`` (and those earlier in the
basket's order at ``T`` too, that bar included). An instrument with no bar at ``T`` simply does
not trade then. Stepping an engine in several calls gives exactly the single call's output
(what a live deployment relies on), the signals are computed once per member (they are
causal), and a member that cannot trade or move its funds before ``T`` is not stepped at all.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.config import CloseAtEnd, EngineConfig
from execution.engine.results import _gc_paused
from execution.engine.runner import Engine, SignalSource, _decision_changes
from execution.engine.squareoff import mis_plan
from execution.engine.state import ClosedTrade, EquityCurve, OrderRecord, RunResult
from execution.engine.stats import compute_stats

_NEVER = math.inf


class _Presignalled:
    """A member's signals, computed once over all its bars; a prefix of bars gets the prefix."""

    def __init__(self, sig: np.ndarray):
        self.sig = sig

    def signals(self, bars: BarSeries, params: dict[str, Any]) -> np.ndarray:
        return self.sig[: len(bars)]


class MemberEngine(Engine):
    """An engine whose entries are limited by the basket's free cash as well as its own."""

    shortfall: Callable[[MemberEngine], float] | None = None

    def _rebalance(self, ts: int) -> None:
        short = 0.0 if self.shortfall is None else self.shortfall(self)
        if short <= 0.0:
            super()._rebalance(ts)
            return
        br = self.state.broker
        before = br._base_reserved  # the pool's shortfall is reserved like unloaded orders'
        br._base_reserved = before + short
        try:
            super()._rebalance(ts)
        finally:
            br._base_reserved = before


@dataclass
class BasketResult:
    """A basket run: each member's result on its own bars, and the basket's total."""

    capital: float
    caps: list[float]
    members: list[RunResult]
    equity: EquityCurve  # on the union of the members' bar times; position = members holding
    trades: list[ClosedTrade]  # every member's, by exit time then basket order

    @property
    def total_charges(self) -> float:
        return sum(m.state.ledger.total_charges for m in self.members)


class _Member:
    __slots__ = ("bars", "chunks", "dec_idx", "engine", "funds", "k", "last", "mis", "n")

    def __init__(self, engine: MemberEngine, bars: BarSeries, dec_idx: list[int]):
        self.engine = engine
        self.bars = bars
        self.n = len(bars)
        self.last = self.n - 1  # events step up to it; the final call processes the last bar
        self.k = 0  # bars processed
        self.dec_idx = dec_idx
        self.mis = mis_plan(engine.config, bars.ts)
        self.chunks: list[RunResult] = []
        # its broker's available funds and position, read once after each of its runs (only
        # a run changes them; every other member's entry asks for them)
        self.funds: tuple[float, Any] | None = None

    def run(self, bars: BarSeries, close_at_end: CloseAtEnd | None) -> None:
        """Run its engine over ``bars`` (those after its cursor) and keep the chunk."""
        self.funds = None
        self.chunks.append(self.engine.run(bars, close_at_end=close_at_end))
        self.funds = None

    def advance(self, p: int) -> None:
        """Process bars ``[k, p)``, leaving any position open."""
        p = min(p, self.last)
        if p > self.k:
            self.run(self.bars.slice(0, p), "none")
            self.k = p

    def funds_at(self, t: int) -> float:
        """Its available funds at bar time ``t`` (before that bar) if it is not stepped there:
        a quiet member's only change is a short's margin, which follows the last close."""
        if self.funds is None:
            st = self.engine.state
            self.funds = (
                st.broker.available_funds(),
                st.ledger.positions.get(self.engine._symbol),
            )
        avail, pos = self.funds
        if pos is not None and pos.qty < 0:
            p = int(np.searchsorted(self.bars.ts, t, side="left"))
            if p > self.k:
                avail += 2 * pos.qty * (float(self.bars.close[p - 1]) - pos.last_price)
        return avail

    def due(self) -> float:
        """The bar time from which this member must be stepped before another's entry: its
        next bar while it could trade or move its funds, else the bar after its next decision
        (``_NEVER`` when nothing is left before the final call)."""
        if self.k >= self.last:
            return _NEVER
        st = self.engine.state
        ts = self.bars.ts
        if st.pending or st.bracket is not None or self.mis is not None or st.broker.has_working():
            return float(ts[self.k])
        q = bisect_left(self.dec_idx, self.k)
        if q >= len(self.dec_idx) or self.dec_idx[q] + 1 >= self.last:
            return _NEVER
        return float(ts[self.dec_idx[q] + 1])


def basket_total_stats(result: BasketResult, capital: float) -> dict[str, Any]:
    """The basket's statistics: its total curve and every member's trades on ``capital`` (what
    a basket backtest stores, a sweep scores and a walk-forward's windows report)."""
    return compute_stats(
        equity=result.equity.equity,
        ts=result.equity.ts,
        position=result.equity.position,
        trades=result.trades,
        starting_capital=capital,
        total_charges=result.total_charges,
    )


def run_basket(
    members: Sequence[tuple[EngineConfig, BarSeries]],
    strategy: SignalSource,
    params: Mapping[str, Any] | None,
    *,
    capital: float,
    progress: Callable[[float], None] | None = None,
    close_at_end: CloseAtEnd | None = None,
    aligned: bool | None = None,
) -> BasketResult:
    """Run ``strategy`` over every member's bars on ``capital`` shared by all.

    Each member's config carries its instrument, its cap as ``starting_capital`` and a client
    order prefix of its own; the other settings (sizing, charges, risk) apply per member.

    ``aligned=None`` takes a shortcut when it gives the same result: with caps adding up to no
    more than the capital, the pool can only fall short through a member whose available funds
    are negative, which only a short position (its margin moving with the price) makes. So the
    members are first run one by one, and only if one of them ever held a short is the basket
    run again stepped in time. ``True`` always steps in time (tests compare the two).
    """
    if not members:
        raise ValueError("a basket needs at least one member")
    validate = getattr(strategy, "validate_params", None)
    params = dict(validate(params)) if validate is not None else dict(params or {})
    caps = [float(cfg.starting_capital) for cfg, _ in members]
    idle = float(capital) - sum(caps)  # capital no member's book holds

    signals = []
    for cfg, bars in members:
        if len(bars) < 1:
            raise ValueError(f"{cfg.instrument.symbol}: no bars")
        sig = np.asarray(strategy.signals(bars, params), dtype=np.float64)
        if len(sig) != len(bars):
            raise ValueError(f"strategy returned {len(sig)} signals for {len(bars)} bars")
        signals.append(sig)

    results = None
    if not aligned and idle >= 0:
        results = []
        for (cfg, bars), sig in zip(members, signals, strict=True):
            results.append(
                MemberEngine(cfg, _Presignalled(sig), params).run(bars, close_at_end=close_at_end)
            )
            if progress is not None:
                progress(0.5 * len(results) / len(members))
        if any(bool((r.equity.position < 0).any()) for r in results):
            results = None  # a short may have drained the pool: step in time
    if results is None:
        results = _run_aligned(members, signals, params, idle, progress, close_at_end)
    if progress is not None:
        progress(1.0)
    return BasketResult(
        capital=float(capital),
        caps=caps,
        members=results,
        equity=_total_curve(results, caps, float(capital)),
        trades=sorted(
            (t for r in results for t in r.trades),
            key=lambda t: t.exit_ts,
        ),
    )


def _run_aligned(
    members: Sequence[tuple[EngineConfig, BarSeries]],
    signals: list[np.ndarray],
    params: dict[str, Any],
    idle: float,
    progress: Callable[[float], None] | None,
    close_at_end: CloseAtEnd | None,
) -> list[RunResult]:
    """Step the members together in bar time, up to each possible entry (the module's doc).

    A heap keeps each member's *due* time: before another member's entry at ``T``, only the
    members due before ``T`` (that could trade or move their funds there) are stepped.
    """
    books: list[_Member] = []
    events: list[tuple[int, int, int]] = []  # (bar time, member, bar index) of possible entries
    for n, ((cfg, bars), sig) in enumerate(zip(members, signals, strict=True)):
        dec_idx, dec_val = _decision_changes(sig, 0, 0.0)
        books.append(_Member(MemberEngine(cfg, _Presignalled(sig), params), bars, dec_idx))
        events.extend(_entries(n, bars, dec_idx, dec_val, 0))
    return _step_aligned(books, events, idle, progress, close_at_end)


def _entries(
    n: int, bars: BarSeries, dec_idx: list[int], dec_val: list[float], k: int
) -> list[tuple[int, int, int]]:
    """Member ``n``'s possible entries at bar index ``k`` or later: (bar time, n, index)."""
    ts = bars.ts
    return [
        (int(ts[d + 1]), n, d + 1)
        for d, v in zip(dec_idx, dec_val, strict=True)
        if v != 0 and k <= d + 1 < len(bars)
    ]


def step_members(
    engines: Sequence[MemberEngine], bars: Sequence[BarSeries], *, idle: float
) -> list[RunResult]:
    """Resume member engines (saved states) over their bars so far, stepped together in time.

    A live basket's step: each member's ``bars`` hold its history and the bars closed since
    its cursor; its engine processes only those newer than its cursor, exactly as
    ``run_basket`` would have processed them in one run (same entries, same order), because
    the events and due times are those of the whole run from the cursor on. ``idle`` is the
    capital no member's book holds.
    """
    books: list[_Member] = []
    events: list[tuple[int, int, int]] = []
    for n, (engine, b) in enumerate(zip(engines, bars, strict=True)):
        if len(b):
            sig = np.asarray(engine.strategy.signals(b, engine.params), dtype=np.float64)
        else:
            sig = np.zeros(0)
        if len(sig) != len(b):
            raise ValueError(f"strategy returned {len(sig)} signals for {len(b)} bars")
        engine.strategy = _Presignalled(sig)
        dec_idx, dec_val = _decision_changes(sig, 0, 0.0)
        member = _Member(engine, b, dec_idx)
        cursor = engine.state.cursor
        member.k = 0 if cursor is None else int(np.searchsorted(b.ts, cursor, side="right"))
        books.append(member)
        events.extend(_entries(n, b, dec_idx, dec_val, member.k))
    return _step_aligned(books, events, idle, None, None)


def _step_aligned(
    books: list[_Member],
    events: list[tuple[int, int, int]],
    idle: float,
    progress: Callable[[float], None] | None,
    close_at_end: CloseAtEnd | None,
) -> list[RunResult]:
    """``_stepped`` with the GC paused for the whole stepping, as one run pauses it
    (``results._gc_paused``): between the members' thousands of short runs it would otherwise
    scan their growing output again and again."""
    with _gc_paused():
        return _stepped(books, events, idle, progress, close_at_end)


def _stepped(
    books: list[_Member],
    events: list[tuple[int, int, int]],
    idle: float,
    progress: Callable[[float], None] | None,
    close_at_end: CloseAtEnd | None,
) -> list[RunResult]:
    events.sort()
    now = [0]  # the bar time of the entry being sized

    def shortfall(me: MemberEngine) -> float:
        # ``idle + sum(b.funds_at(t) for the others)``, the same additions in the same order,
        # a member's funds read from its cache without the call when it holds no short
        t = now[0]
        total = 0
        for b in books:
            if b.engine is me:
                continue
            funds = b.funds
            if funds is None or (funds[1] is not None and funds[1].qty < 0):
                total += b.funds_at(t)
            else:
                total += funds[0]
        others = idle + total
        return -others if others < 0 else 0.0

    for b in books:
        b.engine.shortfall = shortfall

    version = [0] * len(books)
    heap = [(b.due(), j, 0) for j, b in enumerate(books)]
    heapq.heapify(heap)

    def refresh(j: int) -> None:
        version[j] += 1
        due = books[j].due()
        if due != _NEVER:
            heapq.heappush(heap, (due, j, version[j]))

    step = max(1, len(events) // 100)
    for e, (t, n, idx) in enumerate(events):
        while heap and heap[0][0] < t:
            _due, j, v = heapq.heappop(heap)
            if v == version[j]:
                b = books[j]
                b.advance(int(np.searchsorted(b.bars.ts, t, side="left")))
                refresh(j)
        now[0] = t
        books[n].advance(idx + 1)
        refresh(n)
        if progress is not None and e % step == 0:
            progress(0.95 * e / max(1, len(events)))
    for b in books:
        b.run(b.bars, close_at_end)
    return [_merge(b) for b in books]


def _merge(b: _Member) -> RunResult:
    """One member's chunks as one run's result (an order keeps its latest record)."""
    chunks = b.chunks
    orders: dict[str, OrderRecord] = {}
    for c in chunks:
        for o in c.orders:
            orders[o.client_order_id] = o
    curves = [c.equity for c in chunks if len(c.equity)] or [chunks[-1].equity]
    equity = EquityCurve(
        ts=np.concatenate([c.ts for c in curves]),
        cash=np.concatenate([c.cash for c in curves]),
        position=np.concatenate([c.position for c in curves]),
        equity=np.concatenate([c.equity for c in curves]),
    )
    # a run restates its last processed bar after the close at the end: keep the last value
    keep = np.ones(len(equity.ts), dtype=bool)
    keep[:-1] = equity.ts[1:] != equity.ts[:-1]
    if not keep.all():
        equity = EquityCurve(
            equity.ts[keep], equity.cash[keep], equity.position[keep], equity.equity[keep]
        )
    last = b.chunks[-1]
    return RunResult(
        orders=list(orders.values()),
        events=[ev for c in chunks for ev in c.events],
        fills=[f for c in chunks for f in c.fills],
        equity=equity,
        trades=[t for c in chunks for t in c.trades],
        state=last.state,
        bars_processed=sum(c.bars_processed for c in chunks),
        halted_reason=last.halted_reason,
    )


def _total_curve(
    results: Sequence[RunResult], caps: Sequence[float], capital: float
) -> EquityCurve:
    """The basket's equity and cash on the union of bar times: each member holds its last
    value between its own bars (its cap before its first), plus the capital no book holds."""
    ts = np.unique(np.concatenate([r.equity.ts for r in results]))
    idle = capital - sum(caps)
    equity = np.full(len(ts), idle)
    cash = np.full(len(ts), idle)
    holding = np.zeros(len(ts), dtype=np.int64)
    for r, cap in zip(results, caps, strict=True):
        c = r.equity
        at = np.searchsorted(c.ts, ts, side="right") - 1
        before = at < 0
        at = np.maximum(at, 0)
        equity += np.where(before, cap, c.equity[at])
        cash += np.where(before, cap, c.cash[at])
        holding += np.where(before, 0, c.position[at] != 0)
    return EquityCurve(ts=ts, cash=cash, position=holding, equity=equity)
