"""PostgreSQL restarted (``-m immediate``) under a running qcluster: it recovers by itself.

Every connection of the cluster (pusher, workers, monitor, the sentinel's scheduler) dies
mid-use, and a step parked just before its commit (``live._pause_point``) loses its
transaction. The cluster is not restarted: its processes reconnect (``close_old_connections``
with ``CONN_HEALTH_CHECKS`` before each task, poll and scheduler pass; django-q2 respawns the
pusher and monitor that die on the error), steps go on, and the books show every bar once.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from django.db import connection, connections
from django.utils import timezone
from django_q.models import Schedule, Task

from execution.models import DeploymentState, EquitySnapshot
from execution.tests.faults.cluster import (
    check_books,
    orm_broker_only,
    parked_deployment_ids,
    postgres_only,
    snapshot_ts,
    wait_for,
)
from execution.tests.faults.conftest import DISPATCH_SCHEDULE, FAULT_APPS
from strategies.models import DeploymentStatus

pytestmark = [
    postgres_only,
    orm_broker_only,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True, available_apps=FAULT_APPS),
    pytest.mark.timeout(180),
]


IMMEDIATE = ("-m", "immediate")  # like a crash: no checkpoint, every session cut
SHARED_OK = "ALGOSAAS_FAULTS_RESTART_SHARED_POSTGRES"


def _local_cluster() -> tuple[str, str]:
    """The (version, name) of the local PostgreSQL cluster serving this test's database."""
    if shutil.which("pg_ctlcluster") is None or shutil.which("pg_lsclusters") is None:
        pytest.skip("pg_ctlcluster/pg_lsclusters not installed (Debian postgresql-common)")
    if os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL with pg_ctlcluster needs root here")
    host = connection.settings_dict.get("HOST") or "localhost"
    if host not in {"127.0.0.1", "localhost", "::1"} and not host.startswith("/"):
        pytest.skip(f"the database server {host} is not local")
    port = str(connection.settings_dict.get("PORT") or 5432)
    out = subprocess.run(
        ["pg_lsclusters", "-h"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    found = [
        (f[0], f[1]) for f in (ln.split() for ln in out.splitlines()) if f[2:4] == [port, "online"]
    ]
    if not found:
        pytest.skip(f"no online local PostgreSQL cluster on port {port}")
    with connection.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT datname FROM pg_stat_activity"
            " WHERE datname IS NOT NULL AND datname <> current_database()"
        )
        others = sorted(r[0] for r in cur.fetchall())
    if others and os.environ.get(SHARED_OK) != "1":
        pytest.skip(
            f"the PostgreSQL server is in use by other databases ({', '.join(others)}); an "
            f"immediate restart would break them (set {SHARED_OK}=1 to restart anyway)"
        )
    return found[0]


def _pg_ready() -> bool:
    s = connection.settings_dict
    cmd = ["pg_isready", "-q", "-h", s.get("HOST") or "localhost", "-p", str(s.get("PORT") or 5432)]
    cmd += ["-U", s["USER"] or "postgres", "-d", s["NAME"]]
    return subprocess.run(cmd, timeout=10, check=False).returncode == 0


def test_steps_continue_after_postgres_restarts(paper_deployments, qcluster, ticker):
    version, name = _local_cluster()
    papers = paper_deployments(4)
    ids = [p.deployment.pk for p in papers]
    # A task timeout above PostgreSQL's crash recovery (seconds on a loaded machine), so the
    # parked step outlives the restart and meets its dead connection at the commit.
    cluster = qcluster(timeout=40, retry=45)
    ticker()
    wait_for(
        lambda: all(len(snapshot_ts(d)) >= 2 for d in ids),
        timeout=40,
        what="two bars stepped on every deployment",
        cluster=cluster,
    )
    # Crash the server under a step in flight: park one just before its commit.
    cluster.hold_steps()
    wait_for(cluster.parked_pid, timeout=60, what="a step at the pause point", cluster=cluster)
    assert parked_deployment_ids()

    restart = subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart", *IMMEDIATE],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    if restart.returncode != 0 and "permission" in (restart.stderr + restart.stdout).lower():
        pytest.skip(f"not permitted to restart PostgreSQL: {restart.stderr.strip()}")
    assert restart.returncode == 0, restart.stderr
    wait_for(_pg_ready, timeout=60, what="PostgreSQL to accept connections again")
    connections.close_all()  # this process's connection died with the server
    cluster.release_steps()  # the parked step's commit now fails on its dead connection
    restarted_at = timezone.now()
    assert cluster.alive(), cluster.log_tail()
    # Bring the once-a-minute schedule due, to see the sentinel's scheduler recover too.
    Schedule.objects.filter(name=DISPATCH_SCHEDULE).update(next_run=restarted_at)

    wait_for(
        lambda: all(
            EquitySnapshot.objects.filter(deployment_id=d, recorded_at__gt=restarted_at).count()
            >= 2
            for d in ids
        ),
        timeout=75,
        what="steps to continue after the restart (two new bars on every deployment)",
        cluster=cluster,
    )
    wait_for(
        lambda: Task.objects.filter(
            group=DISPATCH_SCHEDULE, started__gt=restarted_at, success=True
        ).exists(),
        timeout=45,
        what="the scheduler to fire the dispatch schedule after the restart",
        cluster=cluster,
    )
    assert cluster.alive(), cluster.log_tail()
    cluster.stop()

    check_books(ids, first_bar={p.deployment.pk: p.first_bar for p in papers})
    for p in papers:
        p.deployment.refresh_from_db()
        assert p.deployment.status == DeploymentStatus.RUNNING, p.deployment.stop_reason
    assert not DeploymentState.objects.filter(pk__in=ids, failures__gt=0).exists()
