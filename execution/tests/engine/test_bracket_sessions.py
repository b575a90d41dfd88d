"""Bracket legs on an exchange calendar: DAY legs renewed each session, MIS square-off."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np

from execution.engine.bars import BarSeries
from execution.engine.charges import ZeroCharges
from execution.engine.config import EngineConfig, InstrumentSpec
from execution.engine.orders import Product
from execution.engine.runner import Engine
from execution.engine.session import calendar_for
from execution.tests.engine.helpers import Scripted

IST = ZoneInfo("Asia/Kolkata")
SPEC = InstrumentSpec("ACME", "NSE", tick_size=0.05, lot_size=1)


def ist(d: int, h: int, mi: int) -> int:
    return int(datetime(2026, 12, d, h, mi, tzinfo=IST).timestamp())


def bars_at(times: list[int], rows: list[tuple[float, float, float, float]]) -> BarSeries:
    a = np.asarray(rows, dtype=float)
    return BarSeries(np.asarray(times, dtype=np.int64), a[:, 0].copy(), a[:, 1].copy(),
                     a[:, 2].copy(), a[:, 3].copy(), np.full(len(a), 1e6))  # fmt: skip


def run(times, rows, product=Product.CNC):
    cfg = EngineConfig(instrument=SPEC, starting_capital=100_000.0, quantity=10,
                       charges=ZeroCharges(), calendar=calendar_for("NSE"), product=product,
                       bar_seconds=300)  # fmt: skip
    exits = {"stop_loss_pct": 2, "target_pct": 4}
    return Engine(cfg, Scripted({0: 1}), {"exits": exits}).run(bars_at(times, rows))


QUIET = (100, 100.5, 99.5, 100)


def test_day_legs_expire_at_the_close_and_are_placed_again_next_session():
    # Mon 21 Dec: entry at 15:00; Tue 22 Dec: the stop fills at 09:20
    times = [ist(21, 14, 55), ist(21, 15, 0), ist(21, 15, 5), ist(22, 9, 15), ist(22, 9, 20)]
    r = run(times, [QUIET, QUIET, QUIET, QUIET, (99, 99, 97, 98)])
    by_cid = {o.client_order_id: o for o in r.orders}
    day1, day2 = f"bt-{ist(21, 15, 0)}", f"bt-{ist(22, 9, 15)}"
    assert by_cid[f"{day1}-sl"].status == by_cid[f"{day1}-tp"].status == "EXPIRED"
    assert by_cid[f"{day2}-sl"].trigger_price == 98.0 and by_cid[f"{day2}-tp"].price == 104.0
    assert (by_cid[f"{day2}-sl"].status, by_cid[f"{day2}-tp"].status) == ("COMPLETE", "CANCELLED")
    assert [(f.client_order_id, f.price) for f in r.fills][-1] == (f"{day2}-sl", 98.0)


def test_the_mis_square_off_cancels_the_legs_and_the_next_entry_gets_new_ones():
    times = [ist(21, 15, 5), ist(21, 15, 10), ist(21, 15, 15), ist(21, 15, 20), ist(22, 9, 15)]
    r = run(times, [QUIET] * 5, product=Product.MIS)
    day1, day2 = f"bt-{ist(21, 15, 10)}", f"bt-{ist(22, 9, 15)}"
    by_cid = {o.client_order_id: o for o in r.orders}
    assert by_cid[f"bt-{ist(21, 15, 20)}-mis"].status == "COMPLETE"
    for leg in ("sl", "tp"):
        assert (by_cid[f"{day1}-{leg}"].status, by_cid[f"{day1}-{leg}"].message) == (
            "CANCELLED",
            "MIS square-off",
        )
    # the target is still long: the next session enters again, with legs of its own
    assert by_cid[f"{day2}-e"].status == "COMPLETE"
    assert (by_cid[f"{day2}-sl"].status, by_cid[f"{day2}-tp"].status) == ("TRIGGER_PENDING", "OPEN")
    assert r.state.bracket is not None and r.state.bracket["group"] == f"{day2}-e"


def run_exit_at(times, rows, decisions, exits):
    cfg = EngineConfig(instrument=SPEC, starting_capital=100_000.0, quantity=10,
                       charges=ZeroCharges(), calendar=calendar_for("NSE"), product=Product.MIS,
                       bar_seconds=300)  # fmt: skip
    return Engine(cfg, Scripted(decisions), {"exits": exits}).run(bars_at(times, rows))


def test_exit_at_closes_at_the_first_bar_at_that_time_and_blocks_entries_until_the_next_day():
    times = [ist(21, 14, 50), ist(21, 14, 55), ist(21, 15, 0), ist(21, 15, 5), ist(22, 9, 15)]
    rows = [QUIET, QUIET, (100.3, 100.5, 99.5, 100), QUIET, (100.1, 100.5, 99.5, 100)]
    # long from 14:55; a flip to short decided at 14:55's close would enter at 15:00
    r = run_exit_at(times, rows, {0: 1, 1: -1}, {"exit_at": "14:58", "stop_loss_pct": 5})
    got = [(f.client_order_id.rsplit("-", 2)[1:], f.price) for f in r.fills]
    assert got == [
        ([str(ist(21, 14, 55)), "e"], 100.0),
        ([str(ist(21, 15, 0)), "x"], 100.3),  # closed at 15:00's open, the first bar >= 14:58
        ([str(ist(22, 9, 15)), "e"], 100.1),  # the short waits for the next day
    ]
    sl = {o.client_order_id: o for o in r.orders}[f"bt-{ist(21, 14, 55)}-sl"]
    assert sl.status == "CANCELLED"


def test_exit_at_is_not_skipped_over_by_the_bracket_skip():
    # without a calendar the time is UTC; no leg can fill, so only the exit time stops the skip
    spec_times = [1_800_000_000 - 1_800_000_000 % 86400 + 60 * k for k in range(600)]
    rows = [QUIET] * 600
    cfg = EngineConfig(instrument=SPEC, starting_capital=100_000.0, quantity=10,
                       charges=ZeroCharges())  # fmt: skip
    exits = {"exit_at": "06:00", "stop_loss_pct": 5, "target_pct": 5}
    r = Engine(cfg, Scripted({0: 1}), {"exits": exits}).run(bars_at(spec_times, rows))
    assert [f.ts - spec_times[0] for f in r.fills] == [60, 6 * 3600]
