"""Production's process types started on loopback for the smoke test: gunicorn ASGI web
processes and ``manage.py qcluster`` workers, each in a process group of its own.

Every process runs ``algosaas.settings.production`` against the pytest-django test database
and a Redis database of the test's own, with the test process's SECRET_KEY (django-q2 signs
queued tasks with it) and JWT key. ``stop()`` always ends the whole group.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(settings.BASE_DIR)
T = TypeVar("T")


def database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "127.0.0.1"
    port = s.get("PORT") or 5432
    return f"postgres://{auth}@{host}:{port}/{quote(s['NAME'], safe='')}"


def production_env(redis_url: str, **extra: str) -> dict[str, str]:
    """The environment of a production process on loopback (plain HTTP, no proxy)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTEST_CURRENT_TEST", "DJANGO_ALLOW_ASYNC_UNSAFE", "Q_SYNC", "CONN_MAX_AGE"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="algosaas.settings.production",
        DATABASE_URL=database_url(),
        REDIS_URL=redis_url,
        SECRET_KEY=settings.SECRET_KEY,
        JWT_SIGNING_KEY=settings.SIMPLE_JWT["SIGNING_KEY"],
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        LOG_FORMAT="console",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    condition: Callable[[], T], *, timeout: float, what: str, logs: Callable[[], str] = str
) -> T:
    """Poll ``condition`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{logs()}")
        time.sleep(0.5)


@dataclass
class Process:
    """One started process (and its group) with its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def start(cls, name: str, argv: list[str], env: dict[str, str], workdir: Path) -> Process:
        log_path = workdir / f"{name}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() and kill() reach every child
            )
        return cls(name, proc, log_path)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return f"--- {self.name} (tail) ---\n" + "\n".join(self.log().splitlines()[-lines:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group at once, as a machine dying would."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM (a graceful stop), then SIGKILL whatever is left of the group."""
        try:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=timeout)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=10)


def web_process(name: str, env: dict[str, str], workdir: Path, *, workers: int = 1) -> Web:
    """``gunicorn algosaas.asgi:application -k uvicorn_worker.UvicornWorker`` on a free port."""
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "algosaas.asgi:application",
        "-k",
        "uvicorn_worker.UvicornWorker",
        "-w",
        str(workers),
        "-b",
        f"127.0.0.1:{port}",
    ]
    return Web(Process.start(name, argv, env, workdir), f"http://127.0.0.1:{port}")


def qcluster_process(name: str, env: dict[str, str], workdir: Path) -> Process:
    """``manage.py qcluster``; returns once it says it runs."""
    argv = [sys.executable, str(BASE_DIR / "manage.py"), "qcluster"]
    p = Process.start(name, argv, env, workdir)
    wait_for(
        lambda: "running." in p.log() or not p.alive(),
        timeout=60,
        what=f"{name} to start",
        logs=p.tail,
    )
    assert p.alive(), p.tail()
    return p


@dataclass
class Web:
    """A web process and a tiny JSON client of its API."""

    process: Process
    base: str

    def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        url = f"{self.base}{path}"  # always http://127.0.0.1:<port>
        req = urllib.request.Request(url, data=data, method=method)  # noqa: S310
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=15) as r:  # noqa: S310 (loopback)
                raw = r.read()
                status = r.status
        except urllib.error.HTTPError as e:
            raw, status = e.read(), e.code
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def ready(self) -> bool:
        if not self.process.alive():
            pytest.fail(f"{self.process.name} exited\n{self.process.tail()}")
        try:
            return self.request("GET", "/readyz")[0] == 200
        except OSError:  # not listening yet
            return False
