"""A walk-forward longer than the cluster's task timeout, on a real ``qcluster``.

It once ran as one task: django-q2 raised its timeout inside it (``TimeoutException``, a
``SystemExit`` the task did not record), acknowledged the failed task and never ran it again,
so the run stayed RUNNING for ever and held one of the user's running walk-forwards. Now each
task runs a bounded slice (one chunk of a window's in-sample sets, or one window's
out-of-sample test), so the run completes, and its report is the one a single pass over every
window gives, bit for bit. A worker SIGKILLed mid-chunk loses nothing: its chunk comes back
after ``retry`` and each window is stored once.
"""

from __future__ import annotations

import os
import signal
from datetime import date
from decimal import Decimal

import pytest
from django_q.conf import Conf

from execution.services.marketdata import instrument_get_or_create
from execution.tests.faults.cluster import orm_broker_only, pid_alive, postgres_only, wait_for
from execution.tests.faults.conftest import FAULT_APPS
from optimisation import robustness, walkforward
from optimisation.models import RobustnessRun, RobustnessStatus
from optimisation.robustness import walk_forward_request
from strategies.services import strategy_create
from tests.factories import UserFactory

pytestmark = [
    postgres_only,
    orm_broker_only,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, available_apps=[*FAULT_APPS, "optimisation"]),
    pytest.mark.timeout(300),
]

# 72 in-sample backtests of ~34,000 one-minute bars (~0.5 s each here) and 3 tests: far longer
# than 10 s in one task; a chunk of 3 takes a second or two. (10 s: the dispatcher's tasks
# that the schedule sends meanwhile loop for 5 s.)
TIMEOUT, RETRY = 10, 12
SPACE = {"fast": [5, 6, 7, 8, 9, 10], "slow": [30, 40, 50, 60]}
WF = {"windows": 3, "in_sample_ratio": 2.0, "start": date(2026, 1, 1), "end": date(2026, 2, 28)}


@pytest.fixture
def real_queue(settings, monkeypatch):
    """Chunks of 3 in-sample backtests, queued on the real broker (not run inline)."""
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 3}
    monkeypatch.setattr(Conf, "SYNC", False)


def _strategy(user):
    return strategy_create(
        owner=user,
        name="SMA walk",
        strategy_type="sma_crossover",
        params={"fast": 10, "slow": 20, "mode": "long_short"},
        instrument=instrument_get_or_create(exchange="SYNTH", symbol="ALLDAY")[0],
        timeframe="1m",
        allocation_pct=Decimal("100"),
        capital=Decimal("1000000"),
    )


def _single_pass(run: RobustnessRun) -> dict:
    """The report of one pass over every window in this process (what one task computed)."""
    req = run.request
    space = robustness._space(req["config"], req["space"])
    report = walkforward.walk_forward(
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
    assert report is not None
    return report


def _finished(run: RobustnessRun):
    def check() -> RobustnessRun | None:
        row = RobustnessRun.objects.get(pk=run.pk)
        return row if row.status not in robustness.ACTIVE else None

    return check


def test_a_walk_forward_longer_than_the_task_timeout_completes(qcluster, real_queue):
    user = UserFactory()
    cluster = qcluster(workers=2, timeout=TIMEOUT, retry=RETRY)
    run = walk_forward_request(strategy=_strategy(user), user=user, space=SPACE, **WF)

    done = wait_for(_finished(run), timeout=180, what="the walk-forward to finish", cluster=cluster)
    assert done.status == RobustnessStatus.COMPLETE, done.error
    expected = _single_pass(done)
    assert {k: done.report[k] for k in expected} == expected
    assert done.report["parameter_sets"] == 24
    assert len(done.report["windows"]) == 3
    assert "Task exceeded maximum timeout" not in cluster.log(), cluster.log_tail()


def test_a_worker_killed_mid_chunk_resumes_and_stores_each_window_once(qcluster, real_queue):
    from optimisation.models import ChunkStatus, WalkForwardChunk, WalkForwardWindow

    user = UserFactory()
    cluster = qcluster(workers=1, timeout=TIMEOUT, retry=RETRY)
    run = walk_forward_request(strategy=_strategy(user), user=user, space=SPACE, **WF)

    def in_flight() -> bool:
        return WalkForwardChunk.objects.filter(
            run=run, status=ChunkStatus.PENDING, attempts=1, window=1
        ).exists()

    wait_for(in_flight, timeout=90, what="a chunk of window 1 to start", cluster=cluster)
    worker = cluster.busiest(sample=0.3)
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not pid_alive(worker), timeout=10, what="the worker to die")

    done = wait_for(_finished(run), timeout=180, what="the walk-forward to finish", cluster=cluster)
    assert done.status == RobustnessStatus.COMPLETE, done.error
    assert done.report == {
        **_single_pass(done),
        **{k: done.report[k] for k in ("bars", "parameter_sets")},
    }
    # the killed chunk ran again; every chunk and window is recorded once
    assert WalkForwardChunk.objects.filter(run=run, attempts__gte=2).exists()
    assert not WalkForwardChunk.objects.filter(run=run).exclude(status=ChunkStatus.DONE).exists()
    windows = WalkForwardWindow.objects.filter(run=run).order_by("index")
    assert [w.index for w in windows] == [0, 1, 2]
    assert (done.windows_done, done.chunks_done, done.chunks_total) == (3, 24, 24)
