"""Fixtures of the security tests: a first user with a realistic estate, and its snapshot.

``estate`` gives the first user what every kind of object id in a URL can point at: a strategy
deployed on the synthetic 5-second feed and stepped until it has strategy orders, fills, a
position and equity points; an open manual order; a finished backtest; and an inactive strategy
that a broken authorisation check could deploy, edit or delete.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from accounts.models import User
from algosaas.models import IdempotencyKey
from brokers.models import BrokerAccount
from brokers.services import broker_account_create
from execution.models import (
    Backtest,
    BacktestStatus,
    DeploymentState,
    EquitySnapshot,
    Order,
    OrderEvent,
    OrderStatusChoices,
    Position,
    Trade,
)
from execution.services.backtests import backtest_execute, backtest_request
from execution.services.live import deployment_step, order_place
from notifications.models import Delivery, NotificationSettings, WebhookEndpoint
from notifications.services import webhook_create
from optimisation.models import RobustnessRun, RobustnessStatus, Sweep, SweepStatus
from optimisation.robustness import monte_carlo_request, walk_forward_request, walk_forward_run
from optimisation.services import sweep_chunk_run, sweep_request
from strategies import services
from strategies.models import Deployment, Strategy, StrategyEvent
from strategies.tests.factories import StrategyFactory, seeded_instrument

# A fast SMA crossover on 5-second bars, long and short: it trades every few bars.
FAST_SMA = {"fast": 2, "slow": 5, "mode": "long_short"}
STEP_AHEAD = timedelta(minutes=10)  # 120 five-second bars: several round trips


@dataclass
class Estate:
    """The first user's objects, by the kind of id a URL takes."""

    owner: User
    running: Strategy
    inactive: Strategy
    deployment: Deployment
    manual_order: Order
    strategy_order: Order
    trade: Trade
    position: Position
    backtest: Backtest
    marker: str
    ids: dict[str, list[int]] = field(default_factory=dict)


def make_strategy(owner: User, **overrides: Any) -> Strategy:
    fields = {
        "owner": owner,
        "strategy_type": "sma_crossover",
        "params": dict(FAST_SMA),
        "instrument": seeded_instrument("RELIANCE"),
        "timeframe": "5s",
        "quantity": 10,
        "allocation_pct": None,
        "product": "MIS",
        "capital": Decimal("100000.00"),
    }
    fields.update(overrides)
    return StrategyFactory(**fields)


def build_estate(owner: User, *, marker: str = "Secret-Alpha") -> Estate:
    running = make_strategy(owner, name=f"{marker} runner")
    inactive = make_strategy(owner, name=f"{marker} idle")
    deployment = services.strategy_deploy(strategy=running, actor=owner)
    outcome = deployment_step(deployment_id=deployment.pk, now=timezone.now() + STEP_AHEAD)
    assert outcome.status == "stepped", outcome
    deployment.refresh_from_db()
    manual = order_place(
        deployment=deployment,
        side="BUY",
        order_type="LIMIT",
        quantity=1,
        price=_far_below_market(deployment),
    )
    strategy_order = Order.objects.filter(deployment=deployment, source="strategy").first()
    trade = Trade.objects.filter(deployment=deployment).first()
    position = Position.objects.filter(deployment=deployment).first()
    assert strategy_order and trade and position, "the stepped deployment should have traded"
    assert manual.status == OrderStatusChoices.OPEN, (manual.status, manual.status_message)

    backtest = backtest_request(strategy=running, user=owner)
    backtest_execute(backtest_id=backtest.pk)  # no-op where the job already ran on commit
    backtest.refresh_from_db()
    assert backtest.status == BacktestStatus.COMPLETE, backtest.error

    broker_account = broker_account_create(
        user=owner, vendor="kite", api_key="estateKey1", api_secret="estateSecret1"
    )

    # a small finished parameter sweep (its chunks run here, where the job would)
    sweep = sweep_request(strategy=running, user=owner, space={"fast": [2, 3]})
    for chunk in sweep.chunks.all():
        sweep_chunk_run(chunk_id=chunk.pk)
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.COMPLETE, sweep.error

    # a finished walk-forward of the strategy and a Monte Carlo of the backtest
    walk = walk_forward_request(
        strategy=running, user=owner, space={"fast": [2, 3]}, windows=2, in_sample_ratio=1.0
    )
    walk_forward_run(run_id=walk.pk)  # no-op where the job already ran on commit
    walk.refresh_from_db()
    assert walk.status == RobustnessStatus.COMPLETE, walk.error
    monte = monte_carlo_request(backtest=backtest, user=owner, paths=20)
    # and a queued one, which its owner could still cancel (never run: no commit here)
    queued_walk = walk_forward_request(
        strategy=running, user=owner, space={"fast": [2, 3]}, windows=2, in_sample_ratio=1.0
    )

    # a webhook (never called here: on_commit does not run inside the test's transaction) and
    # one logged attempt
    webhook = webhook_create(user=owner, url="https://hooks.example.com/algosaas")
    delivery = Delivery.objects.create(
        user=owner, endpoint=webhook, event_id="evt_estate", event="fill", status="delivered"
    )

    estate = Estate(
        owner=owner,
        running=running,
        inactive=inactive,
        deployment=deployment,
        manual_order=manual,
        strategy_order=strategy_order,
        trade=trade,
        position=position,
        backtest=backtest,
        marker=marker,
    )
    estate.ids = {
        "strategy": [running.pk, inactive.pk],
        "deployment": [deployment.pk],
        "order": [manual.pk, strategy_order.pk],
        "backtest": [backtest.pk],
        "sweep": [sweep.pk],
        "robustness_run": [walk.pk, monte.pk, queued_walk.pk],
        "trade": [trade.pk],
        "position": [position.pk],
        "broker_account": [broker_account.pk],
        "webhook": [webhook.pk],
        "delivery": [delivery.pk],
    }
    return estate


def _far_below_market(deployment: Deployment) -> Decimal:
    """A buy limit price that rests (never fills) yet stays inside the risk gate's price band."""
    position = Position.objects.get(deployment=deployment)
    tick = position.instrument.tick_size
    price = position.last_price * Decimal("0.97")
    return (price / tick).to_integral_value() * tick


def snapshot(owner: User) -> dict[str, Any]:
    """Every row of ``owner``'s, with the fields a write would touch (counts and updated_at)."""

    def rows(qs, *fields: str) -> list[tuple]:
        return sorted(qs.values_list("pk", *fields))

    deployments = Deployment.objects.filter(strategy__owner=owner)
    return {
        "user": rows(User.objects.filter(pk=owner.pk), "email", "name", "paper_capital"),
        "strategies": rows(
            Strategy.objects.filter(owner=owner),
            "name",
            "status",
            "status_reason",
            "archived_at",
            "updated_at",
            "params",
            "quantity",
        ),
        "strategy_events": rows(StrategyEvent.objects.filter(strategy__owner=owner)),
        "deployments": rows(deployments, "status", "stopped_at", "square_off"),
        "live": rows(
            DeploymentState.objects.filter(deployment__in=deployments),
            "phase",
            "cursor_ts",
            "steps",
        ),
        "orders": rows(
            Order.objects.filter(deployment__in=deployments),
            "status",
            "quantity",
            "price",
            "filled_quantity",
            "updated_at",
        ),
        "order_events": rows(OrderEvent.objects.filter(order__deployment__in=deployments)),
        "trades": rows(Trade.objects.filter(deployment__in=deployments)),
        "positions": rows(
            Position.objects.filter(deployment__in=deployments), "quantity", "updated_at"
        ),
        "equity": rows(EquitySnapshot.objects.filter(deployment__in=deployments)),
        "backtests": rows(Backtest.objects.filter(owner=owner), "status", "finished_at"),
        "idempotency_keys": rows(IdempotencyKey.objects.filter(user=owner)),
        "broker_accounts": rows(
            BrokerAccount.objects.filter(user=owner), "status", "api_key", "updated_at"
        ),
        "sweeps": rows(Sweep.objects.filter(owner=owner), "status", "done", "finished_at"),
        "robustness_runs": rows(
            RobustnessRun.objects.filter(owner=owner), "status", "report", "finished_at"
        ),
        "webhooks": rows(
            WebhookEndpoint.objects.filter(user=owner), "url", "kinds", "enabled", "updated_at"
        ),
        "deliveries": rows(Delivery.objects.filter(user=owner), "status", "attempt"),
        "notification_settings": rows(
            NotificationSettings.objects.filter(user=owner), "email_kinds"
        ),
    }


@pytest.fixture
def estate(user) -> Estate:
    """The first user's realistic estate (see the module docstring)."""
    return build_estate(user)
