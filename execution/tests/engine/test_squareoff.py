"""MIS square-off at 15:20 IST on intraday NSE bars (and none for CNC)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from execution.engine.charges import ZeroCharges
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.feeds import synthetic_bars
from execution.engine.orders import OrderStatus, Product
from execution.engine.runner import Engine
from execution.engine.session import calendar_for, session_only
from execution.engine.squareoff import MisOnDailyBars
from execution.tests.engine.helpers import Scripted, make_bars

IST = ZoneInfo("Asia/Kolkata")
NSE = calendar_for("NSE")
SPEC = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)
# Mon 21 Dec .. Mon 28 Dec 2026: Christmas (Fri 25) and the weekend have no session
TRADING_DAYS = [21, 22, 23, 24, 28]


def ist(d: int, h: int, mi: int, mo: int = 12) -> int:
    return int(datetime(2026, mo, d, h, mi, tzinfo=IST).timestamp())


def nse_bars(step: int = 300):
    raw = synthetic_bars(
        instrument_key="NSE:ACME",
        interval_s=step,
        start_ts=ist(21, 0, 0),
        end_ts=ist(29, 0, 0),
        tick_size=0.05,
    )
    return session_only(raw, NSE)


def config(product: Product, **kw) -> EngineConfig:
    kw.setdefault("quantity", 10)
    return EngineConfig(
        instrument=SPEC,
        starting_capital=1_000_000.0,
        charges=ZeroCharges(),
        product=product,
        calendar=NSE,
        **kw,
    )


def mis_fills(result):
    return [f for f in result.fills if f.client_order_id.endswith("-mis")]


def test_intraday_bars_keep_only_nse_sessions():
    bars = nse_bars()
    days = sorted({datetime.fromtimestamp(int(t), IST).day for t in bars.ts})
    assert days == TRADING_DAYS
    assert len(bars) == 5 * 75  # 09:15 .. 15:25, five-minute bars
    first = datetime.fromtimestamp(int(bars.ts[0]), IST)
    assert (first.hour, first.minute) == (9, 15)


@pytest.mark.parametrize("step", [60, 300, 900])
def test_mis_long_is_squared_off_at_1520_ist_every_day(step):
    bars = nse_bars(step)
    r = Engine(config(Product.MIS), Scripted({0: 1.0})).run(bars)
    sq = mis_fills(r)
    # 15-minute bars have no price at 15:20: the 15:15 bar's close, at 15:30, is the first after
    at = (15, 20) if step < 900 else (15, 30)
    assert [f.ts for f in sq] == [ist(d, *at) for d in TRADING_DAYS]
    for f in sq:
        assert f.side == "SELL" and f.quantity == 10
        # the price at 15:20: the close of the bar that closes at (or across) 15:20
        i = int(np.searchsorted(bars.ts, f.ts, side="left")) - 1
        assert f.price == bars.close[i]
    # every square-off is an order in the log, complete, with its own -mis id
    orders = {o.client_order_id: o for o in r.orders}
    for f in sq:
        assert orders[f.client_order_id].status == OrderStatus.COMPLETE
        assert f.client_order_id == f"bt-{f.ts}-mis"
    # the strategy still wants the position: it is re-entered at each next session's open
    entries = [f.ts for f in r.fills if f.client_order_id.endswith("-e")]
    assert entries[1:] == [ist(d, 9, 15) for d in TRADING_DAYS[1:]]
    # flat from the square-off to the close, every day
    for d in TRADING_DAYS:
        late = (bars.ts >= ist(d, 15, 20)) & (bars.ts < ist(d, 15, 30))
        assert late.any() == (step < 900)
        assert (r.equity.position[late] == 0).all()


def test_mis_short_is_bought_back_and_working_orders_are_cancelled():
    bars = nse_bars()
    eng = Engine(config(Product.MIS), Scripted({0: -1.0}))
    r = eng.run(bars.slice(0, 10))
    placed = eng.submit_order(
        client_order_id="m1-a",
        side="BUY",
        order_type="LIMIT",
        quantity=5,
        price=1.0,
        now_ts=int(bars.ts[9]) + 1,
    )
    r = eng.run(bars)
    sq = mis_fills(r)
    assert [f.ts for f in sq] == [ist(d, 15, 20) for d in TRADING_DAYS]
    assert all(f.side == "BUY" for f in sq)
    cancelled = [o for o in r.orders if o.client_order_id == placed.order.client_order_id]
    assert cancelled and cancelled[0].status == OrderStatus.CANCELLED
    assert "MIS square-off" in cancelled[0].message


def test_no_entry_after_the_square_off_time():
    bars = nse_bars()
    late = int(np.flatnonzero(bars.ts == ist(21, 15, 20))[0])
    r = Engine(config(Product.MIS), Scripted({late: 1.0})).run(bars)
    entries = [f.ts for f in r.fills if f.client_order_id.endswith("-e")]
    assert entries[0] == ist(22, 9, 15)  # not at 15:25 on the 21st


def test_cnc_is_never_squared_off():
    bars = nse_bars()
    r = Engine(config(Product.CNC), Scripted({0: 1.0})).run(bars)
    assert mis_fills(r) == []
    assert r.equity.position[-1] == 10


def test_mis_on_daily_bars_is_refused():
    daily = make_bars([100, 101, 102], t0=ist(21, 0, 0), step=86_400)
    with pytest.raises(MisOnDailyBars, match="intraday"):
        Engine(config(Product.MIS), Scripted({0: 1.0})).run(daily)


@pytest.mark.parametrize("cuts", [(1,), (74, 75, 76, 150), (37, 111, 260, 300, 374)])
def test_live_steps_in_chunks_square_off_exactly_as_one_backtest(cuts):
    """A live deployment runs the engine over the bars closed since its cursor, step by step."""
    bars = nse_bars()
    strategy = Scripted({0: 1.0, 100: -1.0, 200: 0.0, 230: 1.0})
    cfg = config(Product.MIS, allocation_pct=50.0, quantity=None)
    whole = Engine(cfg, strategy).run(bars)
    state, orders, fills = None, {}, []
    for stop in (*cuts, len(bars)):
        r = Engine(cfg, strategy, state=state).run(bars.slice(0, stop))
        state = r.state.to_dict()
        orders.update({o.client_order_id: o for o in r.orders})
        fills += r.fills
    assert [(f.client_order_id, f.ts, f.price, f.quantity) for f in fills] == [
        (f.client_order_id, f.ts, f.price, f.quantity) for f in whole.fills
    ]
    assert orders == {o.client_order_id: o for o in whole.orders}
    assert len(mis_fills(whole)) == len(TRADING_DAYS) - 1  # flat on the 23rd's square-off


def test_new_mis_orders_are_refused_between_the_cut_and_the_close():
    bars = nse_bars()
    eng = Engine(config(Product.MIS), Scripted({}))
    eng.run(bars.slice(0, 70))  # up to 15:05 on the 21st

    def place(cid, ts, product=None):
        return eng.submit_order(
            client_order_id=cid,
            side="BUY",
            order_type="MARKET",
            quantity=1,
            product=product,
            now_ts=ts,
        ).order

    late = place("m-late", ist(21, 15, 22))
    assert (late.status, late.denial_rule) == (OrderStatus.DENIED, "mis_cutoff")
    assert "15:20" in late.message
    assert place("m-cnc", ist(21, 15, 22), product="CNC").status == OrderStatus.OPEN
    assert place("m-early", ist(21, 15, 10)).status == OrderStatus.OPEN
    assert place("m-after", ist(21, 15, 31)).status == OrderStatus.OPEN  # for the next session


def test_a_step_of_one_bar_knows_its_length_from_the_config():
    """A live step may see a single new bar: its length comes from the config, not a guess."""
    bars = synthetic_bars(
        instrument_key="NSE:ACME", interval_s=5, start_ts=ist(21, 15, 18), end_ts=ist(21, 15, 20)
    )
    eng = Engine(config(Product.MIS, bar_seconds=5), Scripted({0: 1.0}))
    eng.run(bars.slice(0, 12))  # 15:18:00-15:18:55: long from 15:18:05
    r = eng.run(bars.slice(12, 13))  # 15:19:00-15:19:05 alone: not the square-off bar
    assert mis_fills(r) == [] and r.equity.position[-1] == 10
    r = eng.run(bars.slice(13))  # the 15:19:55 bar closes at 15:20
    assert [f.ts for f in mis_fills(r)] == [ist(21, 15, 20)]
