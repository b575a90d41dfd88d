"""The OpenAPI schema, made to say exactly what the API does (``postprocess_schema``).

drf-spectacular documents what it can infer; this postprocessing hook
(``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``) adds what it cannot, so that a client
generator, and schemathesis (``tests/security/test_schemathesis.py``), can hold the API to it:

- Errors: ``ErrorSerializer`` is the one error shape ``algosaas.api.errors`` renders, and each
  operation lists the error statuses it can really answer, derived from what the operation is, so
  a new endpoint is documented without anyone remembering to: 400 when it parses a body or query
  parameters, 401 when it needs a login, 403 for session writes (CSRF) and per-user caps, 404
  when a path names an object or a list is paginated, 409 for state conflicts, 413/415 for
  bodies, 422 for reused idempotency keys, 429 where a throttle applies. A view documents
  anything unusual itself (``extend_schema(responses={422: ERROR_RESPONSE})``); the hook never
  overrides a documented status.
- Request bodies are JSON; an empty optional query value means "not given"; a decimal string
  has at least one digit; free text never holds a NUL.
"""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from drf_spectacular import openapi
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.views import APIView
from rest_framework_simplejwt.views import TokenViewBase

from algosaas.api.filters import MAX_ID
from algosaas.api.idempotency import HEADER as IDEMPOTENCY_HEADER
from algosaas.api.serializers import Serializer


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's inspector, plus the range of an object id, a decimal string or a date.

    JSON Schema bounds only numbers (``minimum``/``maximum``, which integers and floats get);
    a decimal sent as a string and a date say their range in their description instead.
    """

    def _get_serializer_field_meta(self, field, direction):
        meta = super()._get_serializer_field_meta(field, direction)
        if isinstance(field, serializers.PrimaryKeyRelatedField) and field.pk_field is None:
            meta.update(minimum=1, maximum=MAX_ID)  # an object id: a BigAutoField's range
        if isinstance(field, serializers.DecimalField | serializers.DateField):
            sentence = range_sentence(field)
            if sentence:
                meta["description"] = " ".join(filter(None, [meta.get("description"), sentence]))
        return meta


def range_sentence(field: serializers.Field) -> str:
    """``"From 1000.00 to 100000000000.00."`` for a field with value-range validators."""
    low = [v.limit_value for v in field.validators if isinstance(v, MinValueValidator)]
    high = [v.limit_value for v in field.validators if isinstance(v, MaxValueValidator)]
    if low and high:
        return f"From {max(low)} to {min(high)}."
    if low:
        return f"At least {max(low)}."
    if high:
        return f"At most {min(high)}."
    return ""


class ErrorDetailSerializer(Serializer):
    code = serializers.CharField(
        help_text="Stable machine-readable code: invalid, not_authenticated, not_found, "
        "conflict, limit_exceeded, throttled, idempotency_key_reused, ..."
    )
    message = serializers.CharField(help_text="A sentence for people.")
    fields = serializers.DictField(
        help_text="For validation errors: each field's messages, by field name."
    )
    current_state = serializers.CharField(
        required=False, help_text="On a 409: the object's current state."
    )
    retry_after = serializers.IntegerField(
        required=False, help_text="On a 429: seconds to wait (also the Retry-After header)."
    )
    rule = serializers.CharField(required=False, help_text="On a risk denial: the rule.")
    positions = serializers.ListField(
        child=serializers.DictField(),
        required=False,
        help_text="On a rule text that does not parse: each error's line, column and message.",
    )


class ErrorSerializer(Serializer):
    """The one error shape of the API: ``{"error": {"code", "message", "fields"}}``."""

    error = ErrorDetailSerializer()


ERROR_RESPONSE = OpenApiResponse(ErrorSerializer, description="An error (see `code`).")

DESCRIPTIONS = {
    400: "Invalid input: `fields` names each field in error.",
    401: "Not authenticated, or the credentials or token are invalid.",
    403: "Refused: a session write without a CSRF token, or a per-user limit reached.",
    404: "Not found, or not yours (the two are indistinguishable).",
    409: "The object's current state forbids this (`current_state`), or the request "
    "with this Idempotency-Key is still being processed.",
    413: "The request body is too large.",
    415: "Unsupported media type.",
    422: "The request is well-formed but refused (an Idempotency-Key reused with another body).",
    429: "Too many requests: wait `retry_after` seconds.",
}
UNSAFE = {"post", "put", "patch", "delete"}


def _error_components() -> dict[str, Any]:
    """The OpenAPI schemas of ``ErrorSerializer`` and its nested parts, as drf-spectacular maps
    them."""
    inspector = openapi.AutoSchema()
    inspector.registry = ComponentRegistry()
    inspector.method = "GET"
    inspector.view = APIView()
    inspector.view.request = None  # mapping builds a serializer context from the view
    inspector.resolve_serializer(ErrorSerializer, "response")
    return inspector.registry.build({})["schemas"]


def _views_by_operation(generator) -> dict[tuple[str, str], Any]:
    views = {}
    for path, _regex, method, callback in generator.endpoints or []:
        view = generator.create_view(callback, method)
        views[generator.coerce_path(path, method, view), method.lower()] = view
    return views


def _statuses(path: str, method: str, operation: dict[str, Any], view: Any) -> set[int]:
    params = operation.get("parameters", [])
    query = [p for p in params if p.get("in") == "query"]
    has_body = "requestBody" in operation
    security = operation.get("security")
    needs_login = bool(security) and {} not in security
    checks_token = isinstance(view, TokenViewBase)
    idempotent = any(
        p.get("in") == "header" and p.get("name") == IDEMPOTENCY_HEADER for p in params
    )

    codes: set[int] = set()
    if has_body or query or idempotent:
        codes.add(400)
    if needs_login or checks_token:
        codes.add(401)
    if "{" in path or any(p.get("name") == "page" for p in query):
        codes.add(404)  # a missing or foreign object, or a page past the end
    if has_body:
        codes |= {413, 415}
    if method in UNSAFE and needs_login:
        codes |= {403, 409}
    if idempotent:
        codes |= {409, 422}
    if view is not None and view.get_throttles():
        codes.add(429)
    return codes


def postprocess_schema(result: dict[str, Any], generator, request, public) -> dict[str, Any]:
    """Document error answers, JSON request bodies and exact decimal patterns."""
    result = document_errors(result, generator)
    json_request_bodies(result)
    empty_query_values(result)
    strict_decimal_patterns(result)
    no_nul_in_strings(result)
    return result


def json_request_bodies(result: dict[str, Any]) -> None:
    """Document JSON as the request body type of every operation that takes JSON.

    The API is a JSON API. DRF's form parsers stay on for the browsable API, but a form cannot
    say ``null`` or tell a number from a string, so documenting the JSON schema for form bodies
    promised what forms cannot keep.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                for media_type in [m for m in content if m != "application/json"]:
                    del content[media_type]


def empty_query_values(result: dict[str, Any]) -> None:
    """Document that an optional query parameter sent empty (``?status=``) means "not given".

    That is how django-filter, the paginator and ``?archived=`` read an empty value.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and not parameter.get("required"):
                    parameter["allowEmptyValue"] = True


# drf-spectacular's pattern for a decimal string also matches "" and "-", which DRF refuses.
_LOOSE_DECIMAL = re.compile(r"^\^-\?\\d\{0,(\d+)\}\(\?:\\\.\\d\{0,(\d+)\}\)\?\$$")


def _strict_decimal(pattern: str) -> str:
    match = _LOOSE_DECIMAL.match(pattern)
    if not match:
        return pattern
    whole, places = match.groups()
    if places == "0":
        return rf"^-?\d{{1,{whole}}}$"
    return rf"^-?(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"


def strict_decimal_patterns(node: Any) -> None:
    """Require at least one digit in every decimal string pattern, in place."""
    if isinstance(node, dict):
        if node.get("format") == "decimal" and isinstance(node.get("pattern"), str):
            node["pattern"] = _strict_decimal(node["pattern"])
        for value in node.values():
            strict_decimal_patterns(value)
    elif isinstance(node, list):
        for value in node:
            strict_decimal_patterns(value)


NO_NUL = r"^[^\x00]*$"
# Unknown ``ordering`` values are ignored by design (DRF's OrderingFilter), so any string goes.
IGNORED_QUERY_PARAMETERS = {"ordering"}


def _no_nul(node: Any) -> None:
    if isinstance(node, dict):
        if node.get("type") == "string" and not ({"enum", "format", "pattern"} & set(node)):
            node["pattern"] = NO_NUL
        for value in node.values():
            _no_nul(value)
    elif isinstance(node, list):
        for value in node:
            _no_nul(value)


def no_nul_in_strings(result: dict[str, Any]) -> None:
    """Document that request strings cannot hold a NUL character, in place.

    Django's form fields, DRF's serializer fields and its search filter refuse it (PostgreSQL
    text cannot store it), so ``?search=a%00b`` or a name with a NUL is a 400; the schema now
    says so. Responses may echo such input in error messages, so they are left alone.
    """
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("name") not in IGNORED_QUERY_PARAMETERS:
                    _no_nul(parameter.get("schema"))
    for name, schema in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: the request-side components
            _no_nul(schema)


def document_errors(result: dict[str, Any], generator) -> dict[str, Any]:
    """Add the ``Error`` component and each operation's error responses to the schema."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in _error_components().items():
        schemas.setdefault(name, schema)
    ref = {"$ref": "#/components/schemas/Error"}
    views = _views_by_operation(generator)
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code in sorted(_statuses(path, method, operation, views.get((path, method)))):
                responses.setdefault(
                    str(code),
                    {
                        "content": {"application/json": {"schema": ref}},
                        "description": DESCRIPTIONS[code],
                    },
                )
    return result
