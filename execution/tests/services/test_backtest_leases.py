"""Backtest leases: a dead run is re-queued or failed by the sweeper; the cap counts live work.

The processes here are simulated by the lease's clock (a run whose worker died simply stops
renewing); ``execution/tests/faults/test_backtests_killed.py`` does it with SIGKILL.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from algosaas.errors import LimitExceeded
from execution import tasks
from execution.models import Backtest, BacktestEquity, BacktestStatus, Instrument
from execution.services import backtests as service
from execution.services.backtests import (
    BACKTEST_TRANSITIONS,
    backtest_execute,
    backtest_request,
    backtests_sweep,
)
from execution.tests.services.test_backtests import make_strategy

TRIGGERS = ("start", "complete", "fail", "requeue")


@pytest.fixture
def goog(db) -> Instrument:
    return Instrument.objects.get(exchange="NASDAQ", symbol="GOOG")


@pytest.fixture
def sent(monkeypatch) -> list[int]:
    """The backtest ids handed to the queue (on commit), instead of running them inline."""
    out: list[int] = []
    monkeypatch.setattr(service, "async_task", lambda func, pk, **kw: out.append(pk))
    return out


@pytest.fixture
def queued(user, goog, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        bt = backtest_request(strategy=make_strategy(user, goog), user=user)
    assert sent == [bt.pk]
    sent.clear()
    return bt


def _expire(bt: Backtest) -> None:
    Backtest.objects.filter(pk=bt.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))


def _sweep(capture) -> dict[str, int]:
    with capture(execute=True):
        return backtests_sweep()


def test_a_request_takes_a_lease_and_a_run_renews_it_with_its_progress(
    queued, settings, monkeypatch
):
    before = timezone.now()
    assert queued.lease_expires_at > before
    assert queued.attempts == 0
    leases: list = []

    class SpyEngine(service.Engine):
        def run(self, bars, *, progress=None, **kw):
            def spy(fraction):
                progress(fraction)
                leases.append(Backtest.objects.values_list("lease_expires_at", flat=True).get())

            return super().run(bars, progress=spy, **kw)

    monkeypatch.setattr(service, "Engine", SpyEngine)
    settings.ALGOSAAS = {**settings.ALGOSAAS, "BACKTEST_LEASE_SECONDS": 0}  # renew at every call
    bt = backtest_execute(backtest_id=queued.pk)
    assert bt.status == BacktestStatus.COMPLETE and bt.attempts == 1
    assert bt.lease_expires_at is None  # finished: no lease
    assert len(leases) > 5 and leases == sorted(leases) and leases[0] < leases[-1]


def test_a_dead_run_is_requeued_then_completes(queued, sent, django_capture_on_commit_callbacks):
    claimed = service._claim(queued.pk)
    Backtest.objects.filter(pk=queued.pk).update(progress=96)
    assert backtests_sweep() == {"requeued": 0, "failed": 0}  # its lease is live
    _expire(claimed)  # the worker was killed: nobody renews it

    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": 1, "failed": 0}
    bt = Backtest.objects.get(pk=queued.pk)
    assert (bt.status, bt.progress, bt.attempts) == (BacktestStatus.QUEUED, 0, 1)
    assert bt.lease_expires_at > timezone.now()
    assert sent == [bt.pk]

    assert tasks.backtest_run(bt.pk) == BacktestStatus.COMPLETE
    bt.refresh_from_db()
    assert bt.attempts == 2 and bt.progress == 100 and bt.error == ""


def test_a_run_that_dies_every_attempt_fails_with_the_reason(
    queued, sent, settings, django_capture_on_commit_callbacks
):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "BACKTEST_MAX_ATTEMPTS": 2}
    for attempt in (1, 2):
        assert service._claim(queued.pk).attempts == attempt
        Backtest.objects.filter(pk=queued.pk).update(progress=40)
        _expire(queued)
        _sweep(django_capture_on_commit_callbacks)
    bt = Backtest.objects.get(pk=queued.pk)
    assert bt.status == BacktestStatus.FAILED
    assert "stopped" in bt.error and "2 time(s)" in bt.error and "40%" in bt.error
    assert bt.finished_at is not None and bt.lease_expires_at is None
    assert sent == [bt.pk]  # re-sent once, after the first death only
    assert backtests_sweep() == {"requeued": 0, "failed": 0}


def test_a_redelivered_task_takes_over_only_an_expired_run(queued, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "BACKTEST_MAX_ATTEMPTS": 2}
    service._claim(queued.pk)
    assert backtest_execute(backtest_id=queued.pk) is None  # another worker runs it, alive
    assert Backtest.objects.get(pk=queued.pk).attempts == 1

    _expire(queued)  # the broker redelivers the dead worker's task after ``retry``
    bt = backtest_execute(backtest_id=queued.pk)
    assert (bt.status, bt.attempts) == (BacktestStatus.COMPLETE, 2)

    # the last attempt's worker died too: the redelivered task fails it visibly
    again = backtest_request(strategy=bt.strategy, user=bt.owner)
    for attempt in (1, 2):
        assert service._claim(again.pk).attempts == attempt
        _expire(again)
    assert backtest_execute(backtest_id=again.pk) is None
    again.refresh_from_db()
    assert again.status == BacktestStatus.FAILED and "2 time(s)" in again.error


def test_a_queued_backtest_whose_task_is_lost_is_sent_again(
    queued, sent, django_capture_on_commit_callbacks
):
    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": 0, "failed": 0}
    _expire(queued)  # no worker took it within the queued lease: the broker may have lost it
    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": 1, "failed": 0}
    assert sent == [queued.pk]
    bt = Backtest.objects.get(pk=queued.pk)
    assert (bt.status, bt.attempts) == (BacktestStatus.QUEUED, 0)
    # the original task turns up after all: one of the two copies runs it, the other skips
    assert tasks.backtest_run(bt.pk) == BacktestStatus.COMPLETE
    assert tasks.backtest_run(bt.pk) == "skipped"
    assert Backtest.objects.get(pk=bt.pk).attempts == 1


def test_a_backtest_whose_task_cannot_be_sent_is_committed_and_sent_by_the_sweeper(
    user, goog, monkeypatch, django_capture_on_commit_callbacks
):
    """The queue refuses the task after the commit (its broker is down): the request does not
    fail (a failure would free its Idempotency-Key for a retry that queues a second backtest);
    the backtest stays queued under its lease and the sweeper sends it once the lease is over."""

    def refused(*args, **kwargs):
        raise ConnectionError("queue broker unreachable")

    monkeypatch.setattr(service, "async_task", refused)
    with django_capture_on_commit_callbacks(execute=True):
        bt = backtest_request(strategy=make_strategy(user, goog), user=user)
    bt.refresh_from_db()
    assert bt.status == BacktestStatus.QUEUED and bt.lease_expires_at > timezone.now()

    sent: list[int] = []
    monkeypatch.setattr(service, "async_task", lambda func, pk, **kw: sent.append(pk))
    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": 0, "failed": 0}
    _expire(bt)
    assert _sweep(django_capture_on_commit_callbacks) == {"requeued": 1, "failed": 0}
    assert sent == [bt.pk]


def test_a_run_that_lost_its_lease_writes_nothing(queued, monkeypatch):
    """Its lease expired and a second attempt took over: the first one's writes are fenced."""

    class SlowEngine(service.Engine):
        def run(self, bars, *, progress=None, **kw):
            _expire(queued)
            assert service._claim(queued.pk).attempts == 2  # the redelivered task took over
            return super().run(bars, progress=progress, **kw)

    monkeypatch.setattr(service, "Engine", SlowEngine)
    first = service._claim(queued.pk)
    service._run(first)
    bt = Backtest.objects.get(pk=queued.pk)
    assert (bt.status, bt.attempts, bt.progress, bt.stats) == (BacktestStatus.RUNNING, 2, 0, None)
    assert not BacktestEquity.objects.filter(backtest=bt).exists()


def test_the_cap_counts_only_live_work(user, goog, sent, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "MAX_ACTIVE_BACKTESTS_PER_USER": 2}
    strategy = make_strategy(user, goog, capital=Decimal("100000"))
    running = backtest_request(strategy=strategy, user=user)
    service._claim(running.pk)
    waiting = backtest_request(strategy=strategy, user=user)
    with pytest.raises(LimitExceeded):
        backtest_request(strategy=strategy, user=user)
    _expire(running)  # its worker died
    _expire(waiting)  # its task was lost
    backtest_request(strategy=strategy, user=user)
    backtest_request(strategy=strategy, user=user)
    with pytest.raises(LimitExceeded):
        backtest_request(strategy=strategy, user=user)


@pytest.mark.parametrize(
    ("status", "trigger"), list(itertools.product(BacktestStatus.values, TRIGGERS))
)
def test_the_transition_table_allows_its_edges_and_nothing_else(queued, status, trigger):
    Backtest.objects.filter(pk=queued.pk).update(status=status)
    bt = Backtest.objects.get(pk=queued.pk)
    expected = BACKTEST_TRANSITIONS.get((status, trigger))
    assert service._transition(bt, trigger) is (expected is not None)
    assert Backtest.objects.get(pk=queued.pk).status == (expected or status)
