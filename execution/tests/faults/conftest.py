"""Fixtures of the fault tests: a clean job queue, paper deployments, a qcluster, a ticker.

The tests commit their rows (``transaction=True``) so the ``qcluster`` subprocess sees them. The
flush after each test truncates the tables of ``available_apps`` (``FAULT_APPS``) with CASCADE,
which takes the deployments' orders, fills and snapshots with them but leaves the instruments
and bars the migrations seeded; the django-q tables are cleaned here instead.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from importlib import import_module

import pytest
from django.db import connections
from django_q.models import OrmQ, Schedule, Task

from execution.models import DeploymentState
from execution.tests.faults.cluster import DispatchTicker, QCluster
from strategies import services
from strategies.models import Deployment, Strategy
from strategies.tests.factories import StrategyFactory, ensure_seeded_instruments
from tests.factories import UserFactory

FAULT_APPS = ["accounts", "strategies", "rest_framework_simplejwt.token_blacklist"]
SYMBOLS = ("RELIANCE", "TCS", "INFY", "SBIN", "ITC", "LT")
DISPATCH_SCHEDULE = "dispatch-deployment-steps"


class _RealModels:
    """The ``apps`` the dispatch-schedule migration expects, resolving to the real model."""

    @staticmethod
    def get_model(app_label: str, model_name: str):
        assert (app_label, model_name) == ("django_q", "Schedule")
        return Schedule


@pytest.fixture(autouse=True)
def _clean_job_queue() -> Iterator[None]:
    """Start and end with an empty queue and task log, and the dispatch schedule as found.

    An earlier ``transaction=True`` test may have flushed the rows the migrations seeded: the
    instruments and the dispatch schedule are put back (and the schedule removed again after).
    """
    ensure_seeded_instruments()
    OrmQ.objects.all().delete()
    Task.objects.all().delete()
    saved = list(Schedule.objects.filter(name=DISPATCH_SCHEDULE).values("pk", "next_run", "task"))
    if not saved:
        import_module("execution.migrations.0007_dispatch_schedule").create(_RealModels, None)
    yield
    connections.close_all()  # a restarted server leaves this process a dead connection
    OrmQ.objects.all().delete()
    Task.objects.all().delete()
    if not saved:
        Schedule.objects.filter(name=DISPATCH_SCHEDULE).delete()
    for row in saved:
        Schedule.objects.filter(pk=row.pop("pk")).update(**row)


@dataclass
class Paper:
    strategy: Strategy
    deployment: Deployment
    first_bar: int  # open time of the first bar it trades: the bar after its cursor at deploy


@pytest.fixture
def paper_deployments() -> Callable[[int], list[Paper]]:
    """Deploy ``n`` fast-trading SMA 2/5 long-short MIS strategies on the 5 s synthetic feed."""

    def make(n: int = 4, *, basket: int = 0) -> list[Paper]:
        """``basket`` > 1: each strategy trades a basket of that many of ``SYMBOLS``."""
        from execution.models import Instrument
        from strategies.baskets import basket_replace

        user = UserFactory()
        out = []
        for i in range(n):
            strategy = StrategyFactory(
                owner=user,
                name=f"fault {i}",
                instrument=Instrument.objects.get(exchange="NSE", symbol=SYMBOLS[i]),
                timeframe="5s",
                product="MIS",
                params={"fast": 2, "slow": 5, "mode": "long_short"},
                quantity=10,
                allocation_pct=None,
                capital=Decimal("1000000.00"),
            )
            if basket > 1:
                members = [SYMBOLS[(i + j) % len(SYMBOLS)] for j in range(basket)]
                basket_replace(
                    strategy=strategy,
                    members=[
                        {"instrument": Instrument.objects.get(exchange="NSE", symbol=s)}
                        for s in members
                    ],
                )
            deployment = services.strategy_deploy(strategy=strategy)
            live = DeploymentState.objects.get(pk=deployment.pk)
            out.append(Paper(strategy, deployment, live.cursor_ts + live.interval_s))
        return out

    return make


@pytest.fixture
def qcluster(tmp_path) -> Iterator[Callable[..., QCluster]]:
    """Start real ``qcluster`` processes; every one is stopped (and its group killed) after."""
    started: list[QCluster] = []

    def start(**kwargs) -> QCluster:
        cluster = QCluster.start(tmp_path, **kwargs)
        started.append(cluster)
        return cluster

    yield start
    for cluster in started:
        cluster.stop()
        print(f"--- qcluster log {cluster.log_path} (tail) ---\n{cluster.log_tail(40)}")


@pytest.fixture
def ticker() -> Iterator[Callable[[], DispatchTicker]]:
    """Enqueue the dispatcher task every few seconds from a thread; always stopped after."""
    started: list[DispatchTicker] = []

    def start(**kwargs) -> DispatchTicker:
        t = DispatchTicker(**kwargs)
        t.start()
        started.append(t)
        return t

    yield start
    for t in started:
        t.stop()
