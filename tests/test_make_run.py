"""`make run` in a real pseudo-terminal: it serves, and one Ctrl-C stops everything cleanly.

A newcomer's first command. The terminal sends SIGINT to the whole foreground process group,
so this is only faithful with a pty (pexpect), never with ``subprocess.send_signal``.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import socket
import time
import urllib.request
from pathlib import Path

import pexpect
import psutil
import pytest
from django.conf import settings

pytestmark = pytest.mark.slow

BASE_DIR = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serving(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def make_run_env(tmp_path: Path) -> dict[str, str]:
    """The newcomer's environment: an embedded SQLite file of its own, no test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "Q_", "PYTEST"))}
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    env.pop("REDIS_URL", None)
    env["TERM"] = "dumb"
    return env


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_one_ctrl_c_stops_server_and_cluster_cleanly(make_run_env: dict[str, str]) -> None:
    port = _free_port()
    child = pexpect.spawn(
        "make",
        ["run", f"PORT={port}"],
        cwd=str(BASE_DIR),
        env=make_run_env,
        encoding="utf-8",
        timeout=240,
        dimensions=(50, 200),
    )
    terminal = child.logfile_read = io.StringIO()
    try:
        child.expect(f"Serving on http://127.0.0.1:{port}/")
        deadline = time.monotonic() + 120
        while not _serving(f"http://127.0.0.1:{port}/"):
            assert time.monotonic() < deadline, "the web server never answered"
            assert child.isalive(), f"make run ended early:\n{child.before}"
            time.sleep(0.5)
            child.expect([pexpect.TIMEOUT], timeout=0.1)  # keep reading the terminal
        # The cluster is up too: its own processes run under make.
        make_proc = psutil.Process(child.pid)
        names = " ".join(" ".join(p.cmdline()) for p in make_proc.children(recursive=True))
        assert "qcluster" in names and "uvicorn algosaas.asgi:application" in names
        descendants = make_proc.children(recursive=True)

        child.expect([pexpect.TIMEOUT], timeout=0.5)
        before_ctrl_c = len(terminal.getvalue())
        child.sendintr()  # one Ctrl-C, as the terminal delivers it
        child.expect(pexpect.EOF, timeout=60)
        shutdown_output = terminal.getvalue()[before_ctrl_c:]
    finally:
        if child.isalive():
            child.terminate(force=True)

    assert "Traceback" not in shutdown_output, shutdown_output[-3000:]
    assert "RecursionError" not in shutdown_output
    assert "Segmentation fault" not in shutdown_output
    assert "has stopped" in shutdown_output, shutdown_output  # the cluster stopped itself
    lines = [line for line in shutdown_output.splitlines() if line.strip()]
    assert len(lines) <= 12, "\n".join(lines[-40:])
    # Nothing is left behind: every process make started is gone and the port is free again.
    _gone, alive = psutil.wait_procs(descendants, timeout=20)
    assert not alive, [" ".join(p.cmdline()) for p in alive]
    assert not _serving(f"http://127.0.0.1:{port}/")


def _cluster(make_proc: psutil.Process) -> psutil.Process:
    """The qcluster process `make run` started (a Python process whose parent is the shell)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for p in make_proc.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if "qcluster" in p.cmdline() and not p.parent().name().startswith("python"):
                    return p
        time.sleep(0.01)
    pytest.fail("make run started no qcluster")


def _catches_sigint(pid: int) -> bool:
    """Whether the process has a SIGINT handler of its own (its SigCgt mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGINT - 1)))
    return False


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_a_ctrl_c_while_the_cluster_still_starts_stops_it_too(make_run_env: dict[str, str]) -> None:
    """Right after "Serving on" the cluster is still loading Django, ignoring SIGINT (a
    background job's inheritance) until it installs its handler: the terminal's Ctrl-C misses
    it, and uvicorn may already serve. The shell then owes it one SIGINT, sent once it can
    take it; without that the cluster ran on after the Ctrl-C and `make run` never returned."""
    port = _free_port()
    child = pexpect.spawn(
        "make",
        ["run", f"PORT={port}"],
        cwd=str(BASE_DIR),
        env=make_run_env,
        encoding="utf-8",
        timeout=240,
        dimensions=(50, 200),
    )
    terminal = child.logfile_read = io.StringIO()
    try:
        child.expect(f"Serving on http://127.0.0.1:{port}/")
        cluster = _cluster(psutil.Process(child.pid))
        caught_before = _catches_sigint(cluster.pid)
        child.sendintr()  # one Ctrl-C, while the cluster still starts
        child.expect(pexpect.EOF, timeout=90)
    finally:
        if child.isalive():
            child.terminate(force=True)
    assert not caught_before, "the cluster had already started: nothing was tested"
    assert "Traceback" not in terminal.getvalue(), terminal.getvalue()[-3000:]
    _gone, alive = psutil.wait_procs([cluster], timeout=20)
    assert not alive
