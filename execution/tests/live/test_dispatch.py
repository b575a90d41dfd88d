"""The one schedule: claim the deployments with a closed bar due, enqueue steps in chunks."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Task

from execution import tasks
from execution.models import DeploymentState
from execution.services.live import CLAIM_LEASE, deployments_claim_due
from execution.tests.live.conftest import counts, deploy, live_of, make_strategy, rewind
from strategies import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(user):
    """Four running deployments; each test sets their phase and due time."""
    return {
        name: deploy(make_strategy(user, name=name))
        for name in ("due", "later", "squaring", "done")
    }


def _set(deployment, **fields) -> None:
    DeploymentState.objects.filter(pk=deployment.pk).update(**fields)


def test_claim_takes_only_live_deployments_that_are_due(fleet):
    now = timezone.now().replace(microsecond=0) + timedelta(hours=1)
    _set(fleet["due"], next_due_at=now - timedelta(seconds=3))
    _set(fleet["later"], next_due_at=now + timedelta(seconds=1))
    _set(fleet["squaring"], next_due_at=now - timedelta(seconds=1), phase="SQUARING_OFF")
    _set(fleet["done"], next_due_at=now - timedelta(seconds=9), phase="DONE")

    claimed = deployments_claim_due(now=now)

    assert claimed == [fleet["due"].pk, fleet["squaring"].pk]  # the most overdue first
    for name in ("due", "squaring"):
        assert live_of(fleet[name]).next_due_at == now + CLAIM_LEASE  # leased, not lost
    assert live_of(fleet["later"]).next_due_at == now + timedelta(seconds=1)
    assert deployments_claim_due(now=now) == []  # claimed already: nobody takes them twice
    assert deployments_claim_due(now=now + timedelta(seconds=2)) == [fleet["later"].pk]
    # a claim whose step never ran (a lost task) comes back once the lease is over
    assert deployments_claim_due(now=now + CLAIM_LEASE) == [fleet["due"].pk, fleet["squaring"].pk]


def test_claim_respects_its_limit(fleet):
    now = timezone.now() + timedelta(hours=1)
    _set(fleet["done"], phase="DONE")
    for i, name in enumerate(("due", "later", "squaring")):
        _set(fleet[name], next_due_at=now - timedelta(seconds=10 - i))

    assert deployments_claim_due(now=now, limit=2) == [fleet["due"].pk, fleet["later"].pk]
    assert deployments_claim_due(now=now, limit=2) == [fleet["squaring"].pk]


def test_a_stopped_strategy_is_never_claimed(fleet):
    services.strategy_stop(strategy=fleet["due"].strategy)

    assert fleet["due"].pk not in deployments_claim_due(now=timezone.now() + timedelta(hours=1))


def test_dispatch_once_enqueues_chunks_that_step(user, settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "STEP_CHUNK": 2}
    due = [deploy(make_strategy(user, name=f"due {i}")) for i in range(3)]
    idle = deploy(make_strategy(user, name="not due"))
    for d in due:
        rewind(d, 12)
    _set(idle, next_due_at=timezone.now() + timedelta(minutes=5))

    claimed = tasks.dispatch_once()

    assert claimed == 3
    runs = Task.objects.filter(func="execution.tasks.run_steps").order_by("started")
    assert sorted(len(t.args[0]) for t in runs) == [1, 2]  # chunks of STEP_CHUNK
    assert sorted(pk for t in runs for pk in t.args[0]) == sorted(d.pk for d in due)
    assert all(t.success for t in runs)
    assert sum(t.result.get("stepped", 0) for t in runs) == 3
    for d in due:
        live = live_of(d)
        assert live.steps == 1 and live.bars_processed >= 12
        assert counts(d)["equity"] == live.bars_processed
        assert live.next_due_at > live.last_step_at  # due again when the next bar closes
    assert live_of(idle).steps == 0


def test_dispatch_steps_keeps_dispatching_until_its_minute_is_up(user, settings, monkeypatch):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "DISPATCH_SECONDS": 3}
    d = deploy(make_strategy(user))
    rewind(d, 5)
    clock = {"t": 0.0}

    class FakeTime:
        @staticmethod
        def monotonic():
            return clock["t"]

        @staticmethod
        def sleep(seconds):
            clock["t"] += seconds

    monkeypatch.setattr(tasks, "time", FakeTime)
    # it would close the test's own connection (and its transaction) on PostgreSQL
    monkeypatch.setattr(tasks, "close_old_connections", lambda: None)
    rounds = []
    real_dispatch = tasks.dispatch_once
    monkeypatch.setattr(tasks, "dispatch_once", lambda: rounds.append(1) or real_dispatch())

    assert tasks.dispatch_steps() >= 1  # the deployment was due in the first round
    assert len(rounds) == 3 and clock["t"] == 3.0  # one round a second, then it ends
    assert live_of(d).steps >= 1 and live_of(d).bars_processed >= 5


def test_run_steps_counts_outcomes(user):
    stepped = deploy(make_strategy(user, name="a"))
    idle = deploy(make_strategy(user, name="b"))
    stopped = deploy(make_strategy(user, name="c"))
    rewind(stepped, 4)
    rewind(idle, -2)  # as if deployed two bars ahead: nothing can have closed since
    services.strategy_stop(strategy=stopped.strategy)

    assert tasks.run_steps([stepped.pk, idle.pk, stopped.pk]) == {
        "stepped": 1,
        "idle": 1,
        "skipped": 1,
    }


def test_a_ctrl_c_ends_the_dispatcher_at_its_next_pass(settings, monkeypatch):
    """Ctrl-C on `make run` reaches the cluster's workers: the 85 s dispatcher must not hold up
    the cluster's clean stop, and the worker's SIGINT handling is put back afterwards."""
    settings.ALGOSAAS = {**settings.ALGOSAAS, "DISPATCH_SECONDS": 60}
    monkeypatch.setattr(tasks, "close_old_connections", lambda: None)
    monkeypatch.setattr(tasks, "dispatch_once", lambda: 0)
    before = signal.getsignal(signal.SIGINT)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    started = time.monotonic()
    timer.start()
    try:
        tasks.dispatch_steps()
    finally:
        timer.cancel()
    assert time.monotonic() - started < 5  # not the 60 s it would otherwise keep dispatching
    assert signal.getsignal(signal.SIGINT) is before


def test_the_dispatcher_off_the_main_thread_installs_no_handler(settings, monkeypatch):
    """In a thread (the inline test mode, a ticker) signals cannot be caught: it just runs."""
    settings.ALGOSAAS = {**settings.ALGOSAAS, "DISPATCH_SECONDS": 0}
    monkeypatch.setattr(tasks, "close_old_connections", lambda: None)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            tasks.dispatch_steps()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and errors == []
