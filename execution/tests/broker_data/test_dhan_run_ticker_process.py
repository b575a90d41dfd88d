"""``run_ticker --account <Dhan account>`` as a real process: it picks Dhan's feed from the
account, subscribes to the instrument on the fake feed and stores its one-minute bar once."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from execution.models import Bar
from execution.tests.broker_data.test_run_ticker_process import _stop, _wait
from execution.tests.faults.cluster import database_url, postgres_only
from tests.fakes.dhan import shared_server

pytestmark = [pytest.mark.django_db(transaction=True), postgres_only]


def test_run_ticker_streams_dhans_feed_into_bars(dhan_account, fake_dhan, fake_dhan_feed):
    call_command("import_instruments", "--from", "dhan", "--account", str(dhan_account.pk),
                 "--exchange", "NSE", stdout=StringIO())  # fmt: skip
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "algosaas.settings.test",
        "DATABASE_URL": database_url(),
        "DHAN_API_ROOT": shared_server().root,
        "DHAN_FEED_ROOT": fake_dhan_feed.url,
        "BROKER_RATE_LIMIT_REDIS_URL": "",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "manage.py", "run_ticker", "--account", str(dhan_account.pk),
           "--instrument", "NSE:INFY", "--wait-lock", "0.2"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=settings.BASE_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        assert fake_dhan_feed.wait_subscribed(("NSE_EQ", 1594), timeout=30), _stop(proc)
        m = (int(time.time()) // 60 + 2) * 60  # a minute watched whole from its start
        for ts, price, vol in [(m - 30, 1500, 1000), (m + 1, 1501, 1010), (m + 30, 1505, 1050),
                               (m + 59, 1503, 1070), (m + 61, 1504, 1080)]:  # fmt: skip
            fake_dhan_feed.send("NSE_EQ", 1594, price, ts, vol)
        row = Bar.objects.filter(
            instrument__dhan_security_id=1594, ts=datetime.fromtimestamp(m, UTC)
        )
        assert _wait(row.exists), _stop(proc)
        bar = row.get()
        assert (bar.open, bar.high, bar.close, bar.volume) == (
            Decimal("1501"), Decimal("1505"), Decimal("1503"), 70
        )  # fmt: skip
        out = _stop(proc)
        assert "Ticker on for 1 instruments" in out and row.count() == 1
    finally:
        _stop(proc, read=False)
