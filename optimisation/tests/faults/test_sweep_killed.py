"""Two real ``qcluster`` processes share a sweep; a worker SIGKILLed mid-chunk loses nothing.

Cluster A (one worker) starts alone and takes the first chunk; A's worker is SIGKILLed while it
runs it (A's sentinel starts a new worker), and cluster B (one worker) joins. django-q2's
ORM broker hands the killed chunk out again after ``retry`` seconds; meanwhile both clusters
take the other chunks.
At the end every parameter set has exactly one result, the killed chunk ran twice (and was
recorded once), each cluster recorded chunks, and the progress counts add up.
"""

from __future__ import annotations

import os
import signal
from datetime import date
from decimal import Decimal

import pytest
from django.db.models import Count
from django_q.conf import Conf

from execution.services.marketdata import instrument_get_or_create
from execution.tests.faults.cluster import orm_broker_only, pid_alive, postgres_only, wait_for
from execution.tests.faults.conftest import FAULT_APPS
from optimisation.models import ChunkStatus, Sweep, SweepChunk, SweepResult, SweepStatus
from optimisation.services import sweep_request
from optimisation.space import params_key
from strategies.services import strategy_create
from tests.factories import UserFactory

pytestmark = [
    postgres_only,
    orm_broker_only,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, available_apps=[*FAULT_APPS, "optimisation"]),
    pytest.mark.timeout(240),
]

TIMEOUT, RETRY = 20, 25  # a chunk takes a second or two; a killed one comes back after 25 s
# each cluster pulls one task ahead of its worker, so the second one finds chunks to take
CLUSTER_ENV = {"Q_QUEUE_LIMIT": "1"}
FAST = list(range(2, 12))
SLOW = list(range(20, 70, 5))


@pytest.fixture
def real_queue(settings, monkeypatch):
    """Chunks of 5 backtests, queued on the real broker (not run inline)."""
    settings.ALGOSAAS = {**settings.ALGOSAAS, "SWEEP_CHUNK_SIZE": 5}
    monkeypatch.setattr(Conf, "SYNC", False)


def test_two_clusters_share_a_sweep_and_a_killed_worker_loses_nothing(qcluster, real_queue):
    user = UserFactory()
    strategy = strategy_create(
        owner=user,
        name="SMA sweep",
        strategy_type="sma_crossover",
        params={"fast": 10, "slow": 20, "mode": "long_short"},
        instrument=instrument_get_or_create(exchange="SYNTH", symbol="ALLDAY")[0],
        timeframe="1m",
        allocation_pct=Decimal("100"),
        capital=Decimal("1000000"),
    )
    a = qcluster(workers=1, timeout=TIMEOUT, retry=RETRY, env=CLUSTER_ENV)
    sweep = sweep_request(
        strategy=strategy,
        user=user,
        space={"fast": FAST, "slow": SLOW},
        start=date(2026, 1, 1),
        end=date(2026, 2, 28),
    )
    assert (sweep.total, sweep.chunks_total) == (100, 20)

    def running_chunk() -> SweepChunk | None:
        return SweepChunk.objects.filter(
            sweep=sweep, status=ChunkStatus.PENDING, attempts=1
        ).first()

    wait_for(running_chunk, timeout=60, what="cluster A to start a chunk", cluster=a)
    worker = a.busiest(sample=0.3)  # A's only worker, busy with a chunk
    os.kill(worker, signal.SIGKILL)
    wait_for(lambda: not pid_alive(worker), timeout=10, what="the worker to die")
    # a chunk still pending after its worker died was killed mid-run (A's new worker may have
    # started another since)
    in_flight = set(
        SweepChunk.objects.filter(
            sweep=sweep, status=ChunkStatus.PENDING, attempts__gte=1
        ).values_list("pk", flat=True)
    )
    assert in_flight
    # B joins after the kill, so the chunk that was killed is A's and no one else's
    b = qcluster(workers=1, timeout=TIMEOUT, retry=RETRY, env=CLUSTER_ENV)

    def finished() -> bool:
        return Sweep.objects.get(pk=sweep.pk).status == SweepStatus.COMPLETE

    wait_for(finished, timeout=150, what="the sweep to complete", cluster=b)

    sweep.refresh_from_db()
    results = SweepResult.objects.filter(sweep=sweep)
    expected = {
        params_key({"fast": f, "slow": s, "mode": "long_short"}) for f in FAST for s in SLOW
    }
    assert set(results.values_list("key", flat=True)) == expected  # none missing
    assert results.count() == len(expected)  # none twice
    assert not results.values("key").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert (sweep.done, sweep.chunks_done) == (100, 20)
    # the killed chunk ran again (and was recorded once: the counts above)
    assert SweepChunk.objects.filter(pk__in=in_flight, attempts__gte=2).exists()
    assert all(c.status == ChunkStatus.DONE for c in SweepChunk.objects.filter(sweep=sweep))
    # both clusters recorded chunks (each logs the chunks it records)
    assert "sweep_chunk_done" in a.log(), a.log_tail()
    assert "sweep_chunk_done" in b.log(), b.log_tail()
    best = max(results, key=lambda r: r.value)
    assert (sweep.best_params, sweep.best_value) == (best.params, best.value)
