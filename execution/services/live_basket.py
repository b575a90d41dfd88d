"""Paper (and live) trading of a basket: one deployment stepping every member in the same step.

A basket deployment (``config["instruments"]``) keeps ONE ``DeploymentState`` row, so its step
has the single-instrument step's properties unchanged: the row lock, the cursor, one transaction
for every member's orders, fills, positions and the equity point (``live.deployments_step``).
What differs is what the row holds, and is kept here:

- ``engine_config``: ``{"basket": capital, "members": [EngineConfig dict, ...], "calendar":
  primary's}``; each member's config carries its cap as starting capital and its own client
  order prefix (``d{pk}m{n}``), as in a basket backtest;
- ``engine_state``: ``{"basket": true, "members": [EngineState dict, ...]}``; each member's
  paper broker names its orders ``PB{n}-...`` so the shared ``PaperOrderRecord`` rows of the
  deployment split by member;
- the bars: every member's feed; a replay releases the union of the members' bar times, one
  per ``seconds_per_bar``, so members without a bar at some time simply skip it.

The members are stepped with ``engine.basket.step_members``: the shared cash pool and the
order in which members size their entries are those of ``run_basket``, so a replay reproduces
the basket's backtest bar for bar. An equity point is the basket's total (capital no member
holds plus each member's equity, a member without a bar then holding its last value).

In live mode (``"mode": "live"`` with a broker account) each member's orders also leave for the
account's broker; ``live_basket_route`` keeps what differs (vendor ids, routing per member, the
broker's positions and equity).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import numpy as np
from django.conf import settings
from django.utils import timezone

from algosaas.errors import DomainError
from execution.engine.bars import BarSeries
from execution.engine.basket import MemberEngine, step_members
from execution.engine.config import EngineConfig
from execution.engine.runner import Engine, new_state
from execution.engine.session import SessionCalendar, session_only
from execution.engine.state import EngineState, EquityCurve, RunResult
from execution.marketdata.sources import ReplaySource, SyntheticSource
from execution.models import (
    DeploymentState,
    EquitySnapshot,
    Feed,
    Instrument,
    LivePhase,
    PaperOrderRecord,
    Position,
)
from execution.selectors import bar_series
from execution.services.bulk import bulk_update_rows
from execution.services.engine_setup import default_charges_model, engine_config
from execution.services.live_basket_route import (
    after_step,
    basket_broker_curve,
    basket_routing,
    is_live,
    mark_member,
    route_member,
    route_member_manual,
)
from execution.services.live_feed import _feed_calendar, _synthetic
from execution.services.live_persist import _dt, _money, _persist, _price
from strategies import catalog
from strategies.models import TIMEFRAME_SECONDS, Deployment, DeploymentStatus

BASKET_FEEDS = (Feed.SYNTHETIC, Feed.NSE_HOURS, Feed.REPLAY)


def is_basket(live: DeploymentState) -> bool:
    """Whether ``live`` steps a basket (its state holds one engine per member)."""
    return "members" in live.engine_config


def _members(deployment: Deployment) -> list[dict[str, Any]]:
    return deployment.config["instruments"]


def _ref(inst: dict[str, Any]) -> Instrument:
    return Instrument(pk=inst["id"], exchange=inst["exchange"], symbol=inst["symbol"])


def _idle(live: DeploymentState) -> float:
    """The capital no member's book holds (caps may add up to less than the capital)."""
    cfg = live.engine_config
    return float(cfg["basket"]) - sum(float(m["starting_capital"]) for m in cfg["members"])


# ----------------------------------------------------------------------------- start


def basket_start_live(
    deployment: Deployment,
    feed: str,
    seconds_per_bar: float | None,
    now: datetime | None,
    live: dict[str, Any] | None = None,
) -> DeploymentState:
    """Create a basket deployment's live state: one engine per member, one cursor.

    On the synthetic feeds or a replay (not on a broker's bars, yet: a 400 naming ``feed``).
    ``live`` (a confirmed live deploy) sends every member's orders to that broker account; each
    member must carry the account's vendor ids (a 400 naming them, ``live_basket_route``).
    """
    snap = deployment.config
    if feed not in BASKET_FEEDS:
        raise DomainError(
            f"A basket trades on the synthetic feeds or a replay, not on {feed!r}, so far.",
            fields={"feed": ["A basket runs on the synthetic feeds or a replay only."]},
        )
    routing = basket_routing(deployment, live)  # checked before anything is created
    stype = catalog.get(snap["strategy_type"])
    interval = TIMEFRAME_SECONDS[snap["timeframe"]]
    configs: list[EngineConfig] = []
    states: list[EngineState] = []
    calendar = None
    for n, inst in enumerate(_members(deployment)):
        msnap = {**snap, "instrument": inst}
        calendar = _feed_calendar(feed, msnap)
        config = engine_config(
            snapshot=msnap,
            capital=deployment.capital * Decimal(inst["allocation_pct"]) / 100,
            charges=default_charges_model(inst["exchange"]),
            prefix=f"d{deployment.pk}m{n}",
            seed=deployment.pk,
            calendar=calendar,
            market_protection_pct=settings.ALGOSAAS["MARKET_PROTECTION_PCT"],
        )
        state = new_state(config)
        state.broker.id_prefix = f"PB{n}-"
        configs.append(config)
        states.append(state)
    now_ts = int((now or timezone.now()).timestamp())
    warmup = max(int(stype.warmup(snap["params"])), 1) * 3 + 10
    primary_calendar = configs[0].calendar
    if feed == Feed.REPLAY:
        spb = float(seconds_per_bar or settings.ALGOSAAS["REPLAY_SECONDS_PER_BAR"])
        histories = [_history(inst, snap, c.calendar) for inst, c in _pairs(snap, configs)]
        firsts = [int(h.ts[0]) for h in histories if len(h)]
        if not firsts:
            raise DomainError(
                "No instrument of this basket has stored bars to replay at this timeframe.",
                fields={"feed": ["No stored bars to replay."]},
            )
        history_start = min(firsts)
        next_due, origin = now_ts + spb, now_ts
        cursor = None
    else:
        source = _synthetic({**snap, "instrument": _members(deployment)[0]}, interval, calendar)
        cursor = source.last_closed_open(now_ts)
        history_start = cursor - source.warmup_span(warmup)
        next_due = source.next_close_after(cursor)
        origin, spb = None, None
    saved = []
    for state in states:
        state.cursor = cursor
        saved.append(state.to_dict(book=False))
    Position.objects.bulk_create(
        [Position(deployment=deployment, instrument=_ref(i)) for i in _members(deployment)]
    )
    return DeploymentState.objects.create(
        deployment=deployment,
        feed=feed,
        interval_s=interval,
        replay_seconds_per_bar=spb,
        replay_origin_ts=origin,
        history_start_ts=history_start,
        engine_config={
            "basket": float(deployment.capital),
            "members": [c.to_dict() for c in configs],
            "calendar": primary_calendar.to_dict() if primary_calendar else None,
        },
        engine_state={"basket": True, "members": saved},
        cursor_ts=cursor,
        next_due_at=_dt(next_due),
        **routing,
    )


def _pairs(snap: dict[str, Any], configs: list[EngineConfig]) -> list[tuple[dict, EngineConfig]]:
    return list(zip(snap["instruments"], configs, strict=True))


def _history(inst: dict[str, Any], snap: dict[str, Any], cal: SessionCalendar | None) -> BarSeries:
    bars = bar_series(instrument=Instrument(pk=inst["id"]), timeframe=snap["timeframe"])
    return session_only(bars, cal)


# ----------------------------------------------------------------------------- feed


class _BasketReplay:
    """The members' stored bars released on one clock: the k-th of their union of bar times
    closes at ``origin + (k + 1) * seconds_per_bar`` (``ReplaySource``'s clock)."""

    def __init__(self, histories: list[BarSeries], origin: int, spb: float):
        self.histories = histories
        union = np.unique(np.concatenate([h.ts for h in histories]))
        z = np.zeros(len(union))
        self.clock = ReplaySource(BarSeries(union, z, z, z, z, z), origin, spb)

    def closed_bars(self, *, since_ts: int, now_ts: int) -> list[BarSeries]:
        k = self.clock.released(now_ts)
        if k == 0:
            return [h.slice(0, 0) for h in self.histories]
        last = int(self.clock.history.ts[k - 1])
        out = []
        for h in self.histories:
            start = int(np.searchsorted(h.ts, since_ts, side="left"))
            stop = int(np.searchsorted(h.ts, last, side="right"))
            out.append(h.slice(min(start, stop), stop))
        return out


class _BasketSynthetic:
    """Every member's synthetic feed; they share the interval and session, so the clock."""

    def __init__(self, sources: list[SyntheticSource]):
        self.sources = sources
        self.clock = sources[0]

    def closed_bars(self, *, since_ts: int, now_ts: int) -> list[BarSeries]:
        return [s.closed_bars(since_ts=since_ts, now_ts=now_ts) for s in self.sources]


def _feeds(live: DeploymentState) -> _BasketReplay | _BasketSynthetic:
    snap = live.deployment.config
    configs = [EngineConfig.from_dict(c) for c in live.engine_config["members"]]
    if live.feed == Feed.REPLAY:
        histories = [_history(inst, snap, c.calendar) for inst, c in _pairs(snap, configs)]
        return _BasketReplay(histories, live.replay_origin_ts, live.replay_seconds_per_bar)
    return _BasketSynthetic(
        [
            _synthetic({**snap, "instrument": inst}, live.interval_s, c.calendar)
            for inst, c in _pairs(snap, configs)
        ]
    )


def basket_source(live: DeploymentState) -> Any:
    """The clock a basket's step and due time follow (``ReplaySource`` or ``SyntheticSource``)."""
    return _feeds(live).clock


# ----------------------------------------------------------------------------- engines


def _engines(live: DeploymentState, *, trading: bool) -> list[Engine]:
    """Each member's engine from its saved state and its working paper orders."""
    from execution.services.live import _NoSignals

    snap = live.deployment.config
    states = live.engine_state["members"]
    books: dict[int, list[dict[str, Any]]] = {}
    if any(s["broker"]["book"]["working"] for s in states):
        rows = PaperOrderRecord.objects.filter(live=live, working=True).order_by("broker_order_id")
        prefixes = {s["broker"]["config"]["id_prefix"]: n for n, s in enumerate(states)}
        for record in rows.values_list("record", flat=True):
            n = prefixes[record["oid"][: record["oid"].index("-") + 1]]
            books.setdefault(n, []).append(record)
    engines: list[Engine] = []
    for n, (cfg, st) in enumerate(zip(live.engine_config["members"], states, strict=True)):
        state = EngineState.from_dict(st, books.get(n, []))
        config = EngineConfig.from_dict(cfg)
        if trading:
            engines.append(
                MemberEngine(
                    config, catalog.get(snap["strategy_type"]), snap["params"], state=state
                )
            )
        else:
            engine = Engine(config, _NoSignals, {}, state=state)
            engine.state.pending = False  # see ``live._engine``
            engines.append(engine)
    return engines


def _save_state(live: DeploymentState, engines: list[Engine]) -> None:
    live.engine_state = {
        "basket": True,
        "members": [e.state.to_dict(book=False) for e in engines],
    }


def _changed(engines: list[Engine]) -> list[dict[str, Any]]:
    return [r for e in engines for r in e.state.broker.changed_records()]


# ----------------------------------------------------------------------------- step


@dataclass
class BasketStep:
    """A basket's step, computed: every member's result and the total curve."""

    members: list[RunResult]
    equity: EquityCurve
    halted_reason: str | None
    closes: list[float | None] | None = None  # each member's last close in the step, if any
    member_closes: list[dict[int, float]] | None = None  # live mode: bar open ts -> close

    @property
    def orders(self) -> list[Any]:
        return [o for r in self.members for o in r.orders]

    @property
    def fills(self) -> list[Any]:
        return [f for r in self.members for f in r.fills]


def basket_advance(live: DeploymentState, now: datetime) -> Any:
    """``live._advance`` for a basket: run every member over its bars closed since the cursor."""
    from execution.services.live import (
        MAX_HISTORY_BARS,
        REPLAY_ENDED,
        StepOutcome,
        _Advance,
        _next_due,
        _replay_ended,
    )

    deployment = live.deployment
    now_ts = int(now.timestamp())
    trading = live.phase == LivePhase.RUNNING and deployment.status == DeploymentStatus.RUNNING
    feeds = _feeds(live)
    clock = feeds.clock
    since = live.history_start_ts
    if isinstance(clock, SyntheticSource):
        since = max(since, clock.last_closed_open(now_ts) - MAX_HISTORY_BARS * live.interval_s)
    bars = feeds.closed_bars(since_ts=since, now_ts=now_ts)
    cursor = live.cursor_ts
    fresh = sorted(
        {int(t) for b in bars for t in (b.ts if cursor is None else b.ts[b.ts > cursor])}
    )
    closing = live.phase == LivePhase.SQUARING_OFF and _replay_ended(live, now_ts, clock)
    if not fresh and not closing:
        live.next_due_at = _next_due(live, clock, now_ts)
        return _Advance(live, StepOutcome(deployment.pk, "idle"))

    engines = _engines(live, trading=trading)
    before = [
        (e.state.ledger.cash, e.state.ledger.equity, e.state.ledger.qty(e._symbol)) for e in engines
    ]
    if closing:
        results = [e.close_out(b, reason=REPLAY_ENDED) for e, b in zip(engines, bars, strict=True)]
    elif trading:
        results = step_members(engines, bars, idle=_idle(live))
    else:  # squaring off: no entries, so the members cannot compete for the pool
        results = [e.run(b) for e, b in zip(engines, bars, strict=True)]
    equity = _total(results, before, _idle(live))
    if closing and not fresh:  # the close is booked on the last bar: one restated point
        equity = EquityCurve(
            equity.ts[-1:], equity.cash[-1:], equity.position[-1:], equity.equity[-1:]
        )
    halted = next((r.halted_reason for r in results if r.halted_reason), None)
    closes = [float(b.close[-1]) if len(b) else None for b in bars]
    step = BasketStep(results, equity, halted, closes)
    if is_live(live):  # its equity is marked on the broker's positions at each member's closes
        step.member_closes = [dict(zip(b.ts.tolist(), b.close.tolist(), strict=True)) for b in bars]
    _save_state(live, engines)
    live.cursor_ts = max(
        [e.state.cursor for e in engines if e.state.cursor is not None], default=cursor
    )
    processed = len(fresh)
    live.steps += 1
    live.bars_processed += processed
    live.failures = 0
    live.last_error = ""
    live.last_step_at = now
    if live.phase == LivePhase.SQUARING_OFF and not any(
        e.state.broker.has_working() for e in engines
    ):
        live.phase = LivePhase.DONE
    live.next_due_at = _next_due(live, clock, now_ts)
    outcome = StepOutcome(deployment.pk, "stepped", processed, len(step.orders), len(step.fills))
    restated = int(equity.ts[-1]) if closing and not fresh and len(equity) else None
    return _Advance(
        live, outcome, step, halted if trading else None, restated, _changed(engines), basket=True
    )


def _total(
    results: list[RunResult],
    before: list[tuple[float, float, int]],
    idle: float,
) -> EquityCurve:
    """The basket's cash and equity at each bar time of the step: each member's value at its
    last bar so far (its value before the step if it has none yet), plus ``idle``."""
    curves = [r.equity for r in results]
    ts = np.unique(np.concatenate([c.ts for c in curves])) if curves else np.zeros(0, np.int64)
    equity = np.full(len(ts), idle)
    cash = np.full(len(ts), idle)
    holding = np.zeros(len(ts), dtype=np.int64)
    for c, (cash0, eq0, qty0) in zip(curves, before, strict=True):
        at = np.searchsorted(c.ts, ts, side="right") - 1
        early = at < 0
        at = np.maximum(at, 0)
        if len(c.ts):
            equity += np.where(early, eq0, c.equity[at])
            cash += np.where(early, cash0, c.cash[at])
            holding += np.where(early, qty0 != 0, c.position[at] != 0)
        else:
            equity += eq0
            cash += cash0
            holding += qty0 != 0
    return EquityCurve(ts=ts, cash=cash, position=holding, equity=equity)


# ----------------------------------------------------------------------------- write


def basket_write(advances: list[Any]) -> None:
    """Write basket steps: each member's orders and position, the total's equity points."""
    if not advances:
        return
    deployment_ids = [a.live.pk for a in advances]
    positions = {
        (p.deployment_id, p.instrument_id): p
        for p in Position.objects.filter(deployment_id__in=deployment_ids)
    }
    updates: list[Position] = []
    points: list[EquitySnapshot] = []
    for adv in advances:
        deployment = adv.live.deployment
        step: BasketStep = adv.result
        closes = step.closes or [None] * len(step.members)
        live_mode = is_live(adv.live)
        for inst, result, close in zip(_members(deployment), step.members, closes, strict=True):
            ref = _ref(inst)
            _persist(deployment, ref, result, source="strategy")
            if live_mode:  # what the member's gate let through leaves now (a refusal fails)
                route_member(adv.live, inst, result.orders, result.events)
            if not len(result.equity):
                continue
            pos = result.state.ledger.position(inst["symbol"])
            row = positions[(deployment.pk, inst["id"])]
            if live_mode:  # quantity, cost, P&L: the broker's fills' own (brokers.order_sync)
                mark = _price(close) if close else row.last_price
                mark_member(row, mark, _dt(result.equity.ts[-1]))
                continue
            row.quantity = pos.qty
            row.average_price = _price(pos.avg_price) if pos.qty else Decimal("0")
            row.realised_pnl = _money(pos.realised_pnl)
            # the member's last close, held or not (the page's last price per member)
            mark = close if close is not None else pos.last_price or None
            row.last_price = _price(mark) if mark else None
            row.updated_at = _dt(result.equity.ts[-1])
            updates.append(row)
        curve = step.equity
        if live_mode:
            after_step(adv.live)
            curve = basket_broker_curve(
                deployment, curve, _members(deployment), step.member_closes or []
            )
        if adv.restated is not None:
            EquitySnapshot.objects.filter(deployment=deployment, ts=_dt(adv.restated)).delete()
        points.extend(
            EquitySnapshot(
                deployment=deployment,
                ts=_dt(curve.ts[i]),
                cash=_money(curve.cash[i]),
                position_value=_money(curve.equity[i] - curve.cash[i]),
                equity=_money(curve.equity[i]),
            )
            for i in range(len(curve))
        )
    bulk_update_rows(
        Position, updates, ["quantity", "average_price", "realised_pnl", "last_price", "updated_at"]
    )
    EquitySnapshot.objects.bulk_create(points, batch_size=2000)


# ----------------------------------------------------------------------------- stop


def basket_stop_live(live: DeploymentState, *, square_off: bool, best_effort: bool = False) -> None:
    """Stop a basket (the caller holds the row lock): cancel every member's working orders;
    with ``square_off``, a market order closing each member's position (filled at the next
    bar's open, in the next step), or at once at the last close if the replay has ended.

    Live mode: the cancels and square-offs go to the broker too; one it refuses is a 502 and
    nothing is written (``best_effort``, a halt: logged, the halt goes on)."""
    from execution.engine.orders import TERMINAL_STATUSES, OrderType, Side
    from execution.services.live import _advance, _replay_ended, _write
    from execution.services.live_persist import _ManualRun, _save_books
    from execution.services.live_stop import _cancel_working

    deployment = live.deployment
    engines = _engines(live, trading=False)
    now = timezone.now()
    now_ts = int(now.timestamp())
    members = _members(deployment)
    runs = []
    for engine in engines:
        runs.append(_cancel_working(engine, now_ts))
    live.phase = LivePhase.DONE
    held = [e.state.ledger.qty(e._symbol) for e in engines]
    ended = square_off and any(held) and _replay_ended(live, now_ts, basket_source(live))
    squaring = False
    for engine, qty, (records, events) in zip(engines, held, runs, strict=True):
        if square_off and qty and not ended:
            res = engine.submit_order(
                client_order_id=engine.leg_id(engine.state.cursor, "sq"),
                side=Side.SELL if qty > 0 else Side.BUY,
                order_type=OrderType.MARKET,
                quantity=abs(qty),
                now_ts=now_ts,
                feed_ts=_feed_now_basket(live, now_ts),
            )
            records.append(res.order)
            events.extend(res.events)
            squaring |= res.order.status not in TERMINAL_STATUSES
    for inst, (records, events) in zip(members, runs, strict=True):
        _persist(deployment, _ref(inst), _ManualRun(records, events, []), source="strategy")
        if is_live(live):
            route_member_manual(live, inst, records, events, best_effort=best_effort)
    _save_state(live, engines)
    _save_books([(live, _changed(engines))])
    if ended:
        live.phase = LivePhase.SQUARING_OFF
        _write([_advance(live, now)], now)  # the close-out a step would make, ends DONE
        return
    if squaring:
        live.phase = LivePhase.SQUARING_OFF
    live.save(update_fields=["engine_state", "phase"])


def _feed_now_basket(live: DeploymentState, now_ts: int) -> int:
    """``live._feed_now`` on the basket's clock: the replayed bar in progress, else wall time."""
    if live.feed != Feed.REPLAY:
        return now_ts
    clock = basket_source(live)
    ts = clock.history.ts
    if len(ts) == 0:
        return now_ts
    return int(ts[min(clock.released(now_ts), len(ts) - 1)])


def refuse_manual(live: DeploymentState) -> None:
    """Manual orders on a basket are not available yet: a 400 naming the field."""
    if is_basket(live):
        raise DomainError(
            "Manual orders on a basket deployment are not available yet.",
            fields={"instrument": ["Manual orders on a basket are not available yet."]},
        )
