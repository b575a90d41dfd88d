"""A walk-forward run as bounded steps (``walkforward_steps``): each chunk and window stored
once whatever the queue delivers twice, windows tested in order on the carried equity, the
same report as one pass, progress in the API and on the page, and a step that outlives the
job timeout failing the run with the reason instead of leaving it running."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse
from django_q.exceptions import TimeoutException

from optimisation import robustness, tasks, walkforward, walkforward_steps
from optimisation.models import (
    ChunkStatus,
    RobustnessRun,
    RobustnessStatus,
    WalkForwardChunk,
    WalkForwardWindow,
)
from optimisation.robustness import walk_forward_cancel, walk_forward_request
from optimisation.tests.conftest import REFERENCE_COSTS
from optimisation.walkforward_steps import (
    walk_forward_chunk_run,
    walk_forward_run,
    walk_forward_window_run,
)

pytestmark = pytest.mark.django_db

SPACE = {"fast": [5, 10], "slow": [20, 40, 60], "mode": ["long_short"]}
WF = {
    "space": SPACE,
    "windows": 3,
    "in_sample_ratio": 2.0,
    "start": date(2006, 1, 1),
    "end": date(2009, 12, 31),
    **REFERENCE_COSTS,
}


@pytest.fixture
def small_chunks(settings):
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 4}


def _chunks(run, window=None):
    rows = WalkForwardChunk.objects.filter(run=run).order_by("window", "seq")
    return rows if window is None else rows.filter(window=window)


def _single_pass(run: RobustnessRun) -> dict:
    req = run.request
    space = robustness._space(req["config"], req["space"])
    return walkforward.walk_forward(
        market=robustness._market(run),
        stype=space.stype,
        param_sets=robustness._param_sets(space, req["method"], req["samples"], req["seed"]),
        objective=req["objective"],
        capital=float(Decimal(req["capital"])),
        windows=req["windows"],
        in_sample_ratio=req["in_sample_ratio"],
        mode=req["mode"],
        max_drawdown_pct=req["max_drawdown_pct"],
    )


def test_a_run_is_split_into_chunks_of_every_window(user, goog_strategy, small_chunks):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    # 6 sets in chunks of 4: two chunks (4 + 2) per window, three windows
    assert [(c.window, c.seq, c.start, c.stop) for c in _chunks(run)] == [
        (w, s, a, b) for w in range(3) for s, (a, b) in enumerate([(0, 4), (4, 6)])
    ]
    assert (run.chunks_total, run.chunks_done, run.windows_done) == (6, 0, 0)


def test_each_step_is_stored_once_in_order_and_the_report_is_one_passes(
    user, goog_strategy, small_chunks
):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    first = _chunks(run, 0)[0]
    assert walk_forward_chunk_run(chunk_id=first.pk, enqueue=False) == "done"
    assert walk_forward_chunk_run(chunk_id=first.pk, enqueue=False) == "skipped"  # redelivered
    # window 0 is not ready (its second chunk is pending), window 1 is not its turn
    assert walk_forward_window_run(run_id=run.pk, index=0, enqueue=False) == "skipped"
    for chunk in _chunks(run):
        walk_forward_chunk_run(chunk_id=chunk.pk, enqueue=False)
    assert walk_forward_window_run(run_id=run.pk, index=1, enqueue=False) == "skipped"
    assert walk_forward_window_run(run_id=run.pk, index=0, enqueue=False) == "done"
    assert walk_forward_window_run(run_id=run.pk, index=0, enqueue=False) == "skipped"
    assert walk_forward_run(run_id=run.pk) == "done"  # the rest, in this process
    run.refresh_from_db()
    assert run.status == RobustnessStatus.COMPLETE
    windows = list(WalkForwardWindow.objects.filter(run=run).order_by("index"))
    assert [w.index for w in windows] == [0, 1, 2]
    # each window started with the equity the one before ended with
    for before, after in itertools.pairwise(windows):
        assert after.row["start_equity"] == round(before.end_equity, 2)
    expected = _single_pass(run)
    assert {k: run.report[k] for k in expected} == expected
    assert (run.report["parameter_sets"], run.chunks_done, run.windows_done) == (6, 6, 3)


def test_the_queue_runs_the_steps_through_to_the_report(
    user, goog_strategy, small_chunks, django_capture_on_commit_callbacks
):
    """Queued on commit (inline here): chunks, then each window as its turn comes."""
    with django_capture_on_commit_callbacks(execute=True):
        run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    run.refresh_from_db()
    assert run.status == RobustnessStatus.COMPLETE, run.error
    expected = _single_pass(run)
    assert {k: run.report[k] for k in expected} == expected
    assert all(c.attempts == 1 for c in _chunks(run))


def test_progress_in_the_api_and_on_the_page(api_client, client, user, goog_strategy, small_chunks):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    for chunk in _chunks(run, 0):
        walk_forward_chunk_run(chunk_id=chunk.pk, enqueue=False)
    walk_forward_window_run(run_id=run.pk, index=0, enqueue=False)
    body = api_client.get(f"/api/robustness/{run.pk}/").json()
    assert body["status"] == "RUNNING"
    # 2 chunks and 1 window of 6 chunks and 3 windows
    assert body["progress"] == {
        "windows_done": 1,
        "windows_total": 3,
        "chunks_done": 2,
        "chunks_total": 6,
        "percent": 33.3,
    }
    client.force_login(user)
    page = client.get(reverse("optimisation:robustness_body", args=[run.pk])).content.decode()
    assert "1 of 3 windows tested" in page and "2 / 6 in-sample chunks" in page
    walk_forward_run(run_id=run.pk)
    body = api_client.get(f"/api/robustness/{run.pk}/").json()
    assert body["progress"]["percent"] == 100.0 and body["status"] == "COMPLETE"


def test_cancel_stops_the_pending_chunks_and_no_window_is_stored(user, goog_strategy, small_chunks):
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    walk_forward_chunk_run(chunk_id=_chunks(run)[0].pk, enqueue=False)
    walk_forward_cancel(run=run)
    assert set(_chunks(run).values_list("status", flat=True)) == {
        ChunkStatus.DONE,
        ChunkStatus.CANCELLED,
    }
    assert walk_forward_run(run_id=run.pk) == "skipped"
    assert not WalkForwardWindow.objects.filter(run=run).exists()
    run.refresh_from_db()
    assert run.status == RobustnessStatus.CANCELLED and run.report is None


def test_a_step_stopped_by_the_job_timeout_fails_the_run_with_the_reason(
    user, goog_strategy, small_chunks, monkeypatch
):
    """django-q2 raises its timeout inside the task (a SystemExit): the run records it as
    FAILED, its other chunks are stopped, and the exception goes on to the worker."""
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)

    def too_slow(**kwargs):
        raise TimeoutException("Task exceeded maximum timeout value (120 seconds)")

    monkeypatch.setattr(walkforward_steps, "run_chunk", too_slow)
    with pytest.raises(TimeoutException):
        walk_forward_chunk_run(chunk_id=_chunks(run)[0].pk)
    run.refresh_from_db()
    assert run.status == RobustnessStatus.FAILED
    assert "Q_TIMEOUT" in run.error and "SWEEP_CHUNK_SIZE" in run.error
    assert not _chunks(run).filter(status=ChunkStatus.PENDING).exists()


def test_a_run_queued_before_the_split_gets_its_steps(
    user, goog_strategy, small_chunks, monkeypatch
):
    """The old single task's message, delivered after an upgrade, queues the run's steps."""
    run = walk_forward_request(strategy=goog_strategy, user=user, **WF)
    WalkForwardChunk.objects.filter(run=run).delete()
    RobustnessRun.objects.filter(pk=run.pk).update(chunks_total=0)
    sent = []
    monkeypatch.setattr(
        walkforward_steps, "async_task", lambda func, *args, **kw: sent.append((func, args))
    )
    assert tasks.walk_forward(run.pk) == "queued 6 steps"
    monkeypatch.undo()
    assert len(sent) == 6 and {f for f, _ in sent} == {"optimisation.tasks.walk_forward_chunk"}
    assert walk_forward_run(run_id=run.pk) == "done"
    run.refresh_from_db()
    assert run.status == RobustnessStatus.COMPLETE and run.chunks_total == 6


def test_a_baskets_chunks_count_its_members_and_give_one_passes_report(
    user, goog_strategy, goog, settings, django_capture_on_commit_callbacks
):
    """Chunks of 3 backtests over a 2-member basket hold one set each (3 // 2); the report
    is still the one pass's, member table included."""
    from optimisation.tests.test_basket_walkforward import _instrument, _members

    basket = _members(goog_strategy, [(goog, "100"), (_instrument("WALKX"), "100")])
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 3}
    with django_capture_on_commit_callbacks(execute=True):
        run = walk_forward_request(strategy=basket, user=user, **{**WF, "space": SPACE})
    run.refresh_from_db()
    assert run.status == RobustnessStatus.COMPLETE, run.error
    assert run.chunks_total == 3 * 6 and all(c.stop - c.start == 1 for c in _chunks(run))
    expected = _single_pass(run)
    assert {k: run.report[k] for k in expected} == expected
    assert [m["instrument"] for m in run.report["members"]] == ["NASDAQ:GOOG", "NASDAQ:WALKX"]
