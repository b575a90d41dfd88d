"""Oversized bodies, queries and headers are refused in the API's JSON shape before any view
parses them, below gunicorn's own limits; deploy honours Idempotency-Key."""

import http.client
import json
import os
import runpy
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.test import override_settings

from algosaas.middleware import MAX_HEADER_FIELD, MAX_QUERY_PARAMETER, MAX_QUERY_STRING
from strategies.models import Deployment
from strategies.tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_an_oversized_json_body_is_refused_with_413(api_client):
    body = json.dumps({"name": "x" * 5000})
    response = api_client.post("/api/strategies/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
def test_a_body_under_the_limit_reaches_the_view(api_client):
    response = api_client.post("/api/strategies/", {"name": "small"}, format="json")
    assert response.status_code == 400  # validation, not the size guard
    assert response.json()["error"]["code"] == "invalid"


def test_deploy_with_the_same_idempotency_key_deploys_once(api_client, user):
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/deploy/"
    first = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-1")
    again = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-1")
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again["Idempotent-Replayed"] == "true"
    assert Deployment.objects.filter(strategy=strategy).count() == 1


def test_deploy_key_reused_with_another_body_is_422(api_client, user):
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/deploy/"
    api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-2")
    response = api_client.post(
        url, {"feed": "replay"}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-2"
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"


def test_a_refused_deploy_does_not_burn_the_key(api_client, user):
    strategy = StrategyFactory(owner=user)
    url = f"/api/strategies/{strategy.pk}/deploy/"
    api_client.post(url, {}, format="json")  # now RUNNING
    refused = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-3")
    assert refused.status_code == 409
    api_client.post(f"/api/strategies/{strategy.pk}/stop/", {}, format="json")
    retried = api_client.post(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="deploy-3")
    assert retried.status_code == 201


# --- query and header lengths: the app's bounds, below gunicorn's -------------------------------


def test_an_over_long_query_parameter_is_a_400_naming_it(api_client):
    response = api_client.get("/api/strategies/", {"search": "x" * 5000})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == ["search"]
    assert "at most 1024 characters" in error["fields"]["search"][0]


def test_a_query_parameter_at_the_limit_reaches_the_view(api_client):
    response = api_client.get("/api/strategies/", {"search": "x" * MAX_QUERY_PARAMETER})
    assert response.status_code == 200


def test_an_over_long_query_string_of_short_parameters_is_a_400(api_client):
    query = "&".join(f"p{i}=" + "x" * 100 for i in range(50))  # ~5,200 characters
    response = api_client.get(f"/api/strategies/?{query}")
    assert response.status_code == 400
    assert "query string is limited to 4096" in response.json()["error"]["message"]


def test_an_over_long_header_is_a_json_431_naming_it(api_client):
    response = api_client.get("/api/strategies/", HTTP_X_PROBE="a" * 10 * 1024)
    assert response.status_code == 431
    error = response.json()["error"]
    assert error["code"] == "request_header_fields_too_large"
    assert list(error["fields"]) == ["X-Probe"]


def test_pages_outside_the_api_are_not_bounded_by_the_api_s_limits(client):
    assert client.get("/login/", {"next": "/" + "x" * 2000}).status_code == 200


def gunicorn_limits() -> dict:
    return runpy.run_path(str(ROOT / "gunicorn.conf.py"))


def test_the_app_s_bounds_sit_below_gunicorn_s():
    server = gunicorn_limits()
    request_line_overhead = len("DELETE  HTTP/1.1") + 200  # method, version and a long path
    assert MAX_QUERY_STRING + request_line_overhead < server["limit_request_line"]
    assert MAX_QUERY_PARAMETER < MAX_QUERY_STRING
    assert server["limit_request_field_size"] > MAX_HEADER_FIELD
    assert server["limit_request_line"] <= 8190  # gunicorn's ceiling: more is silently 8190


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def gunicorn_server():
    """``gunicorn algosaas.wsgi`` started as in production, from the project's directory."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "algosaas.settings.test",
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "algosaas.wsgi", "-w", "1", "-b", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(timeout=15)


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, response.getheader("Content-Type", ""), json.loads(body or "null")
    except json.JSONDecodeError:
        return response.status, response.getheader("Content-Type", ""), {}
    finally:
        conn.close()


@pytest.mark.slow
def test_gunicorn_lets_the_app_answer_oversized_queries_and_headers_in_json(gunicorn_server):
    """What the outside probe sent: a 5,000-character ``?search=`` (gunicorn's default said
    414 in HTML) and a 10 KB header (431 in HTML); both now reach the app's JSON answer."""
    status, kind, body = _get(gunicorn_server, "/api/strategies/?search=" + "x" * 5000)
    assert (status, kind) == (400, "application/json")
    assert list(body["error"]["fields"]) == ["search"]

    status, kind, body = _get(gunicorn_server, "/api/strategies/", {"X-Probe": "a" * 10240})
    assert (status, kind) == (431, "application/json")
    assert list(body["error"]["fields"]) == ["X-Probe"]
