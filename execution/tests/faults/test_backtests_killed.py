"""Backtests whose worker is SIGKILLed, or the whole cluster: re-run by the sweeper, not stuck.

A real ``qcluster`` (ORM broker) with a ``retry`` far longer than the test waits, so the broker's
own redelivery cannot be what rescues them (with Redis the task is simply lost): the backtests'
leases expire after a few seconds and the ``sweep_backtests`` task, ticked here as the
once-a-minute schedule does in production, puts them back on the queue.
"""

from __future__ import annotations

import os
import signal
from datetime import date

import pytest
from django.utils import timezone
from django_q.conf import Conf

from execution.models import Backtest, BacktestStatus
from execution.services.backtests import backtest_request
from execution.services.marketdata import instrument_get_or_create
from execution.tests.faults.cluster import orm_broker_only, pid_alive, postgres_only, wait_for
from execution.tests.faults.conftest import FAULT_APPS
from execution.tests.services.test_backtests import make_strategy
from tests.factories import UserFactory

pytestmark = [
    postgres_only,
    orm_broker_only,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, available_apps=FAULT_APPS),
    pytest.mark.timeout(240),
]

LEASE = 3  # seconds, in the cluster and in this process
TIMEOUT, RETRY = 150, 160  # the broker would hand a killed task out again only after 160 s
CLUSTER_ENV = {
    "BACKTEST_LEASE_SECONDS": str(LEASE),
    "BACKTEST_QUEUED_LEASE_SECONDS": str(LEASE),
    "BACKTEST_MAX_ATTEMPTS": "3",
}


@pytest.fixture
def leases(settings, monkeypatch):
    """Short leases here too, and backtests requested here go to the real queue (not inline)."""
    settings.ALGOSAAS = {
        **settings.ALGOSAAS,
        "BACKTEST_LEASE_SECONDS": LEASE,
        "BACKTEST_QUEUED_LEASE_SECONDS": LEASE,
        "MAX_ACTIVE_BACKTESTS_PER_USER": 4,
    }
    monkeypatch.setattr(Conf, "SYNC", False)


@pytest.fixture
def strategy(db):
    """An SMA strategy on the 1 m synthetic feed: a year of it runs for several seconds.

    Around the clock (a SYNTH instrument): an NSE one keeps only its sessions' bars, a sixth of
    the year's, and finished before its worker could be killed.
    """
    user = UserFactory()
    instrument, _ = instrument_get_or_create(exchange="SYNTH", symbol="ALLDAY")
    return make_strategy(user, instrument, timeframe="1m")


def _request(strategy, *, days: int = 365) -> Backtest:
    return backtest_request(
        strategy=strategy,
        user=strategy.owner,
        start=date(2024, 1, 1),
        end=date.fromordinal(date(2024, 1, 1).toordinal() + days - 1),
    )


def _statuses(ids: list[int]) -> dict[int, tuple[str, int]]:
    return {
        pk: (status, progress)
        for pk, status, progress in Backtest.objects.filter(pk__in=ids).values_list(
            "pk", "status", "progress"
        )
    }


def _all_complete(ids: list[int]) -> bool:
    return Backtest.objects.filter(pk__in=ids, status=BacktestStatus.COMPLETE).count() == len(ids)


def test_a_killed_cluster_leaves_no_backtest_stuck_and_frees_the_cap(
    leases, strategy, qcluster, ticker
):
    cluster = qcluster(workers=2, timeout=TIMEOUT, retry=RETRY, env=CLUSTER_ENV)
    ids = [_request(strategy).pk for _ in range(4)]
    wait_for(
        lambda: sum(1 for s, p in _statuses(ids).values() if s == "RUNNING" and p >= 5) == 2,
        timeout=60,
        what="two backtests running with some progress",
        cluster=cluster,
    )
    cluster.kill()  # every process at once: the pusher had taken all four tasks
    at_kill = _statuses(ids)
    assert sorted(s for s, _ in at_kill.values()) == ["QUEUED", "QUEUED", "RUNNING", "RUNNING"]

    # Nothing runs them now: once their leases lapse they are not live work any more.
    wait_for(
        lambda: (
            not Backtest.objects.filter(pk__in=ids, lease_expires_at__gt=timezone.now()).exists()
        ),
        timeout=LEASE + 5,
        what="the dead backtests' leases to expire",
    )
    extra = _request(strategy, days=7).pk  # under the cap of 4: the dead ones do not count

    cluster = qcluster(workers=2, timeout=TIMEOUT, retry=RETRY, env=CLUSTER_ENV)
    ticker(every=2, func="execution.tasks.sweep_backtests")
    wait_for(
        lambda: _all_complete([*ids, extra]),
        timeout=120,  # well inside ``retry``: the broker has not redelivered anything yet
        what=f"every backtest to complete (now {_statuses([*ids, extra])})",
        cluster=cluster,
    )
    rows = {bt.pk: bt for bt in Backtest.objects.filter(pk__in=ids)}
    for pk, (status, _) in at_kill.items():
        bt = rows[pk]
        # a run killed mid-way was started again; a queued one was started once, never twice
        assert bt.attempts == (2 if status == "RUNNING" else 1), (pk, status, bt.attempts)
        assert bt.progress == 100 and bt.error == "" and bt.lease_expires_at is None
        assert bt.equity.exists() and bt.trades.exists()


def test_a_killed_worker_s_backtest_is_rerun_within_the_lease(leases, strategy, qcluster, ticker):
    cluster = qcluster(workers=2, timeout=TIMEOUT, retry=RETRY, env=CLUSTER_ENV)
    ticker(every=2, func="execution.tasks.sweep_backtests")
    pk = _request(strategy, days=3 * 365).pk  # ~1.6 M bars: still running a second from now
    wait_for(
        lambda: _statuses([pk])[pk][0] == "RUNNING",
        timeout=60,
        what="the backtest to run",
        cluster=cluster,
    )
    # Claimed: its worker is loading or running ~1.6 M bars, the only busy process. Sampled
    # briefly, since a fast engine may finish such a run in a few seconds.
    worker = cluster.busiest(sample=0.3)
    assert _statuses([pk])[pk][0] == "RUNNING", "it finished before its worker could be killed"
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not pid_alive(worker), timeout=10, what=f"worker {worker} to die")

    wait_for(
        lambda: _all_complete([pk]),
        timeout=90,
        what=f"the backtest to be re-run (now {_statuses([pk])})",
        cluster=cluster,
    )
    bt = Backtest.objects.get(pk=pk)
    assert bt.attempts == 2 and bt.progress == 100 and bt.error == ""
    assert cluster.alive(), cluster.log_tail()
