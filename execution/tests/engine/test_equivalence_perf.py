"""Golden outputs: the engine's fast paths must reproduce the recorded runs bit for bit.

The digests in ``golden/engine_runs.json`` were recorded from the engine *before* its per-order
path was optimised. Each scenario hashes, component by component, everything a run exposes:
orders, events, fills (with their charges breakdowns), the equity curve's arrays (dtype and
bytes), round-trip trades, the final ``EngineState.to_dict()`` as JSON, and the broker's public
views. Values are encoded with their exact type name and ``repr`` (floats round-trip exactly), so
a status that became a plain ``str`` instead of an ``OrderStatus``, an ``int`` that became a
``float`` or a float off by one ulp all change a digest.

Scenarios: SMA(10, 20) long_only and long_short with India charges on 200k synthetic bars (the
product's default backtest), RSI and Bollinger with fixed quantities, MIS, 5 bps slippage,
``volume_share`` 0.1 (partial fills), a session calendar (MIS square-off; DAY expiry on CNC; the
MIS run re-recorded when the square-off came) and risk limits including
``max_daily_loss``; live-style steps with the state round-tripped through JSON between them; and
manual LIMIT / SL / SL-M orders with modifications, cancellations, rejections and denials.

To re-record after an *intended* change of behaviour (never to make a failing run pass):
``.venv/bin/python -m execution.tests.engine.test_equivalence_perf --record``.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from execution.brokers.base import Fill, InvalidOrderState, OrderEvent, OrderRejected
from execution.engine.bars import BarSeries
from execution.engine.charges import (
    ZERO_CHARGES,
    ChargesBreakdown,
    FlatCommission,
    IndiaEquityCharges,
    fast_constructor,
)
from execution.engine.config import EngineConfig, InstrumentSpec, SessionCalendar
from execution.engine.feeds import synthetic_bars
from execution.engine.orders import OrderStatus, Product, Side
from execution.engine.risk import RiskLimits
from execution.engine.runner import Engine, RiskDenied, _hold
from execution.engine.state import ClosedTrade
from strategies.catalog import get

GOLDEN = Path(__file__).with_name("golden") / "engine_runs.json"
T0 = 1_704_067_200  # 2024-01-01 00:00 UTC

NSE = InstrumentSpec("SYN", "NSE", tick_size=0.05, lot_size=1, allow_short_cnc=True)
NSE_NO_SHORT = InstrumentSpec("SYN", "NSE", tick_size=0.05, lot_size=1)

_BARS: dict[int, BarSeries] = {}


def bars(n: int) -> BarSeries:
    if n not in _BARS:
        _BARS[n] = synthetic_bars(
            instrument_key="GOLDEN:SYN",
            interval_s=60,
            start_ts=T0,
            end_ts=T0 + 60 * n,
            base_price=1000.0,
            tick_size=0.05,
            seed=7,
        )
    return _BARS[n]


# --------------------------------------------------------------------------- canonical encoding


def digest(x: Any) -> str:
    """SHA-256 of a type-exact text form of an output value.

    ``repr`` is type-exact for what runs return: dataclasses show their class and fields, enum
    members show their class (``<OrderStatus.OPEN: 'OPEN'>`` is not ``'OPEN'``), floats
    round-trip exactly and differ from ints, numpy scalars show as ``np.float64(...)``. Arrays
    are hashed by dtype, shape and bytes.
    """
    h = hashlib.sha256()

    def feed(v: Any) -> None:
        if isinstance(v, np.ndarray):
            h.update(f"ndarray({v.dtype},{v.shape})".encode())
            h.update(np.ascontiguousarray(v).tobytes())
        elif isinstance(v, list) and v and isinstance(v[0], (list, np.ndarray)):
            h.update(b"[")
            for item in v:
                feed(item)
            h.update(b"]")
        else:
            h.update(repr(v).encode())
        h.update(b";")

    feed(x)
    return h.hexdigest()[:24]


def run_record(r) -> dict[str, Any]:
    """Everything a ``RunResult`` shows, as data to hash."""
    br = r.state.broker
    return {
        "orders": r.orders,
        "events": r.events,
        "fills": r.fills,
        "equity": [r.equity.ts, r.equity.cash, r.equity.position, r.equity.equity],
        "trades": r.trades,
        "meta": [r.bars_processed, r.halted_reason],
        "state": json.dumps(r.state.to_dict()),
        "broker": [br.positions(), br.funds(), br.orders()],
    }


def manual_record(m) -> dict[str, Any]:
    return {"order": m.order, "events": m.events}


# --------------------------------------------------------------------------- scenarios


def backtest(cfg: EngineConfig, key: str, params: dict, n: int, with_progress=False):
    seen: list[float] = []
    r = Engine(cfg, get(key), params).run(bars(n), progress=seen.append if with_progress else None)
    out = run_record(r)
    out["progress"] = seen
    return [out]


def sma_india(mode: str) -> Callable[[], list]:
    def scenario():
        cfg = EngineConfig(
            instrument=NSE,
            starting_capital=1e9,
            allocation_pct=100.0,
            product=Product.MIS,
            charges=IndiaEquityCharges(),
            close_at_end="close",
        )
        return backtest(cfg, "sma_crossover", {"fast": 10, "slow": 20, "mode": mode}, 200_000,
                        with_progress=True)  # fmt: skip

    return scenario


def rsi_risky():
    cfg = EngineConfig(
        instrument=NSE,
        starting_capital=2_000_000.0,
        quantity=400,
        product=Product.MIS,
        charges=IndiaEquityCharges(),
        slippage_bps=5.0,
        volume_share=0.1,
        risk=RiskLimits(
            max_order_quantity=1000,
            max_position_value=400 * 745.0,
            max_open_orders=3,
            max_orders_per_minute=2,
            max_daily_loss=25_000.0,
        ),
        close_at_end="last_open",
    )
    params = {"period": 14, "oversold": 30.0, "overbought": 70.0, "mode": "long_short"}
    return backtest(cfg, "rsi_reversion", params, 50_000)


def bollinger_calendar(product: Product = Product.MIS) -> Callable[[], list]:
    """MIS: squared off at 15:20 each session day (working remainders cancelled then); CNC:
    partial remainders live on and expire at the 15:30 close (DAY)."""
    return lambda: _bollinger_calendar(product)


def _bollinger_calendar(product: Product) -> list:
    cfg = EngineConfig(
        instrument=NSE,
        starting_capital=1_000_000.0,
        quantity=600,
        product=product,
        charges=IndiaEquityCharges(),
        slippage_bps=5.0,
        slippage_random=True,
        seed=11,
        volume_share=0.1,
        calendar=SessionCalendar(),
        risk=RiskLimits(max_order_value=700_000.0, max_daily_loss=1e7, price_band_pct=5.0),
        close_at_end="close",
    )
    return backtest(cfg, "bollinger_reversion", {"period": 20, "width": 2.0,
                                                 "mode": "long_short"}, 6_000)  # fmt: skip


def rsi_halts():
    """A tight daily-loss limit: the run halts part-way (quiet-stretch or stepped check)."""
    cfg = EngineConfig(
        instrument=NSE,
        starting_capital=500_000.0,
        quantity=300,
        product=Product.MIS,
        charges=IndiaEquityCharges(),
        slippage_bps=5.0,
        volume_share=0.1,
        risk=RiskLimits(max_daily_loss=400.0),
        close_at_end="close",
    )
    params = {"period": 9, "oversold": 35.0, "overbought": 65.0, "mode": "long_only"}
    return backtest(cfg, "rsi_reversion", params, 20_000)


def cnc_no_short():
    """CNC long_short on NSE: every short entry is REJECTED by the broker; flat commission."""
    cfg = EngineConfig(
        instrument=NSE_NO_SHORT,
        starting_capital=100_000.0,
        allocation_pct=80.0,
        product=Product.CNC,
        charges=FlatCommission(0.1),
        close_at_end="close",
    )
    return backtest(cfg, "sma_crossover", {"fast": 5, "slow": 30, "mode": "long_short"}, 20_000)


def steps(cfg: EngineConfig, key: str, params: dict, n: int, cuts: list[int], manual=None):
    """Live-style steps: each over the bars so far, the state through JSON in between."""
    out: list[Any] = []
    state = None
    ends = [*cuts, n]
    for k, end in enumerate(ends):
        eng = Engine(cfg, get(key), params, state=state)
        last = k == len(ends) - 1
        r = eng.run(bars(n).slice(0, end), close_at_end="close" if last else "none")
        out.append(run_record(r))
        if manual is not None and not last:
            out.append(manual(eng, k, float(bars(n).close[end - 1]), int(bars(n).ts[end - 1])))
        state = json.loads(json.dumps(eng.state.to_dict()))
    return out


def sma_steps():
    cfg = EngineConfig(
        instrument=NSE,
        starting_capital=1e7,
        allocation_pct=100.0,
        product=Product.MIS,
        charges=IndiaEquityCharges(),
        slippage_bps=5.0,
        close_at_end="none",
    )
    cuts = [997, 2500, 2501, 7000, 11_111, 15_000]
    return steps(cfg, "sma_crossover", {"fast": 10, "slow": 20, "mode": "long_short"}, 20_000,
                 cuts)  # fmt: skip


def _tick(x: float) -> float:
    return round(round(x / 0.05) * 0.05, 2)


def manual_orders(eng: Engine, k: int, last: float, ts: int) -> list:
    """LIMIT, SL, SL-M orders; a modification, a cancellation, bad ticks, denials, repeats."""
    out: list[Any] = []
    now = ts + 30

    def call(fn, *a, **kw):
        try:
            out.append(manual_record(fn(*a, **kw)))
        except (RiskDenied, InvalidOrderState, OrderRejected) as e:
            out.append([type(e).__name__, str(e)])

    p = f"m{k}"
    call(eng.submit_order, client_order_id=f"{p}-lb", side="BUY", order_type="LIMIT",
         quantity=20, price=_tick(last * 0.998), now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-ls", side="SELL", order_type="LIMIT",
         quantity=15, price=_tick(last * 1.003), now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-slm", side="SELL", order_type="SL-M",
         quantity=10, trigger_price=_tick(last * 0.997), now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-sl", side="BUY", order_type="SL",
         quantity=10, price=_tick(last * 1.004), trigger_price=_tick(last * 1.002),
         now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-mkt", side="BUY", order_type="MARKET",
         quantity=5, product="CNC", validity="IOC", now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-tick", side="BUY", order_type="LIMIT",
         quantity=5, price=round(last * 0.99, 2) + 0.01, now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-band", side="BUY", order_type="LIMIT",
         quantity=5, price=_tick(last * 0.8), now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-big", side="BUY", order_type="LIMIT",
         quantity=5000, price=_tick(last * 0.99), now_ts=now)  # fmt: skip
    call(eng.submit_order, client_order_id=f"{p}-lb", side="BUY", order_type="LIMIT",
         quantity=20, price=_tick(last * 0.998), now_ts=now)  # fmt: skip
    call(eng.modify_order, f"{p}-lb", now_ts=now + 1, quantity=25, price=_tick(last * 0.999))
    call(eng.modify_order, f"{p}-ls", now_ts=now + 1, price=_tick(last * 1.5))
    call(eng.cancel_order, f"{p}-slm", now_ts=now + 2)
    call(eng.cancel_order, f"{p}-slm", now_ts=now + 3)
    if k:
        call(eng.cancel_order, f"m{k - 1}-ls", now_ts=now + 4)
        call(eng.modify_order, f"m{k - 1}-sl", now_ts=now + 4, trigger_price=_tick(last * 1.001))
    return out


def manual_steps():
    cfg = EngineConfig(
        instrument=NSE,
        starting_capital=1_000_000.0,
        quantity=50,
        product=Product.MIS,
        charges=IndiaEquityCharges(),
        slippage_bps=5.0,
        volume_share=0.1,
        risk=RiskLimits(
            max_order_quantity=1000, price_band_pct=5.0, max_open_orders=12, max_orders_per_minute=6
        ),
        client_order_prefix="d7",
        close_at_end="none",
    )
    cuts = [300, 420, 421, 700, 1200, 1500]
    return steps(cfg, "sma_crossover", {"fast": 10, "slow": 20, "mode": "long_short"}, 2_000,
                 cuts, manual=manual_orders)  # fmt: skip


SCENARIOS: dict[str, Callable[[], list]] = {
    "sma_10_20_long_only_india_200k": sma_india("long_only"),
    "sma_10_20_long_short_india_200k": sma_india("long_short"),
    "rsi_qty_mis_slip_volume_risk": rsi_risky,
    "bollinger_calendar_random_slip": bollinger_calendar(),
    "bollinger_calendar_cnc_day_expiry": bollinger_calendar(Product.CNC),
    "rsi_daily_loss_halt": rsi_halts,
    "sma_cnc_no_short_flat": cnc_no_short,
    "sma_live_steps_json": sma_steps,
    "manual_limit_sl_slm_steps": manual_steps,
}


def summarise(runs: list) -> dict[str, Any]:
    """Per component digests over all calls of a scenario, plus counts for a readable diff."""
    comps: dict[str, list] = {}
    for run in runs:
        if isinstance(run, dict):
            for k, v in run.items():
                comps.setdefault(k, []).append(v)
        else:
            comps.setdefault("manual", []).append(run)
    out: dict[str, Any] = {k: digest(v) for k, v in sorted(comps.items())}
    out["counts"] = {
        k: sum(len(x) for x in comps.get(k, []))
        for k in ("orders", "events", "fills", "trades")
        if k in comps
    }
    return out


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_engine_reproduces_the_golden_runs(name):
    expected = json.loads(GOLDEN.read_text())[name]
    got = summarise(SCENARIOS[name]())
    assert got["counts"] == expected["counts"]
    assert got == expected


def test_the_scenarios_exercise_the_rare_paths():
    """The fixture is only as good as what it covers: partial fills, halts, rejections..."""
    golden = json.loads(GOLDEN.read_text())
    assert set(golden["_coverage"]["statuses"]) >= {
        "CANCELLED", "COMPLETE", "DENIED", "EXPIRED", "OPEN", "PARTIALLY_FILLED", "PENDING",
        "REJECTED", "TRIGGER_PENDING",
    }  # fmt: skip
    assert golden["_coverage"]["halted"] >= 1


# --------------------------------------------------------------------------- fast-path helpers


def test_fast_constructors_build_the_same_objects():
    events = [
        ("c", "PB1", OrderStatus.OPEN, "OPEN", "", 1, "ACCEPT"),
        ("c", None, OrderStatus.DENIED, "", "no", 2, "", {"k": 1}),
        ("c", "PB1", OrderStatus.PENDING, "PUT ORDER REQ RECEIVED", "order received", 3),
    ]
    for args in events:
        a, b = OrderEvent(*args), fast_constructor(OrderEvent)(*args)
        assert type(a) is type(b) and a == b and repr(a) == repr(b)
        assert a.payload is not None or hash(a) == hash(b)
    ch = ChargesBreakdown(1.0, 2.0, 0.5, 0.01, 0.0, 0.27, 3.78)
    make = fast_constructor(ChargesBreakdown)
    assert make(1.0, 2.0, 0.5, 0.01, 0.0, 0.27, 3.78) == ch
    assert make(1.0, 2.0, total=3.0) == ChargesBreakdown(1.0, 2.0, total=3.0)
    assert make() == ChargesBreakdown() and make().total == 0.0
    fill = ("PB1-1", "PB1", "c", "SYN", Side.BUY, 10, 100.5, 7)
    assert fast_constructor(Fill)(*fill) == Fill(*fill)
    assert fast_constructor(Fill)(*fill).charges is ZERO_CHARGES
    assert fast_constructor(Fill)(*fill, ch).charges is ch
    trade = ("SYN", -5, 1, 2, 100.0, 99.0, 5.0, 0.2, 4.8, 0.96)
    assert repr(fast_constructor(ClosedTrade)(*trade)) == repr(ClosedTrade(*trade))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast_constructor(ClosedTrade)(*trade).pnl = 0.0  # type: ignore[misc]


@pytest.mark.parametrize(
    "risk",
    [RiskLimits(), RiskLimits(max_orders_per_minute=1)],  # flips: the entry leg is denied
    ids=["nothing-denied", "denials"],
)
@pytest.mark.parametrize("volume_share", [None, 0.02])
def test_the_orders_of_a_run_are_those_its_events_name(risk, volume_share):
    # a fresh run reads its orders from the broker's mark; the general way names them from the
    # events (first event first): both must give the same rows, also across resumed steps
    cfg = EngineConfig(instrument=NSE, starting_capital=1e6, allocation_pct=50.0,
                       product=Product.MIS, volume_share=volume_share, risk=risk)  # fmt: skip
    params = {"fast": 3, "slow": 8, "mode": "long_short"}
    series = bars(3_000)
    state = None
    statuses = set()
    for stop in (1_000, 1_001, 2_200, 3_000):
        eng = Engine(cfg, get("sma_crossover"), params, state)
        res = eng.run(series.slice(0, stop))
        general = eng._result(res.equity, res.bars_processed).orders
        assert [o.to_dict() for o in res.orders] == [o.to_dict() for o in general]
        statuses.update(o.status for o in res.orders)
        state = res.state.to_dict()
    assert "COMPLETE" in statuses
    if volume_share is None:  # (with it, a partial exit delays the entry past the minute)
        assert ("DENIED" in statuses) == (risk.max_orders_per_minute is not None)


def test_fast_constructor_builds_subclasses_of_slotted_bases_field_by_field():
    # a slotted base has its own layout, so no plain twin fits: each slot is set on its own
    @dataclasses.dataclass(frozen=True, slots=True)
    class Base:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Child(Base):
        y: str = "d"

    make = fast_constructor(Child)
    assert make is not Child and make.__globals__["_twin"] is None
    assert make(1) == Child(1) and type(make(1)) is Child
    assert repr(make(1, "e")) == repr(Child(1, "e"))
    assert fast_constructor(OrderEvent).__globals__["_twin"] is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        make(1).y = "z"  # type: ignore[misc]


def test_fast_constructor_falls_back_to_the_class_when_it_cannot_help():
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        x: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class PostInit:
        x: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        x: list = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(slots=True)
    class Mutable:
        x: int

    for cls in (NoSlots, PostInit, Factory, Mutable, int):
        assert fast_constructor(cls) is cls


def test_a_run_pauses_the_gc_and_restores_it():
    cfg = EngineConfig(instrument=NSE, starting_capital=1e6, allocation_pct=100.0)
    params = {"fast": 3, "slow": 8, "mode": "long_only"}
    seen = []
    assert gc.isenabled()
    Engine(cfg, get("sma_crossover"), params).run(
        bars(500), progress=lambda _: seen.append(gc.isenabled())
    )
    assert gc.isenabled() and seen and not any(seen)
    gc.disable()
    try:  # a caller that paused the GC keeps it paused
        Engine(cfg, get("sma_crossover"), params).run(bars(500))
        assert not gc.isenabled()
    finally:
        gc.enable()
    frozen = [object()]  # noqa: F841 - something to freeze
    gc.freeze()
    try:  # a pre-fork freeze stays in effect, even after a big run
        before = gc.get_freeze_count()
        Engine(cfg, get("sma_crossover"), {"fast": 10, "slow": 20}).run(bars(200_000))
        # Still frozen (an unfreeze would make it 0). A frozen object may still die: the
        # contextvars node that numpy's errstate (inside pandas' rolling mean) replaces is one.
        assert before - 8 <= gc.get_freeze_count() <= before
        assert before > 8
    finally:
        gc.unfreeze()


def _hold_as_before(at_k, at_cash, at_qty, m):
    """The engine's former way: NaN-initialised arrays written at each record, forward-filled."""
    cash_arr = np.full(m, np.nan)
    qty_arr = np.full(m, np.nan)
    for k, c, q in zip(at_k, at_cash, at_qty, strict=True):
        cash_arr[k] = c
        qty_arr[k] = q
    idx = np.where(~np.isnan(cash_arr), np.arange(m), 0)
    np.maximum.accumulate(idx, out=idx)
    return cash_arr[idx], qty_arr[idx]


@pytest.mark.parametrize("seed", range(200))
def test_hold_fills_the_quiet_bars_as_the_nan_arrays_did(seed):
    rng = np.random.default_rng(seed)
    m = int(rng.integers(1, 60))
    ks = np.sort(rng.integers(0, m, int(rng.integers(0, 2 * m + 1))))
    at_k = [0, *ks.tolist()]
    if rng.random() < 0.3:
        at_k.append(m - 1)  # the close at the end rewrites the last bar
    at_cash = rng.normal(1e5, 1e3, len(at_k)).tolist()
    at_qty = rng.integers(-500, 500, len(at_k)).tolist()
    for j in rng.integers(0, len(at_k), int(rng.integers(0, 3))):
        at_cash[j] = float("nan")
    got = _hold(at_k, at_cash, at_qty, m)
    want = _hold_as_before(at_k, at_cash, at_qty, m)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert g.tobytes() == w.tobytes()


def _record() -> None:
    data: dict[str, Any] = {}
    statuses: set[str] = set()
    halted = 0
    for name, fn in SCENARIOS.items():
        runs = fn()
        for run in runs:
            if isinstance(run, dict):
                statuses.update(str(e.status) for e in run["events"])
                halted += run["meta"][1] is not None
            else:
                for m in run:
                    if isinstance(m, dict):
                        statuses.update(str(e.status) for e in m["events"])
        data[name] = summarise(runs)
        print(name, data[name]["counts"])
    data["_coverage"] = {"statuses": sorted(statuses), "halted": halted}
    GOLDEN.parent.mkdir(exist_ok=True)
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    print(data["_coverage"])


if __name__ == "__main__":
    if sys.argv[1:] == ["--record"]:
        _record()
    else:
        print(__doc__)


@pytest.mark.parametrize("seed", range(100))
def test_a_short_step_reads_the_decisions_a_long_run_reads(seed):
    """``_decision_changes`` loops in plain Python over a step's few bars and uses numpy over
    more: the bars and targets it finds must not depend on which of the two read them."""
    from execution.engine import runner

    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 2 * runner._FEW_BARS))
    sig = np.full(n, np.nan)
    decided = rng.random(n) < rng.random()
    sig[decided] = rng.choice([-1.0, 0.0, 1.0], int(decided.sum()))
    start = int(rng.integers(0, n + 1))
    target = float(rng.choice([-1.0, 0.0, 1.0]))
    got = runner._decision_changes(sig, start, target)
    few = runner._FEW_BARS
    try:
        runner._FEW_BARS = -1  # numpy for any length
        want = runner._decision_changes(sig, start, target)
    finally:
        runner._FEW_BARS = few
    assert got == want
    assert [type(x) for part in got for x in part] == [type(x) for part in want for x in part]
