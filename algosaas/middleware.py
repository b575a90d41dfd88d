"""Request guards that must run before any view reads the body, and response headers."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.cache import add_never_cache_headers

API_PREFIX = "/api/"


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
                {
                    "error": {
                        "code": "payload_too_large",
                        "message": f"Request bodies are limited to {limit} bytes.",
                        "fields": {},
                    }
                },
                status=413,
            )
        return self.get_response(request)


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
        if request.path.startswith(API_PREFIX) or (user is not None and user.is_authenticated):
            add_never_cache_headers(response)
        return response
