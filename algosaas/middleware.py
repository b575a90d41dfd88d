"""Request guards that must run before any view reads the body, the API's error shape for
answers that Django itself produces, and response headers."""

from __future__ import annotations

from collections.abc import Callable
from http import HTTPStatus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

from algosaas.api.errors import API_PREFIX, error_body

# The app's own request-size bounds, below gunicorn's (``gunicorn.conf.py`` has the table).
MAX_QUERY_STRING = 4096  # characters of the raw query string
MAX_QUERY_PARAMETER = 1024  # characters of one parameter's name or value, once decoded
MAX_HEADER_FIELD = 8192  # bytes of one header's name and value

# Codes for the answers Django renders itself (the rest come from ``algosaas.api.errors``).
STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "throttled",
    431: "request_header_fields_too_large",
}


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


class BodySizeLimitMiddleware:
    """Refuse bodies larger than ``DATA_UPLOAD_MAX_MEMORY_SIZE`` with a JSON 413 (OWASP API4).

    Django enforces that limit only when ``request.body`` is read; DRF's parsers read the stream
    instead, so without this a client could make a worker buffer an arbitrarily large body.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if limit is not None and (length > limit or chunked):
            return JsonResponse(
                error_body("payload_too_large", f"Request bodies are limited to {limit} bytes."),
                status=413,
            )
        return self.get_response(request)


class RequestLimitsMiddleware:
    """Refuse an over-long query (400) or header (431) under /api/ in the JSON shape.

    Below gunicorn's own limits, so an oversized request meets these first and gets an answer
    naming the parameter or header, instead of gunicorn's HTML 414/431.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api(request):
            refusal = self.query_refusal(request) or self.header_refusal(request)
            if refusal is not None:
                return refusal
        return self.get_response(request)

    @staticmethod
    def query_refusal(request: HttpRequest) -> HttpResponse | None:
        limit = MAX_QUERY_PARAMETER
        for name, values in request.GET.lists():
            longest = max([len(name), *(len(v) for v in values)])
            if longest > limit:
                label = name if len(name) <= limit else name[:40] + "…"
                message = f"Ensure this value has at most {limit} characters (it has {longest})."
                return JsonResponse(
                    error_body("invalid", f"{label}: {message}", {label: [message]}), status=400
                )
        length = len(request.META.get("QUERY_STRING", ""))
        if length > MAX_QUERY_STRING:
            message = f"The query string is limited to {MAX_QUERY_STRING} characters ({length})."
            return JsonResponse(
                error_body("invalid", message, {"non_field_errors": [message]}), status=400
            )
        return None

    @staticmethod
    def header_refusal(request: HttpRequest) -> HttpResponse | None:
        for key, value in request.META.items():
            if not key.startswith("HTTP_"):
                continue
            name = key[5:].replace("_", "-").title()
            size = len(name) + len(str(value).encode("latin-1", "replace"))
            if size > MAX_HEADER_FIELD:
                message = f"{name}: a header is limited to {MAX_HEADER_FIELD} bytes ({size})."
                return JsonResponse(
                    error_body("request_header_fields_too_large", message, {name: [message]}),
                    status=431,
                )
        return None


class ApiErrorShapeMiddleware:
    """Under /api/, answer the errors Django renders itself in the API's JSON shape.

    Outermost, so it sees Django's own answers: with ``DEBUG`` on, an unrouted path or an
    exception outside DRF gets Django's technical HTML page instead of ``handler404`` /
    ``handler500``; CSRF and other middleware refusals are HTML too. A DRF response is left as
    content negotiation made it (JSON, or the browsable API's HTML that a browser asked for).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not is_api(request)
            or hasattr(response, "accepted_renderer")
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        return json_error(response)


def json_error(response: HttpResponse) -> JsonResponse:
    """The JSON twin of a non-JSON error ``response``, keeping its status and its headers (but
    the body's own); a server error says nothing of its cause."""
    status = response.status_code
    if status >= 500:
        body = error_body("server_error", "Something went wrong on our side.")
    else:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        body = error_body(STATUS_CODES.get(status, "error"), f"{phrase}.")
    answer = JsonResponse(body, status=status)
    for header, value in response.items():  # Allow, Retry-After, Cache-Control, the CSP…
        if header.lower() not in ("content-type", "content-length"):
            answer[header] = value
    return answer


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every API answer and every page seen while logged in.

    They carry tokens, orders and balances; no browser cache or proxy may keep them (a shared
    computer's back button, a caching proxy). Static files are served before this runs.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        if is_api(request) or (user is not None and user.is_authenticated):
            add_never_cache_headers(response)
        return response
