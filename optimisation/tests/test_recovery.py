"""Recovery of lost step tasks (``optimisation.recovery``): the Redis broker drops a killed
worker's task, so a sweep chunk or walk-forward step taken (or queued) longer ago than
``Q_TIMEOUT`` plus the margin is queued again, completes its run with every result once, and
nothing fresh, finished or cancelled is queued."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from optimisation import recovery, services, tasks, walkforward_steps
from optimisation.models import (
    ChunkStatus,
    RobustnessRun,
    RobustnessStatus,
    SweepChunk,
    SweepResult,
    SweepStatus,
    WalkForwardChunk,
    WalkForwardWindow,
)
from optimisation.robustness import walk_forward_request
from optimisation.services import sweep_cancel, sweep_chunk_run, sweep_request
from optimisation.space import params_key
from optimisation.tests.conftest import REFERENCE_COSTS

pytestmark = pytest.mark.django_db

WINDOW = {"start": date(2006, 1, 1), "end": date(2009, 12, 31)}
SPACE = {"fast": [5, 10], "slow": [20, 40]}
WF = {
    "space": {"fast": [5, 10], "slow": [20, 40, 60], "mode": ["long_short"]},
    "windows": 3,
    "in_sample_ratio": 2.0,
    **WINDOW,
    **REFERENCE_COSTS,
}
NOTHING = {"sweep_chunks": 0, "walk_forward_chunks": 0, "walk_forward_windows": 0}


@pytest.fixture
def small_chunks(settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 2, "SWEEP_CHUNK_MIN": 2}


@pytest.fixture
def queued(monkeypatch):
    """Record the tasks queued instead of running them (django-q2's sync mode would)."""
    sent: list[tuple] = []

    def record(func, *args, **kwargs):
        sent.append((func, *args))

    monkeypatch.setattr(services, "async_task", record)
    monkeypatch.setattr(walkforward_steps, "async_task", record)
    return sent


def _long_ago():
    return recovery.stale_before() - timedelta(seconds=1)


def _recover(capture) -> dict[str, int]:
    """The schedule's task, its queued tasks run on commit (synchronously, in tests)."""
    with capture(execute=True):
        return tasks.recover_steps()


def _lost_sweep(goog_strategy, user) -> tuple:
    """A two-chunk sweep: chunk 1 ran; chunk 0 was taken by a worker killed long ago."""
    sweep = sweep_request(strategy=goog_strategy, user=user, space=SPACE, **WINDOW)
    first, second = SweepChunk.objects.filter(sweep=sweep).order_by("seq")
    assert sweep_chunk_run(chunk_id=second.pk) == "done"
    assert services._start(first.pk) is not None  # taken; the worker dies, the task is lost
    SweepChunk.objects.filter(pk=first.pk).update(leased_at=_long_ago())
    return sweep, first


def test_a_chunk_taken_by_a_killed_worker_is_queued_again_and_completes_the_sweep(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks
):
    sweep, lost = _lost_sweep(goog_strategy, user)
    assert _recover(django_capture_on_commit_callbacks) == {**NOTHING, "sweep_chunks": 1}
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.COMPLETE
    assert (sweep.done, sweep.total, sweep.chunks_done) == (4, 4, 2)
    keys = list(SweepResult.objects.filter(sweep=sweep).values_list("key", flat=True))
    assert sorted(keys) == sorted(
        params_key({"fast": f, "slow": s, "mode": "long_short"}) for f in (5, 10) for s in (20, 40)
    )
    assert SweepChunk.objects.get(pk=lost.pk).attempts == 2


def test_recovering_twice_queues_nothing_more_and_a_duplicate_task_writes_nothing(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks, queued
):
    sweep, lost = _lost_sweep(goog_strategy, user)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.recover_steps()["sweep_chunks"] == 1
    assert queued == [("optimisation.tasks.sweep_chunk", lost.pk)]
    # the re-queued task runs, and so does the lost one's twin should it turn up after all
    assert tasks.sweep_chunk(lost.pk) == "done"
    assert tasks.sweep_chunk(lost.pk) == "skipped"
    assert _recover(django_capture_on_commit_callbacks) == NOTHING
    assert len(queued) == 1
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.COMPLETE
    assert SweepResult.objects.filter(sweep=sweep).count() == sweep.done == 4


def test_a_chunk_taken_recently_is_left_to_its_worker(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks, queued
):
    sweep = sweep_request(strategy=goog_strategy, user=user, space=SPACE, **WINDOW)
    first = SweepChunk.objects.filter(sweep=sweep).order_by("seq").first()
    services._start(first.pk)  # running now, within Q_TIMEOUT
    queued.clear()
    assert _recover(django_capture_on_commit_callbacks) == NOTHING
    assert queued == []
    # the same chunk past the cutoff is queued once
    SweepChunk.objects.filter(sweep=sweep).update(leased_at=_long_ago())
    assert _recover(django_capture_on_commit_callbacks)["sweep_chunks"] == 2


def test_a_cancelled_sweep_is_not_touched(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks, queued
):
    sweep = sweep_request(strategy=goog_strategy, user=user, space=SPACE, **WINDOW)
    sweep_cancel(sweep=sweep)
    # even a chunk still pending (cancel closes the chunks in a second transaction)
    SweepChunk.objects.filter(sweep=sweep).update(status=ChunkStatus.PENDING, leased_at=_long_ago())
    queued.clear()
    assert _recover(django_capture_on_commit_callbacks) == NOTHING
    assert queued == []
    sweep.refresh_from_db()
    assert (sweep.status, sweep.done, sweep.results.count()) == (SweepStatus.CANCELLED, 0, 0)


def test_a_walk_forward_chunk_lost_with_its_worker_is_queued_again_and_the_run_completes(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks
):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    chunks = list(WalkForwardChunk.objects.filter(run=run).order_by("window", "seq"))
    lost, rest = chunks[0], chunks[1:]
    with django_capture_on_commit_callbacks(execute=True):  # windows wait for chunk 0
        for chunk in rest:
            assert walkforward_steps.walk_forward_chunk_run(chunk_id=chunk.pk) == "done"
    assert walkforward_steps._chunk_start(lost.pk) is not None  # its worker dies
    WalkForwardChunk.objects.filter(pk=lost.pk).update(leased_at=_long_ago())
    assert _recover(django_capture_on_commit_callbacks)["walk_forward_chunks"] == 1
    run.refresh_from_db()
    assert run.status == RobustnessStatus.COMPLETE
    assert (run.chunks_done, run.windows_done) == (len(chunks), 3)
    assert WalkForwardWindow.objects.filter(run=run).count() == 3
    assert _recover(django_capture_on_commit_callbacks) == NOTHING


def test_a_lost_window_test_is_queued_again_and_a_fresh_one_is_not(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks, queued
):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    for chunk in WalkForwardChunk.objects.filter(run=run):
        with django_capture_on_commit_callbacks(execute=True):
            walkforward_steps.walk_forward_chunk_run(chunk_id=chunk.pk)
    tests = [q for q in queued if q[0] == "optimisation.tasks.walk_forward_window"]
    assert tests == [("optimisation.tasks.walk_forward_window", run.pk, 0)]  # then lost
    queued.clear()
    assert _recover(django_capture_on_commit_callbacks) == NOTHING  # queued just now
    RobustnessRun.objects.filter(pk=run.pk).update(window_queued_at=_long_ago())
    assert _recover(django_capture_on_commit_callbacks)["walk_forward_windows"] == 1
    assert queued == [("optimisation.tasks.walk_forward_window", run.pk, 0)]
    assert _recover(django_capture_on_commit_callbacks) == NOTHING  # its lease is fresh again
    # the re-queued test runs; a duplicate of it finds the window stored
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.walk_forward_window(run.pk, 0) == "done"
    assert tasks.walk_forward_window(run.pk, 0) == "skipped"
    assert WalkForwardWindow.objects.filter(run=run, index=0).count() == 1
    # a cancelled run is not touched
    RobustnessRun.objects.filter(pk=run.pk).update(
        status=RobustnessStatus.CANCELLED, window_queued_at=_long_ago()
    )
    queued.clear()
    assert _recover(django_capture_on_commit_callbacks) == NOTHING
    assert queued == []


def test_a_chunk_that_never_finishes_fails_its_sweep_instead_of_looping(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks, queued
):
    sweep, lost = _lost_sweep(goog_strategy, user)
    SweepChunk.objects.filter(pk=lost.pk).update(attempts=3)  # killed its worker three times
    queued.clear()
    assert _recover(django_capture_on_commit_callbacks) == NOTHING
    assert queued == []
    sweep.refresh_from_db()
    assert sweep.status == SweepStatus.FAILED
    assert "Chunk 0 was started 3 times" in sweep.error
    assert SweepChunk.objects.get(pk=lost.pk).status == ChunkStatus.CANCELLED


def test_a_walk_forward_chunk_that_never_finishes_fails_the_run(
    goog_strategy, user, small_chunks, django_capture_on_commit_callbacks, queued
):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    WalkForwardChunk.objects.filter(run=run, window=1, seq=0).update(
        attempts=3, leased_at=_long_ago()
    )
    RobustnessRun.objects.filter(pk=run.pk).update(status=RobustnessStatus.RUNNING)
    queued.clear()
    assert _recover(django_capture_on_commit_callbacks) == NOTHING
    run.refresh_from_db()
    assert run.status == RobustnessStatus.FAILED
    assert run.error.startswith("Window 1: Chunk 0 was started 3 times")
    assert not WalkForwardChunk.objects.filter(run=run, status=ChunkStatus.PENDING).exists()


def test_the_migration_schedules_the_recovery_every_minute():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(name="recover-optimisation-steps")
    assert (schedule.func, schedule.schedule_type, schedule.minutes, schedule.repeats) == (
        "optimisation.tasks.recover_steps",
        Schedule.MINUTES,
        1,
        -1,
    )
