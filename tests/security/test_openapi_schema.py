"""The OpenAPI schema validates with no warning, and documents the API's error answers.

``manage.py spectacular --validate --fail-on-warn`` is what a client generator would choke on;
the error documentation comes from ``algosaas.api.schema`` (a postprocessing hook).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from drf_spectacular.generators import SchemaGenerator

ROOT = Path(__file__).resolve().parents[2]


def test_spectacular_validates_the_schema_without_a_warning(tmp_path):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "algosaas.settings.test"}
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "schema.yaml"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Warning" not in output and "Error" not in output, output
    assert (tmp_path / "schema.yaml").stat().st_size > 10_000


@pytest.fixture(scope="module")
def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_every_error_response_uses_the_one_error_shape(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert {"code", "message", "fields"} <= set(detail["required"])
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, status)


def test_each_operation_documents_the_errors_it_can_answer(schema):
    for path, method, operation in operations(schema):
        codes = set(operation["responses"])
        secured = operation.get("security") and {} not in operation["security"]
        if secured:
            assert "401" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= codes, (method, path)
        if secured and method in ("post", "put", "patch", "delete"):
            assert {"403", "409"} <= codes, (method, path)
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "Idempotency-Key" in headers:
            assert {"409", "422"} <= codes, (method, path)


def test_throttled_operations_document_429(schema):
    for path in ("/api/auth/register/", "/api/auth/token/", "/api/auth/token/refresh/"):
        assert "429" in schema["paths"][path]["post"]["responses"], path
    assert "429" not in schema["paths"]["/api/strategies/"]["get"]["responses"]


def test_the_documented_answers_match_the_views(schema):
    """Spots that schemathesis caught: a cancel answers 200 with the order, and a deployment's
    live fields are null until it has live state."""
    cancel = schema["paths"]["/api/orders/{id}/"]["delete"]["responses"]
    assert "200" in cancel and "204" not in cancel
    modify = schema["paths"]["/api/orders/{id}/"]["patch"]["responses"]
    assert "422" in modify
    live = schema["components"]["schemas"]["DeploymentDetail"]["properties"]
    for name in ("feed", "phase", "last_step_at", "last_error"):
        assert live[name].get("nullable") is True, name


def test_request_bodies_are_documented_as_json(schema):
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            assert set(operation["requestBody"]["content"]) == {"application/json"}, (method, path)


def test_decimal_patterns_require_a_digit(schema):
    import re

    pattern = schema["components"]["schemas"]["OrderPlaceRequest"]["properties"]["price"]["pattern"]
    # prices take 8 places (FX 0.00001, crypto 1e-8 ticks), not 9
    for good in ("1", "1.5", "0.0001", ".5", "123456789012.1234", "1.23456", "0.00000001"):
        assert re.match(pattern, good), good
    for bad in ("", "-", ".", "1.234567891", "abc"):
        assert not re.match(pattern, bad), bad


def test_free_text_strings_document_that_nul_is_refused(schema):
    search = next(
        p for p in schema["paths"]["/api/orders/"]["get"]["parameters"] if p["name"] == "search"
    )
    assert search["schema"]["pattern"] == r"^[^\x00]*$"
    name = schema["components"]["schemas"]["StrategyRequest"]["properties"]["name"]
    assert name["pattern"] == r"^[^\x00]*$"
