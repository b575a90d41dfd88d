"""One JSON error shape for every API failure: ``{"error": {"code", "message", "fields"}}``.

Validation errors name their fields; domain errors carry their code and extras (such as the
current state on a 409); anything unexpected is logged and answered as a JSON 500 with no detail.
"""

from __future__ import annotations

from typing import Any

import structlog
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from algosaas.errors import DomainError

logger = structlog.get_logger(__name__)


API_PREFIX = "/api/"


def error_body(code: str, message: str, fields: Any = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "fields": fields or {}, **extra}}


def _server_error_body() -> dict[str, Any]:
    """What any unexpected failure answers: nothing of the error itself leaks out."""
    return error_body("server_error", "Something went wrong on our side.")


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            msg = _first_message(value)
            return msg if key in ("non_field_errors", "detail") else f"{key}: {msg}"
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Render ``exc`` in the project's single error shape."""
    if isinstance(exc, DomainError):
        response = Response(
            error_body(exc.code, exc.message, exc.fields, **exc.extra), status=exc.status_code
        )
        if "retry_after" in exc.extra:
            response["Retry-After"] = str(exc.extra["retry_after"])
        return response
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled_api_exception", exc_type=type(exc).__name__)
        set_rollback()
        return Response(_server_error_body(), status=status.HTTP_500_INTERNAL_SERVER_ERROR)

    assert isinstance(exc, exceptions.APIException)  # nosec B101 # type narrowing only
    detail = exc.detail
    if isinstance(exc, exceptions.ValidationError):
        fields = detail if isinstance(detail, dict) else {"non_field_errors": detail}
        response.data = error_body("invalid", _first_message(fields), fields)
    elif isinstance(exc, exceptions.ParseError):
        response.data = error_body("parse_error", str(detail), {"non_field_errors": [str(detail)]})
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        if isinstance(detail, dict) and isinstance(detail.get("code"), str):
            code = detail["code"]  # SimpleJWT's errors carry their code inside the detail dict
        extra = {}
        if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
            extra["retry_after"] = int(exc.wait)
        response.data = error_body(str(code), _first_message(detail), **extra)
    return response


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """``handler404``: a path under /api/ that matches no route answers in the JSON error shape.

    DRF renders the 404s its views raise, but a URL no route matches (``/api/orders/1.5/``)
    never reaches DRF; without this, API clients got Django's HTML page.
    """
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: JSON under /api/, else templates/500.html, rendered without a context.

    DRF answers its own views' unexpected errors in the JSON shape; this covers what fails
    outside them (middleware, a non-DRF view under /api/).
    """
    if request.path.startswith(API_PREFIX):
        return JsonResponse(_server_error_body(), status=500)
    return defaults.server_error(request)
