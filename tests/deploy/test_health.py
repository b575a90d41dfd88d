"""``/healthz`` (liveness: the process alone) and ``/readyz`` (readiness: database and Redis)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

pytestmark = pytest.mark.django_db


def test_healthz_answers_without_login_or_any_query(client):
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert len(queries) == 0
    assert "no-cache" in response["Cache-Control"]


def test_readyz_is_ok_with_the_database_and_no_redis_configured(client, settings):
    settings.REDIS_URL = ""

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok"}


def test_readyz_checks_redis_when_it_is_configured(client, redis_cache):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_readyz_names_a_redis_that_does_not_answer(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "error",
        "database": "ok",
        "redis": "unavailable",
        "failing": ["redis"],
    }


def test_readyz_names_a_database_that_does_not_answer(client, settings, monkeypatch):
    from django.db.utils import OperationalError

    from algosaas import health

    class DownDatabase:
        def cursor(self):
            raise OperationalError("connection refused")

    settings.REDIS_URL = ""
    monkeypatch.setattr(health, "connection", DownDatabase())

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["failing"] == ["database"]
    assert response.json()["database"] == "unavailable"


def test_probes_are_not_throttled(client, settings):
    """A probe every second from one address never meets the API's rate limits."""
    settings.REDIS_URL = ""
    answers = {client.get("/readyz").status_code for _ in range(30)}
    answers |= {client.get("/healthz").status_code for _ in range(30)}

    assert answers == {200}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_speak_plain_http_in_production(client, settings, path):
    """Production redirects HTTP to HTTPS, except the probes (compose and balancers use HTTP)."""
    from algosaas.settings import production

    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = production.SECURE_REDIRECT_EXEMPT
    settings.REDIS_URL = ""

    assert client.get(path).status_code == 200
    assert client.get("/login/").status_code == 301


def test_readyz_refuses_post(client):
    assert client.post("/readyz").status_code == 405
