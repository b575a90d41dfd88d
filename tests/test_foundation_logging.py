"""Logging: every line of a request carries its request_id; no password or token is ever logged."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from django.conf import settings

from algosaas.logconfig import REDACTED, redact_secrets

PASSWORD = "violet-kettle-orbit-913"
WRONG_PASSWORD = "guess-number-one-42"
JWT_LIKE = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoiMSJ9.c2lnbmF0dXJlLWJ5dGVz"


@pytest.fixture
def log_lines():
    """Capture the root logger through the project's own formatter, rendered as JSON lines."""
    config = dict(settings.LOGGING["formatters"]["structured"])
    formatter_class = config.pop("()")
    config["processors"] = [*config["processors"][:-1], structlog.processors.JSONRenderer()]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter_class(**config))
    root = logging.getLogger()
    root.addHandler(handler)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    lines.text = stream.getvalue  # type: ignore[attr-defined]
    yield lines
    root.removeHandler(handler)


@pytest.mark.django_db
def test_auth_flow_logs_carry_request_ids_and_no_secrets(anon_client, log_lines):
    from accounts.tests.conftest import confirm_signup

    register = anon_client.post(
        "/api/auth/register/", {"email": "logs@example.com", "password": PASSWORD}
    )
    confirm_signup("logs@example.com")
    failed = anon_client.post(
        "/api/auth/token/", {"email": "logs@example.com", "password": WRONG_PASSWORD}
    )
    login = anon_client.post(
        "/api/auth/token/", {"email": "logs@example.com", "password": PASSWORD}
    )
    tokens = login.json()
    me = anon_client.get("/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    refreshed = anon_client.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
    reused = anon_client.post("/api/auth/token/refresh/", {"refresh": tokens["refresh"]})
    logout = anon_client.post("/api/auth/logout/", {"refresh": refreshed.json()["refresh"]})
    assert [r.status_code for r in (register, failed, login, me, refreshed, reused, logout)] == [
        202,
        401,
        200,
        200,
        200,
        401,
        205,
    ]

    lines = log_lines()
    assert lines, "nothing was logged"
    missing = [line for line in lines if not line.get("request_id")]
    assert not missing, missing
    started = [line for line in lines if line["event"] == "request_started"]
    assert len(started) == 7
    assert len({line["request_id"] for line in started}) == 7
    registered = next(line for line in lines if line["event"] == "user_registered")
    assert registered["request_id"] == started[0]["request_id"]

    text = log_lines.text()
    secrets = {
        "password": PASSWORD,
        "wrong password": WRONG_PASSWORD,
        "access token": tokens["access"],
        "refresh token": tokens["refresh"],
        "rotated access token": refreshed.json()["access"],
        "rotated refresh token": refreshed.json()["refresh"],
    }
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} was logged"
    for name in ("access token", "refresh token"):
        signature = secrets[name].rsplit(".", 1)[1]
        assert signature not in text, f"the {name}'s signature was logged"


# --- redact_secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "new_password1",
        "token",
        "refresh",
        "access",
        "Authorization",
        "api_key",
        "secret",
        "cookie",
        "HTTP_AUTHORIZATION",
    ],
)
def test_credential_named_keys_are_masked(key):
    event = {"event": "something_happened", key: "hunter2-hunter2"}

    assert redact_secrets(None, "info", event)[key] == REDACTED


def test_other_keys_are_left_alone():
    event = {"event": "user_registered", "user_id": 7, "email_domain": "example.com"}

    assert redact_secrets(None, "info", dict(event)) == event


def test_bearer_values_are_masked_wherever_they_appear():
    event = {"event": "outgoing", "headers": f"Authorization: Bearer {JWT_LIKE}"}

    rendered = redact_secrets(None, "info", event)["headers"]

    assert JWT_LIKE not in rendered
    assert rendered == f"Authorization: Bearer {REDACTED}"


def test_bare_jwts_inside_messages_are_masked():
    event = {"event": f"could not decode {JWT_LIKE} for user 7"}

    rendered = redact_secrets(None, "info", event)["event"]

    assert JWT_LIKE not in rendered
    assert "for user 7" in rendered


def test_nested_structures_are_masked():
    event = {
        "event": "request",
        "body": {"email": "a@example.com", "password": "hunter2-hunter2"},
        "items": [{"token": "abc"}, f"Bearer {JWT_LIKE}"],
        "pair": ("x", JWT_LIKE),
    }

    rendered = redact_secrets(None, "info", event)

    assert rendered["body"] == {"email": "a@example.com", "password": REDACTED}
    assert rendered["items"][0] == {"token": REDACTED}
    assert JWT_LIKE not in json.dumps(rendered)
    assert rendered["pair"] == ("x", REDACTED)


def test_structlog_loggers_redact_before_rendering(log_lines):
    structlog.get_logger("algosaas.tests").warning(
        "login_attempt", password=PASSWORD, note=f"header was Bearer {JWT_LIKE}"
    )

    text = log_lines.text()
    assert "login_attempt" in text
    assert PASSWORD not in text
    assert JWT_LIKE not in text


def test_stdlib_loggers_redact_before_rendering(log_lines):
    logging.getLogger("algosaas.tests").warning("token was %s", JWT_LIKE)

    text = log_lines.text()
    assert "token was" in text
    assert JWT_LIKE not in text


def _record(name: str, msg, level: int = logging.INFO, **extra) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, None, None)
    record.__dict__.update(extra)
    return record


ROUTINE = [
    _record("django-q", "Process-1a2b processing [backtest-7] 'execution.tasks.run'"),
    _record("django-q", "Processed 'execution.tasks.deployment_step' (step-9)"),
    _record("django-q", "Enqueued [algosaas] 42"),
    _record("django-q", "Process-1 created task dispatch from schedule [dispatch]"),
    _record("django-q", "Process-9 ready for work at 4242"),
    _record("django_structlog.middlewares.request", {"event": "request_started"}),
    _record("django.server", '"GET / HTTP/1.1" 200 2230', status_code=200),
    _record("axes.apps", "AXES: BEGIN version 8.3.1, blocking by username and ip_address"),
]
KEPT = [
    _record("django-q", "Q Cluster alpha-bravo [algosaas] running."),
    _record("django-q", "Q Cluster alpha-bravo has stopped."),
    _record("django-q", "Failed [step-9] - boom", level=logging.ERROR),
    _record("django_structlog.middlewares.request", {"event": "request_finished", "code": 200}),
    _record("django.server", '"GET /nope HTTP/1.1" 404 179', status_code=404),
    _record("axes.watch_login", "AXES: New login failure by {username: ...}."),
]


def test_routine_library_lines_are_debug_and_hidden_at_the_default_level():
    from algosaas.logconfig import RoutineToDebug

    info = RoutineToDebug("INFO")
    assert [info.filter(r) for r in ROUTINE] == [False] * len(ROUTINE)
    assert [info.filter(r) for r in KEPT] == [True] * len(KEPT)
    assert {r.levelname for r in ROUTINE} == {"DEBUG"}  # demoted, not just dropped
    assert [r.levelname for r in KEPT][:2] == ["INFO", "INFO"]


def test_debug_level_shows_the_routine_lines_again():
    from algosaas.logconfig import RoutineToDebug

    debug = RoutineToDebug("DEBUG")
    assert all(debug.filter(_record(r.name, r.msg, **{"status_code": 200})) for r in ROUTINE)


def test_a_management_command_starts_without_library_banners():
    """`manage.py check` (as every command) used to print django-axes' "AXES: BEGIN" line."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env |= {"DJANGO_SETTINGS_MODULE": "algosaas.settings.base", "DEBUG": "1"}
    out = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "AXES" not in out.stdout + out.stderr
    assert out.stdout.strip() == "System check identified no issues (0 silenced)."
