"""A paper deployment of a rule strategy with a stop and a target, replaying stored bars.

After each entry the stop and the target appear as orders (roles ``stop`` and ``target``, one
order group), one of them or the exit signal closes the position and the others are cancelled;
the deployment stepped bar by bar (and in uneven chunks) is exactly the backtest of the bars.
"""

from __future__ import annotations

import pytest

from execution.models import Order
from execution.services.live import deployment_step
from execution.tests.live.conftest import deploy, make_strategy
from execution.tests.live.test_parity_with_backtest import (  # noqa: F401 (a fixture)
    N_BARS,
    _assert_same_as_backtest,
    _release,
    replay_instrument,
)

pytestmark = pytest.mark.django_db

SMA2, SMA5 = {"indicator": "sma", "period": 2}, {"indicator": "sma", "period": 5}
RULE = {
    "entry_long": {"left": SMA2, "op": "crosses_above", "right": SMA5},
    "exit_long": {"left": SMA2, "op": "crosses_below", "right": SMA5},
    "entry_short": {"left": SMA2, "op": "crosses_below", "right": SMA5},
    "exit_short": {"left": SMA2, "op": "crosses_above", "right": SMA5},
    "exits": {"stop_loss_pct": 0.4, "target_pct": 0.6},
}


def _deploy(user, instrument, name):
    strategy = make_strategy(user, name=name, instrument=instrument, timeframe="1m",
                             strategy_type="rules", params=RULE)  # fmt: skip
    return deploy(strategy, feed="replay", seconds_per_bar=1.0)


def _assert_legs_after_each_entry(deployment):
    orders = list(Order.objects.filter(deployment=deployment).order_by("id"))
    by_bar: dict[str, dict[str, Order]] = {}
    for o in orders:
        _, ts, leg = o.client_order_id.rsplit("-", 2)
        by_bar.setdefault(ts, {})[leg] = o
    entries = [legs for legs in by_bar.values() if "e" in legs and legs["e"].status == "COMPLETE"]
    assert len(entries) >= 5
    for legs in entries:
        sl, tp = legs["sl"], legs["tp"]
        assert (sl.role, sl.order_type, tp.role, tp.order_type) == (
            "stop", "SL-M", "target", "LIMIT",
        )  # fmt: skip
        assert sl.quantity == tp.quantity == legs["e"].filled_quantity
        assert sl.side == tp.side != legs["e"].side
        # placed after the entry filled, in the same bar: the entry's id comes first
        assert legs["e"].id < sl.id < tp.id
    statuses = {(o.role, o.status) for o in orders if o.role in ("stop", "target")}
    # some trades were closed by the stop, some by the target, the rest cancelled
    assert {("stop", "COMPLETE"), ("target", "COMPLETE"), ("stop", "CANCELLED"),
            ("target", "CANCELLED")} <= statuses  # fmt: skip


def test_bar_by_bar_replay_places_the_legs_and_equals_the_backtest(user, replay_instrument):  # noqa: F811
    deployment = _deploy(user, replay_instrument, "bracket bar by bar")
    for k in range(1, N_BARS + 1):
        assert deployment_step(deployment_id=deployment.pk, now=_release(deployment, k)).status == (
            "stepped"
        )
    _assert_legs_after_each_entry(deployment)
    _assert_same_as_backtest(deployment, replay_instrument)


def test_replay_in_uneven_chunks_equals_the_backtest(user, replay_instrument):  # noqa: F811
    deployment = _deploy(user, replay_instrument, "bracket chunks")
    for k in (1, 2, 9, 10, 11, 48, 49, 97, 150, N_BARS):
        deployment_step(deployment_id=deployment.pk, now=_release(deployment, k))
    _assert_legs_after_each_entry(deployment)
    _assert_same_as_backtest(deployment, replay_instrument)
