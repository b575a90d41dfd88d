"""Random sequences of deploys, stops, steps, redelivered steps, manual orders and cancels.

After every action the books must hold (ARCHITECTURE §4, §8): one order per client id, fills
within quantity, final statuses final, position = signed trades, cash + positions = equity,
no bar processed twice, and nothing traded by the strategy after its stop.
"""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import Count
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from execution.engine.orders import TERMINAL_STATUSES
from execution.models import DeploymentState, EquitySnapshot, Order, Position, Trade
from execution.services.live import order_cancel, order_place
from execution.tests.live.conftest import (
    assert_event_chains,
    counts,
    deploy,
    future_bars,
    make_strategy,
    step,
)
from strategies import services
from strategies.models import StrategyStatus
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TICK = Decimal("0.05")
WORKING = ("PENDING", "OPEN", "TRIGGER_PENDING", "PARTIALLY_FILLED")


class LiveTrading(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        # every example runs in its own savepoint, rolled back in teardown
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.strategy = make_strategy(UserFactory())
        self.current = None  # the newest deployment
        self.bar: dict[int, int] = {}  # deployment -> last bar index stepped (-1: none)
        self.stopped_at: dict[int, int] = {}  # deployment -> cursor when it was stopped
        self.finals: dict[int, str] = {}  # order -> final status seen
        self.deployments = []

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # ------------------------------------------------------------------ helpers

    def _running(self) -> bool:
        return self.strategy.status == StrategyStatus.RUNNING

    def _live(self):
        return DeploymentState.objects.get(pk=self.current.pk)

    # ------------------------------------------------------------------ rules

    @initialize(bars=st.integers(0, 12))
    def first_deploy(self, bars):
        """Every example starts trading: a deployment that has stepped over a few bars."""
        self.deploy()
        self.bar[self.current.pk] = bars
        step(self.current, bars)

    @precondition(lambda self: self.strategy.status != StrategyStatus.RUNNING)
    @rule()
    def deploy(self):
        self.current = deploy(self.strategy)
        self.strategy.refresh_from_db()
        self.deployments.append(self.current)
        self.bar[self.current.pk] = -1

    @precondition(lambda self: self._running() and self.bar[self.current.pk] >= 3)
    @rule(square_off=st.booleans())
    def stop(self, square_off):
        self.stopped_at[self.current.pk] = self._live().cursor_ts
        services.strategy_stop(strategy=self.strategy, square_off=square_off)
        self.strategy.refresh_from_db()

    @precondition(lambda self: self.current is not None)
    @rule(bars=st.integers(1, 12))
    def advance(self, bars):
        pk = self.current.pk
        self.bar[pk] += bars
        outcome = step(self.current, self.bar[pk])
        assert outcome.status in ("stepped", "skipped"), outcome
        if pk in self.stopped_at:
            assert outcome.status == "skipped" or self._live().phase == "DONE"

    @precondition(lambda self: self.current is not None and self.bar[self.current.pk] >= 0)
    @rule()
    def redeliver(self):
        before = counts(self.current)
        outcome = step(self.current, self.bar[self.current.pk])
        assert outcome.status in ("idle", "skipped"), outcome
        assert counts(self.current) == before

    @precondition(lambda self: self.current is not None and self._running())
    @rule(
        kind=st.sampled_from(["LIMIT", "MARKET"]),
        side=st.sampled_from(["BUY", "SELL"]),
        quantity=st.integers(1, 10),
        offset_ticks=st.integers(-40, 40),
    )
    def place(self, kind, side, quantity, offset_ticks):
        k = self.bar[self.current.pk]
        close = Decimal(repr(float(future_bars(self.current, k, k + 1).close[0])))
        price = close + offset_ticks * TICK if kind == "LIMIT" else None
        order = order_place(
            deployment=self.current, side=side, order_type=kind, quantity=quantity, price=price
        )
        assert order.status in ("OPEN", "REJECTED"), (order.status, order.status_message)

    @precondition(lambda self: self.current is not None and self._running())
    @rule(data=st.data())
    def cancel(self, data):
        open_ids = list(
            Order.objects.filter(deployment=self.current, status__in=WORKING)
            .order_by("id")
            .values_list("id", flat=True)
        )
        if not open_ids:
            return
        order = Order.objects.get(pk=data.draw(st.sampled_from(open_ids)))
        assert order_cancel(order=order).status == "CANCELLED"

    # ------------------------------------------------------------------ invariants

    @invariant()
    def one_order_per_client_id(self):
        dupes = (
            Order.objects.values("deployment", "client_order_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        assert not dupes.exists()

    @invariant()
    def fills_within_quantity_and_finals_final(self):
        for pk, status, filled, qty in Order.objects.values_list(
            "pk", "status", "filled_quantity", "quantity"
        ):
            assert filled <= qty
            if pk in self.finals:
                assert status == self.finals[pk], (pk, self.finals[pk], status)
            elif status in TERMINAL_STATUSES:
                self.finals[pk] = status

    @invariant()
    def books_add_up(self):
        for d in self.deployments:
            net = sum(
                q if side == "BUY" else -q
                for side, q in Trade.objects.filter(deployment=d).values_list("side", "quantity")
            )
            position = Position.objects.filter(deployment=d).first()
            assert (position.quantity if position else 0) == net
            snaps = EquitySnapshot.objects.filter(deployment=d)
            last = snaps.order_by("-ts").first()
            if last is not None:
                assert last.cash + last.position_value == last.equity
            live = DeploymentState.objects.get(pk=d.pk)
            # no bar twice: one point per processed bar, all distinct
            assert snaps.count() == snaps.values("ts").distinct().count() == live.bars_processed

    @invariant()
    def nothing_traded_by_the_strategy_after_its_stop(self):
        for pk, cursor in self.stopped_at.items():
            for cid in Order.objects.filter(deployment_id=pk).values_list(
                "client_order_id", flat=True
            ):
                m = re.fullmatch(rf"d{pk}-(\d+)-(e|x)", cid)
                assert not (m and int(m[1]) > cursor), cid

    @invariant()
    def status_changes_follow_the_transition_table(self):
        for d in self.deployments:
            assert_event_chains(d)


def test_live_trading_state_machine(db):
    run_state_machine_as_test(
        LiveTrading,
        settings=settings(
            max_examples=15,
            stateful_step_count=15,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
