"""Schemathesis against the LIVE server, with a real JWT, every check on, bounded in time.

The test starts ``manage.py runserver`` (DEBUG off, as in production) on a free 127.0.0.1 port
against pytest-django's test database, seeds a user with a deployed, traded strategy, an open
manual order and a finished backtest, and runs ``schemathesis run --checks all`` over the whole
schema: no 5xx, every response as documented, schema-violating input refused with a 4xx.

One allowance, in ``CONFIG``: ``positive_data_acceptance`` ("a schema-valid request is
accepted") also takes 400 on the operations whose bodies carry rules OpenAPI 3.0 cannot state -
an email not yet registered and a strong password, an instrument id that exists, a strategy type
from the catalogue with its own parameters, exactly one of quantity and allocation_pct, numeric
bounds of decimal strings (capital >= 1000), the prices each order type needs, start <= end,
a rule's text in the rule language (its grammar is no pattern), a broker API key not linked yet, a
Dhan access token that is a real, unexpired token of that client.
Everything else, positive_data_acceptance included, runs as schemathesis ships it.

What the first runs found, and the fixes: a 500 on a UTC offset PostgreSQL refuses
(``?created_before=...+16:26``); Django's HTML 404 page for unrouted /api/ paths; nullable live
fields documented as not nullable; an order cancel documented as 204 while it answers 200 with
the order; ``?page_size=abc`` and ``?archived=abc`` silently ignored; decimal filters for ids
(``?instrument=1.5``); ``?status=`` refused where every other empty filter means "not given";
deploying an archived strategy answered 400 instead of 409; form bodies documented with JSON
types; decimal patterns that matched "" and "-"; no error responses documented at all.

``SCHEMATHESIS_MAX_EXAMPLES`` and ``SCHEMATHESIS_SEED`` tune a run; ``SCHEMATHESIS_KEEP=1``
prints its output even when it passes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from tests.security.conftest import build_estate

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "10"))
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261125")
# seconds: a normal run took about two minutes on two cores with the routes of session 5; the
# routes grew since (brokers, postbacks, optimisation pages) and a loaded machine doubles it
RUN_TIMEOUT = 900

BUSINESS_RULE_BODIES = (
    r"^/api/(auth/register/|auth/me/|strategies/|strategies/\{id\}/"
    r"|strategies/\{id\}/(deploy|backtests|optimisations)/|deployments/\{id\}/orders/"
    r"|orders/\{id\}/|rules/parse/|brokers/|brokers/\{id\}/token/)$"
)

CONFIG = """\
[[operations]]
include-path-regex = '{business}'
include-method = ["POST", "PUT", "PATCH"]
# 400: rules OpenAPI 3.0 cannot state (see the module docstring); 422: an Idempotency-Key the
# fuzzer already sent with another body, or a risk rule refusing an order change.
checks.positive_data_acceptance.expected-statuses = [
  "2xx", "3xx", "400", "401", "403", "404", "409", "422", "429", "5xx",
]

# Real ids, so the operations below reach their logic instead of answering 404 to random ids.
# (Not DELETE /api/orders/{{id}}/: it cancels, and a cancelled order stays readable, as a
# broker's order book keeps it; schemathesis's use_after_free check would read that as a bug.)
[[operations]]
include-path-regex = '^/api/orders/\\{{id\\}}/'
include-method = ["GET", "PATCH"]
parameters = {{ "path.id" = {order} }}

[[operations]]
include-path-regex = '^/api/deployments/\\{{id\\}}/'
parameters = {{ "path.id" = {deployment} }}

[[operations]]
include-path-regex = '^/api/backtests/\\{{id\\}}/'
parameters = {{ "path.id" = {backtest} }}

[[operations]]
include-path-regex = '^/api/optimisations/\\{{id\\}}/'
parameters = {{ "path.id" = {sweep} }}
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="runs a live server on the test database, which must be PostgreSQL (SQLite's "
        "in-memory test database is invisible to another process)",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def wait_until_up(url: str, server: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


@pytest.fixture
def live_server_process(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "algosaas.settings.test",
        "DATABASE_URL": database_url(),
        "CONN_MAX_AGE": "0",  # every request closes its connection: the test DB can be dropped
        "DEBUG": "0",
        # The same keys as this process, so the JWT minted here is valid there.
        "SECRET_KEY": settings.SECRET_KEY,
        "JWT_SIGNING_KEY": settings.SIMPLE_JWT["SIGNING_KEY"],
        "ALLOWED_HOSTS": "127.0.0.1",
        # Let the fuzzer reach the logic behind the auth endpoints instead of their throttle.
        "THROTTLE_LOGIN": "100000/min",
        "THROTTLE_REGISTER": "100000/min",
        "LOG_LEVEL": "WARNING",
        "Q_SYNC": "1",
        # sweeps run inside the request here (Q_SYNC): keep a fuzzed one small
        "MAX_SWEEP_COMBINATIONS": "50",
    }
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/healthz", server)
        yield base, tmp_path / "server.log"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_nothing_against_the_live_server(user, live_server_process, tmp_path):
    base, server_log = live_server_process
    estate = build_estate(user)
    token = str(RefreshToken.for_user(user).access_token)
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        CONFIG.format(
            business=BUSINESS_RULE_BODIES,
            order=estate.manual_order.pk,
            deployment=estate.deployment.pk,
            backtest=estate.backtest.pk,
            sweep=estate.ids["sweep"][0],
        )
    )
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{base}/api/schema/?format=json",
        "--url",
        base,
        "--checks",
        "all",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--seed",
        SEED,
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "-H",
        f"Authorization: Bearer {token}",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path / "report"),
    ]
    started = time.monotonic()
    result = subprocess.run(
        command,
        cwd=tmp_path,  # schemathesis keeps its cache of crashes in ./.schemathesis
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
    )
    took = time.monotonic() - started
    output = result.stdout + result.stderr
    if result.returncode != 0 or os.environ.get("SCHEMATHESIS_KEEP"):
        print(output)
        print("--- server log (tail) ---")
        print(server_log.read_text()[-20_000:])
    assert "selected" in output, output  # the schema loaded and operations were tested
    assert result.returncode == 0, output[-15_000:]
    assert took < RUN_TIMEOUT
