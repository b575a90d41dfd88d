"""A real ``qcluster`` for the fault tests, and the SQL checks of a deployment's books.

``QCluster`` runs ``manage.py qcluster`` in its own process group against the pytest-django test
database (ORM broker, short ``timeout``/``retry``, a pause file for ``live._pause_point``), and
``stop()`` always ends the whole group. ``DispatchTicker`` stands in for the once-a-minute
schedule at test speed. ``check_books`` asserts what a step promises whatever the queue does:
every bar once, no duplicate order, positions and equity consistent with the ledger.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django_q.tasks import async_task

from execution.models import (
    DeploymentState,
    EquitySnapshot,
    Order,
    OrderEvent,
    Position,
    Trade,
)

BASE_DIR = Path(settings.BASE_DIR)
Q_TIMEOUT = 10  # a step task never takes this long; the worker is killed within a second
Q_RETRY = 12  # > Q_TIMEOUT: a killed worker's task comes back after 12 s
DISPATCH_SECONDS = 5  # each dispatcher task loops this long (< Q_TIMEOUT)

postgres_only = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="needs PostgreSQL: row locks with skip_locked, concurrent qcluster workers and a "
    "server to restart; SQLite serialises every writer on one file lock",
)
orm_broker_only = pytest.mark.skipif(
    "orm" not in settings.Q_CLUSTER,
    reason="the fault tests drive django-q2's ORM broker; REDIS_URL is set (use Q_USE_REDIS=false)",
)

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    *,
    timeout: float,
    what: str,
    interval: float = 0.25,
    cluster: QCluster | None = None,
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\n--- qcluster log (tail) ---\n{cluster.log_tail()}" if cluster else ""
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}{tail}")
        if cluster is not None and not cluster.alive():
            tail = cluster.log_tail()
            pytest.fail(f"qcluster exited while waiting for {what}\n--- log (tail) ---\n{tail}")
        time.sleep(interval)


def database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{quote(s['NAME'], safe='')}"


@dataclass
class QCluster:
    proc: subprocess.Popen[bytes]
    log_path: Path
    pause_file: Path

    @classmethod
    def start(
        cls,
        workdir: Path,
        *,
        workers: int = 4,
        timeout: int = Q_TIMEOUT,
        retry: int = Q_RETRY,
        env: dict[str, str] | None = None,
    ) -> QCluster:
        """Start ``manage.py qcluster`` (not sync) on the test database; wait until it runs.

        ``env`` adds environment variables (settings read with django-environ).
        """
        assert retry > timeout, "a task must never be redelivered while it still runs"
        extra = env or {}
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        pause_file = workdir / "pause"
        env.update(
            DJANGO_SETTINGS_MODULE="algosaas.settings.test",
            DATABASE_URL=database_url(),
            Q_SYNC="false",
            Q_USE_REDIS="false",  # the ORM broker, as in this process (``orm_broker_only``)
            Q_WORKERS=str(workers),
            Q_TIMEOUT=str(timeout),
            Q_RETRY=str(retry),
            DISPATCH_SECONDS=str(DISPATCH_SECONDS),
            ALGOSAAS_TEST_PAUSE_FILE=str(pause_file),
            LOG_FORMAT="console",
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        log_path = workdir / "qcluster.log"
        for n in itertools.count(2):  # a restarted cluster keeps the first one's log
            if not log_path.exists():
                break
            log_path = workdir / f"qcluster-{n}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"],
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends every child
            )
        cluster = cls(proc=proc, log_path=log_path, pause_file=pause_file)
        try:
            wait_for(
                lambda: "running." in cluster.log(),
                timeout=60,
                what="the qcluster to start",
                cluster=cluster,
            )
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL every process of the cluster at once (sentinel, pusher, workers, monitor)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def descendants(self) -> list[int]:
        """The pids of every process under ``manage.py qcluster`` (sentinel, workers, ...)."""
        out: list[int] = []
        todo = [self.proc.pid]
        while todo:
            pid = todo.pop()
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                kids = [
                    int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                ]
                out += kids
                todo += kids
        return out

    def busiest(self, sample: float = 1.0) -> int:
        """The pid of the process that used the most CPU over ``sample`` seconds (a busy worker)."""

        def cpu(pid: int) -> int:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except FileNotFoundError:
                return 0
            return int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks

        pids = self.descendants()
        before = {pid: cpu(pid) for pid in pids}
        time.sleep(sample)
        return max(pids, key=lambda pid: cpu(pid) - before[pid])

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the cluster (it finishes the tasks in hand), then SIGKILL whatever is left."""
        with contextlib.suppress(FileNotFoundError):
            self.pause_file.unlink()  # never leave a worker parked at the pause point
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group is ours (new session)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)

    # --------------------------------------------------------------- the test-only pause point

    def hold_steps(self) -> None:
        """Make the next step that writes orders park before its commit (``_pause_point``)."""
        with contextlib.suppress(FileNotFoundError):
            Path(f"{self.pause_file}.reached").unlink()
        self.pause_file.touch()

    def release_steps(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.pause_file.unlink()

    def parked_pid(self) -> int | None:
        """The pid of the worker parked at the pause point, once it has written it."""
        try:
            text = Path(f"{self.pause_file}.reached").read_text()
        except FileNotFoundError:
            return None
        m = re.match(r"(\d+) step-before-commit\n", text)
        return int(m.group(1)) if m else None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def parked_deployment_ids() -> set[int]:
    """The deployments whose rows the step parked at the pause point has locked and updated.

    A row a transaction locks or updates carries that transaction's id in ``xmax`` (in the
    version other sessions still see); the parked step's session is idle in transaction.
    """
    with connection.cursor() as cur:
        cur.execute(
            "SELECT d.deployment_id FROM execution_deploymentstate d"
            " JOIN pg_stat_activity a ON a.backend_xid = d.xmax"
            " WHERE a.datname = current_database() AND a.state = 'idle in transaction'"
        )
        return {row[0] for row in cur.fetchall()}


# ------------------------------------------------------------------------------- dispatching


class DispatchTicker(threading.Thread):
    """Enqueue ``execution.tasks.dispatch_steps`` every ``DISPATCH_SECONDS`` through the broker.

    In production the ``dispatch-deployment-steps`` schedule does this once a minute (each run
    loops for ``DISPATCH_SECONDS``); the scheduler only wakes every 30 s, so the tests tick
    faster. The cluster runs the real dispatcher task; database errors (a restart) are retried.
    """

    def __init__(
        self, every: float = DISPATCH_SECONDS, func: str = "execution.tasks.dispatch_steps"
    ):
        super().__init__(name=f"ticker {func}", daemon=True)
        self.every = every
        self.func = func
        self.sent = 0
        self.errors = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            while not self._stop_event.is_set():
                try:
                    async_task(self.func, sync=False, task_name="tick")
                    self.sent += 1
                    wait = self.every
                except Exception:  # PostgreSQL restarting: reconnect on the next tick
                    self.errors += 1
                    connections.close_all()
                    wait = 0.5
                self._stop_event.wait(wait)
        finally:
            connections.close_all()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=30)


def enqueue(func: str, *args: Any) -> str:
    """Put one task on the cluster's queue (never inline, whatever the test settings say)."""
    return async_task(func, *args, sync=False)


# ------------------------------------------------------------------------------- the checks


def snapshot_ts(deployment_id: int) -> list[int]:
    return [
        int(ts.timestamp())
        for ts in EquitySnapshot.objects.filter(deployment_id=deployment_id)
        .order_by("ts")
        .values_list("ts", flat=True)
    ]


def _epoch(dt: datetime) -> int:
    return int(dt.astimezone(UTC).timestamp())


def check_books(deployments: Iterable[int], *, first_bar: dict[int, int]) -> dict[int, int]:
    """Assert the invariants of each deployment's paper books; return its number of bars.

    ``first_bar`` maps a deployment to the open time of the first bar it must have traded (the
    bar after its cursor at deploy time).
    """
    ids = list(deployments)
    problems: list[str] = []
    bars: dict[int, int] = {}
    for dep in ids:
        live = DeploymentState.objects.get(pk=dep)
        rows = list(
            EquitySnapshot.objects.filter(deployment_id=dep)
            .order_by("ts")
            .values_list("ts", "cash", "position_value", "equity")
        )
        ts = [_epoch(r[0]) for r in rows]
        bars[dep] = len(ts)
        if not ts:
            problems.append(f"d{dep}: no equity snapshot at all")
            continue
        # Every bar exactly once: unique, contiguous at the bar interval, from the first bar on.
        if len(set(ts)) != len(ts):
            problems.append(f"d{dep}: duplicate snapshot times")
        gaps = [(a, b) for a, b in itertools.pairwise(ts) if b - a != live.interval_s]
        if gaps:
            problems.append(f"d{dep}: snapshots not contiguous at {live.interval_s}s: {gaps[:5]}")
        if ts[0] != first_bar[dep]:
            problems.append(f"d{dep}: first snapshot at {ts[0]}, first bar {first_bar[dep]}")
        if live.cursor_ts != ts[-1]:
            problems.append(f"d{dep}: cursor {live.cursor_ts} != last snapshot {ts[-1]}")
        if live.bars_processed != len(ts):
            problems.append(f"d{dep}: bars_processed {live.bars_processed} != {len(ts)} points")
        bad_equity = [r for r in rows if r[1] + r[2] != r[3]]
        if bad_equity:
            problems.append(f"d{dep}: cash + position value != equity: {bad_equity[:3]}")
        # Positions are the sum of the signed fills.
        for pos in Position.objects.filter(deployment_id=dep):
            signed = Trade.objects.filter(
                deployment_id=dep, order__instrument_id=pos.instrument_id
            ).aggregate(
                q=Coalesce(Sum("quantity", filter=Q(side="BUY")), 0)
                - Coalesce(Sum("quantity", filter=Q(side="SELL")), 0)
            )["q"]
            if pos.quantity != signed:
                problems.append(f"d{dep}: position {pos.quantity} != signed trades {signed}")
        if (
            Trade.objects.filter(deployment_id=dep).exists()
            and not Position.objects.filter(deployment_id=dep).exists()
        ):
            problems.append(f"d{dep}: trades but no position row")
        # An order's fills add up to its filled quantity; each order was created once.
        traded = dict(
            Trade.objects.filter(deployment_id=dep)
            .values("order_id")
            .annotate(q=Sum("quantity"))
            .values_list("order_id", "q")
        )
        misfilled = [
            (cid, filled, traded.get(pk, 0))
            for pk, cid, filled in Order.objects.filter(deployment_id=dep).values_list(
                "pk", "client_order_id", "filled_quantity"
            )
            if filled != traded.get(pk, 0)
        ]
        if misfilled:
            problems.append(f"d{dep}: filled quantity != fills: {misfilled[:3]}")
        recreated = (
            OrderEvent.objects.filter(order__deployment_id=dep, trigger="")
            .values("order_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
        )
        if recreated:
            problems.append(f"d{dep}: orders with more than one creation event")
    # No client order id twice (ids embed the deployment, so not across deployments either).
    dup_cids = list(
        Order.objects.filter(deployment_id__in=ids)
        .values("client_order_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("client_order_id", "n")
    )
    if dup_cids:
        problems.append(f"duplicate client order ids: {dup_cids[:5]}")
    dup_fills = list(  # fill ids are the paper broker's, unique within a deployment
        Trade.objects.filter(deployment_id__in=ids)
        .values("deployment_id", "fill_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("deployment_id", "fill_id", "n")
    )
    if dup_fills:
        problems.append(f"duplicate fill ids: {dup_fills[:5]}")
    assert not problems, "books broken:\n" + "\n".join(problems)
    return bars


def strategy_orders(deployment_id: int) -> set[tuple[str, str]]:
    """(client order id, creation time) of every strategy order of a deployment."""
    return {
        (cid, created.isoformat())
        for cid, created in Order.objects.filter(
            deployment_id=deployment_id, source="strategy"
        ).values_list("client_order_id", "created_at")
    }
