"""No password, token or Authorization header value in any log line or error response.

Every logger is turned up to DEBUG and a handler with the project's own formatter (the one the
console handler renders production lines with) is put on the root logger; structlog's event
dicts are also recorded raw, before the redaction step, so code that logs a secret is caught even
where the redaction would have hidden it. Then a user's whole journey runs: register, log in,
refresh, /me, create a strategy, deploy, step, a manual order, stop, log out, with failed
attempts along the way.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.conftest import confirm_signup
from execution.services.live import deployment_step
from strategies.tests.factories import seeded_instrument
from tests.security.conftest import STEP_AHEAD

pytestmark = pytest.mark.django_db

PASSWORD = "tangerine-Velvet-anchor-8812"
WRONG_PASSWORD = "wrong-Velvet-anchor-0000"


class Recorder:
    """Collects rendered log lines and raw structlog event dicts."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.events: list[dict[str, Any]] = []

    def __call__(self, _logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
        self.events.append(dict(event_dict))
        return event_dict

    def text(self) -> str:
        return self.stream.getvalue() + "\n".join(repr(e) for e in self.events)


@pytest.fixture
def all_logs() -> Iterator[Recorder]:
    recorder = Recorder()
    root = logging.getLogger()
    formatter = next((h.formatter for h in root.handlers if h.formatter), None)
    assert formatter is not None, "the project's log formatter is not configured"
    handler = logging.StreamHandler(recorder.stream)
    handler.setFormatter(formatter)
    handler.setLevel(logging.DEBUG)
    loggers = [root] + [
        logging.getLogger(name)
        for name, obj in logging.root.manager.loggerDict.items()
        if isinstance(obj, logging.Logger)
    ]
    levels = {logger: logger.level for logger in loggers}
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
    root.addHandler(handler)
    # In place, so loggers structlog has already cached see the recorder too; first in the chain,
    # so it sees events before the redaction step does.
    processors = structlog.get_config()["processors"]
    processors.insert(1, recorder)
    try:
        yield recorder
    finally:
        processors.remove(recorder)
        root.removeHandler(handler)
        for logger, level in levels.items():
            logger.setLevel(level)


def journey() -> tuple[list[str], list[bytes]]:
    """Run a user's whole journey; return the secrets it used and every error response body."""
    client = APIClient()
    errors: list[bytes] = []

    def call(method: str, url: str, body: dict | None = None, **extra):
        response = getattr(client, method)(url, body, format="json", **extra)
        if response.status_code >= 400:
            errors.append(response.content)
        return response

    email = "journey@example.com"
    call("post", "/api/auth/register/", {"email": email, "password": "short"})  # refused
    assert (
        call("post", "/api/auth/register/", {"email": email, "password": PASSWORD}).status_code
        == 202
    )
    confirm_signup(email)
    call("post", "/api/auth/token/", {"email": email, "password": WRONG_PASSWORD})  # refused
    tokens = call("post", "/api/auth/token/", {"email": email, "password": PASSWORD}).json()
    rotated = call("post", "/api/auth/token/refresh/", {"refresh": tokens["refresh"]}).json()
    call("post", "/api/auth/token/refresh/", {"refresh": tokens["refresh"]})  # spent: refused
    call("post", "/api/auth/token/verify/", {"token": tokens["access"] + "x"})  # refused
    call("get", "/api/auth/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}tampered")

    bearer = f"Bearer {rotated['access']}"
    client.credentials(HTTP_AUTHORIZATION=bearer)
    assert call("get", "/api/auth/me/").status_code == 200
    strategy = call(
        "post",
        "/api/strategies/",
        {
            "name": "Journey",
            "strategy_type": "sma_crossover",
            "params": {"fast": 2, "slow": 5, "mode": "long_short"},
            "instrument": seeded_instrument().pk,
            "timeframe": "5s",
            "quantity": 10,
            "product": "MIS",
        },
    ).json()
    deployment = call("post", f"/api/strategies/{strategy['id']}/deploy/", {}).json()
    deployment_step(deployment_id=deployment["id"], now=timezone.now() + STEP_AHEAD)
    order = call(
        "post",
        f"/api/deployments/{deployment['id']}/orders/",
        {"side": "BUY", "order_type": "MARKET", "quantity": 1},
    )
    assert order.status_code == 201, order.content
    call("post", f"/api/deployments/{deployment['id']}/orders/", {"side": "BUY"})  # refused
    call("get", "/api/orders/999999/")  # 404
    assert call("post", f"/api/strategies/{strategy['id']}/stop/", {}).status_code == 200
    call("post", "/api/auth/logout/", {"refresh": rotated["refresh"]})
    call("post", "/api/auth/logout/", {"refresh": "not-a-token"})  # refused
    secrets = [
        PASSWORD,
        WRONG_PASSWORD,
        tokens["access"],
        tokens["refresh"],
        rotated["access"],
        rotated["refresh"],
        bearer,
    ]
    # A token's signature alone is as good as the token for forging nothing, yet is its secret
    # part: look for the signatures separately, in case a line held a truncated token.
    secrets += [t.rsplit(".", 1)[1] for t in secrets if t.count(".") == 2]
    return secrets, errors


def test_no_secret_reaches_a_log_line_or_an_error_body(all_logs):
    secrets, errors = journey()

    logged = all_logs.text()
    assert "request_finished" in logged and "user_registered" in logged  # logging really ran
    assert len(all_logs.events) > 20
    for secret in secrets:
        assert secret not in logged, f"a secret reached the logs: {secret[:12]}…"
        for body in errors:
            assert secret.encode() not in body, f"a secret reached an error body: {body[:200]!r}"
    assert len(errors) >= 8


def test_a_secret_logged_by_mistake_is_redacted_in_the_rendered_line(all_logs):
    """Defence in depth: the redaction step masks credential-looking keys and bearer values."""
    logger = structlog.get_logger("tests.security")
    token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLXNlY3JldA"
    logger.warning("oops", password=PASSWORD, authorization=f"Bearer {token}", note=token)
    logging.getLogger("tests.security.stdlib").warning("header was Bearer %s", token)

    rendered = all_logs.stream.getvalue()
    assert "oops" in rendered and "header was" in rendered
    assert PASSWORD not in rendered
    assert token not in rendered
