"""Project foundation: settings refuse to start insecurely, deploy checks, health, docs, schema."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent

# A developer's .env must not decide these tests: stub django-environ's reader in the child.
_NO_DOTENV = "import environ\nenviron.Env.read_env = classmethod(lambda cls, *a, **k: None)\n"

AUTH_PATHS = {
    "/api/auth/register/": {"post"},
    "/api/auth/token/": {"post"},
    "/api/auth/token/refresh/": {"post"},
    "/api/auth/token/verify/": {"post"},
    "/api/auth/logout/": {"post"},
    "/api/auth/me/": {"get", "patch"},
    "/api/auth/password/": {"post"},
}


def run_python(code: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter whose environment holds only ``env`` (and PATH)."""
    return subprocess.run(
        [sys.executable, "-c", _NO_DOTENV + code],
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def random_key() -> str:
    return secrets.token_urlsafe(50)


# --- Settings ----------------------------------------------------------------------------------


def test_check_deploy_passes_under_production_settings():
    result = run_python(
        "from django.core.management import execute_from_command_line\n"
        "execute_from_command_line(['manage.py', 'check', '--deploy', '--fail-level', 'WARNING'])",
        DJANGO_SETTINGS_MODULE="algosaas.settings.production",
        SECRET_KEY=random_key(),
        JWT_SIGNING_KEY=random_key(),
    )

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNINGS" not in output
    assert "System check identified no issues" in output


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY"),
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "too-short-0123456789"}, "SECRET_KEY"),
        ({"SECRET_KEY": "django-insecure-" + "x" * 40}, "SECRET_KEY"),
        ({"SECRET_KEY": "k" * 50}, "JWT_SIGNING_KEY"),
    ],
    ids=["empty-secret", "no-secret", "short-secret", "insecure-prefix", "no-jwt-key"],
)
def test_base_settings_refuse_to_load_with_debug_off_and_missing_keys(env, complaint):
    result = run_python("import algosaas.settings.base", DEBUG="0", **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert complaint in result.stderr.splitlines()[-1]


def test_base_settings_load_with_debug_off_and_both_keys():
    result = run_python(
        "import algosaas.settings.base",
        DEBUG="0",
        SECRET_KEY=random_key(),
        JWT_SIGNING_KEY="j" * 50,
    )

    assert result.returncode == 0, result.stderr


def test_default_settings_without_any_environment():
    result = run_python(
        "import json\n"
        "from algosaas.settings import base as s\n"
        "print(json.dumps({\n"
        "  'debug': s.DEBUG,\n"
        "  'access_seconds': s.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds(),\n"
        "  'algorithm': s.SIMPLE_JWT['ALGORITHM'],\n"
        "  'jwt_key_is_secret_key': s.SIMPLE_JWT['SIGNING_KEY'] == s.SECRET_KEY,\n"
        "  'rotate': s.SIMPLE_JWT['ROTATE_REFRESH_TOKENS'],\n"
        "  'blacklist': s.SIMPLE_JWT['BLACKLIST_AFTER_ROTATION'],\n"
        "  'q': s.Q_CLUSTER,\n"
        "  'num_proxies': s.REST_FRAMEWORK['NUM_PROXIES'],\n"
        "  'axes_proxies': s.AXES_IPWARE_PROXY_COUNT,\n"
        "}))",
        DEBUG="1",
    )

    assert result.returncode == 0, result.stderr
    defaults = json.loads(result.stdout.strip().splitlines()[-1])
    assert defaults["access_seconds"] == 15 * 60
    assert defaults["algorithm"] == "HS256"
    assert defaults["jwt_key_is_secret_key"] is False
    assert defaults["rotate"] is True
    assert defaults["blacklist"] is True
    assert defaults["q"]["retry"] > defaults["q"]["timeout"]
    assert defaults["q"]["catch_up"] is False
    assert defaults["num_proxies"] == 0
    assert defaults["axes_proxies"] == 0


def test_loaded_settings_keep_the_invariants():
    from algosaas.settings import base

    assert base.Q_CLUSTER["retry"] > base.Q_CLUSTER["timeout"]
    assert base.Q_CLUSTER["catch_up"] is False
    assert settings.SIMPLE_JWT["SIGNING_KEY"] != settings.SECRET_KEY
    assert settings.SIMPLE_JWT["ALGORITHM"] == "HS256"
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds() <= 15 * 60


# --- Health, docs, schema ----------------------------------------------------------------------


@pytest.mark.django_db
def test_healthz_answers_ok_without_login(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_ok_when_the_database_is_down(client, monkeypatch):
    """Liveness never touches the database (``/readyz`` does; tests/deploy/test_health.py)."""
    from algosaas import health

    monkeypatch.setattr(health, "database_ok", lambda: pytest.fail("healthz queried the DB"))

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_healthz_refuses_post(client):
    assert client.post("/healthz").status_code == 405


@pytest.mark.parametrize("path", ["/docs", "/docs/"])
def test_docs_redirects_to_the_api_docs(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == "/api/docs/"


@pytest.mark.django_db
def test_api_docs_page_opens_without_login(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_schema_lists_the_auth_endpoints_with_their_methods(schema):
    for path, methods in AUTH_PATHS.items():
        assert path in schema["paths"], path
        assert methods <= set(schema["paths"][path]), (path, set(schema["paths"][path]))


def test_schema_documents_bearer_jwt_auth(schema):
    schemes = schema["components"]["securitySchemes"].values()

    assert any(s.get("type") == "http" and s.get("scheme") == "bearer" for s in schemes)
    me = schema["paths"]["/api/auth/me/"]["get"]
    assert me.get("security"), "GET /api/auth/me/ should require authentication"
