"""gunicorn SIGKILLed in the middle of a burst of keyed order POSTs, restarted, every key retried.

The requests the kill cuts leave their keys IN_FLIGHT; after the lease (short here) a retry
takes the key over and answers — never a 409 for ever — and no key ever makes two orders.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework_simplejwt.tokens import RefreshToken

from algosaas.models import IdempotencyKey
from execution.models import Order
from execution.tests.faults.cluster import database_url, postgres_only, wait_for
from strategies.tests.factories import ensure_seeded_instruments
from tests.security.conftest import build_estate

pytestmark = [
    postgres_only,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(240),
]

LEASE = 4  # seconds an in-flight key is held (IDEMPOTENCY_LEASE_SECONDS in the server)
KEYS = 100
BODY = {"side": "BUY", "order_type": "MARKET", "quantity": 1}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Gunicorn:
    proc: subprocess.Popen[bytes]
    port: int

    @classmethod
    def start(cls, log: Path) -> Gunicorn:
        """Serve ``algosaas.wsgi`` on the test database, on a free port; wait until it accepts."""
        env = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
        env.update(
            DJANGO_SETTINGS_MODULE="algosaas.settings.test",
            DATABASE_URL=database_url(),
            IDEMPOTENCY_LEASE_SECONDS=str(LEASE),
            THROTTLE_USER="1000000/min",
        )
        port = _free_port()
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "algosaas.wsgi", "-w", "3",
                 "-b", f"127.0.0.1:{port}", "--log-level", "warning"],
                cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: kill() takes every worker
            )  # fmt: skip
        server = cls(proc, port)

        def accepting() -> bool:
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            return False

        wait_for(accepting, timeout=60, what="gunicorn to accept connections")
        return server

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, mid-request."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def post(self, path: str, token: str, key: str) -> tuple[int, dict] | None:
        """POST the order body with ``key``; None if the connection died (the server was killed)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(
                "POST",
                path,
                body=json.dumps(BODY),
                headers={
                    "Authorization": f"Bearer {token}",
                    "Content-Type": "application/json",
                    "Idempotency-Key": key,
                },
            )
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"{}")
        except (OSError, http.client.HTTPException):
            return None
        finally:
            conn.close()


def test_keys_of_requests_killed_with_gunicorn_are_released_and_place_one_order_each(
    user, tmp_path
):
    ensure_seeded_instruments()  # a transactional test before may have flushed them
    estate = build_estate(user)
    path = f"/api/deployments/{estate.deployment.pk}/orders/"
    token = str(RefreshToken.for_user(user).access_token)
    orders = Order.objects.filter(deployment=estate.deployment, source="manual").exclude(
        pk=estate.manual_order.pk
    )
    keys = [f"burst-{n:03d}" for n in range(KEYS)]
    log = tmp_path / "gunicorn.log"
    server = Gunicorn.start(log)
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = {key: pool.submit(server.post, path, token, key) for key in keys}

            def mid_burst() -> bool:
                rows = IdempotencyKey.objects.filter(user=user)
                done = rows.filter(state=IdempotencyKey.State.DONE).count()
                return done >= KEYS // 3 and rows.filter(state="IN_FLIGHT").exists()

            wait_for(mid_burst, timeout=120, what="a third of the burst answered", interval=0.02)
            server.kill()
            first = {key: f.result() for key, f in futures.items()}
    finally:
        server.kill()
    stuck = set(
        IdempotencyKey.objects.filter(user=user, state="IN_FLIGHT").values_list("key", flat=True)
    )
    assert stuck, "the kill should have cut some requests mid-way"
    assert all(first[key] is None for key in stuck)
    killed_at = time.monotonic()

    server = Gunicorn.start(log)
    answers: dict[str, dict] = {}
    try:
        pending = list(keys)
        while pending:
            late = time.monotonic() - killed_at > LEASE + 10
            for key in list(pending):
                result = server.post(path, token, key)
                assert result is not None, log.read_text(errors="replace")[-3000:]
                status, body = result
                if status == 201:
                    answers[key] = body
                    pending.remove(key)
                    continue
                assert status == 409, (key, status, body)
                assert body["error"]["code"] == "idempotency_key_in_flight"
                assert not late, f"{key} still answers 409 {LEASE + 10} s after the kill"
            if pending:
                time.sleep(0.5)
    finally:
        server.kill()

    assert not IdempotencyKey.objects.filter(user=user, state="IN_FLIGHT").exists()
    ids = [body["id"] for body in answers.values()]
    assert len(set(ids)) == KEYS, "two keys answered with one order"
    assert orders.count() == KEYS, f"{orders.count()} orders for {KEYS} keys"
    for key, result in first.items():  # an answer given before the kill is the one kept
        if result is not None and result[0] == 201:
            assert answers[key]["id"] == result[1]["id"], key
    print(f"{len(stuck)} keys in flight at the kill; {KEYS} orders, one per key")
