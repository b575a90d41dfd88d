"""``run_ticker`` as real processes: one per cluster, the second takes over when the first stops.

The processes run against this test's database and the fake Kite (REST and ticker) on loopback.
Bars close on the packets' exchange time, so the test stamps ticks in the coming minutes and
never waits for the wall clock.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from execution.models import Bar
from execution.tests.faults.cluster import database_url, postgres_only
from tests.fakes.kite import shared_server
from tests.fakes.kite.ticker import FakeTick

pytestmark = [pytest.mark.django_db(transaction=True), postgres_only]
INFY = 408065


def _start(account_id: int, ticker_url: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "algosaas.settings.test",
        "DATABASE_URL": database_url(),
        "KITE_API_ROOT": shared_server().url,
        "KITE_TICKER_ROOT": ticker_url,
        "KITE_HISTORY_REQUESTS_PER_SECOND": "0",
        "BROKER_RATE_LIMIT_REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "manage.py", "run_ticker", "--account", str(account_id),
           "--instrument", "NSE:INFY", "--wait-lock", "0.2"]  # fmt: skip
    return subprocess.Popen(
        cmd, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip


def _lines(proc: subprocess.Popen[str]) -> list[str]:
    """The process's output lines so far, collected by a thread (the list grows)."""
    lines: list[str] = []

    def read() -> None:
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def _wait(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[str], *, read: bool = True) -> str:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.stdout.read() if read and proc.stdout else ""


def test_one_ticker_per_cluster_and_bars_written_once(kite_account, fake_kite, fake_ticker):
    call_command("import_instruments", "--from", "kite", "--account", str(kite_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    first = _start(kite_account.pk, fake_ticker.url)
    second = None
    try:
        assert fake_ticker.wait_mode(INFY, "full", timeout=30), _stop(first)
        second = _start(kite_account.pk, fake_ticker.url)
        waiting = _lines(second)
        assert _wait(lambda: any("holds the cluster lock" in line for line in waiting)), waiting
        assert fake_ticker.connects == 1 and second.poll() is None

        # the minute after the next, stamped by the exchange: watched whole from its start
        m = (int(time.time()) // 60 + 2) * 60
        for ts, price, vol in [(m - 30, 1500, 1000), (m + 1, 1501, 1010), (m + 30, 1505, 1050),
                               (m + 59, 1503, 1070), (m + 61, 1504, 1080)]:  # fmt: skip
            fake_ticker.send([FakeTick(INFY, price, ts, volume=vol)])
        row = Bar.objects.filter(instrument__kite_token=INFY, ts=datetime.fromtimestamp(m, UTC))
        assert _wait(row.exists), _stop(first)
        assert (row.get().open, row.get().high, row.get().close, row.get().volume) == (
            Decimal("1501"),
            Decimal("1505"),
            Decimal("1503"),
            70,
        )  # the day's volume: 1070 at the minute's last tick, 1000 before it

        out = _stop(first)
        assert "Ticker on for 1 instruments" in out
        # the waiting one takes the lock over and connects
        assert _wait(lambda: fake_ticker.connects == 2), waiting
        assert fake_ticker.wait_mode(INFY, "full")
        fake_ticker.send([FakeTick(INFY, 1506, m + 62, volume=1090)])
        assert row.count() == 1
        assert any("Ticker on for 1 instruments" in line for line in waiting)
    finally:
        _stop(first)
        if second is not None:
            _stop(second, read=False)  # its lines are read by ``_lines``
