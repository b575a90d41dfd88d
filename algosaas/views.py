"""Project-level pages: the landing page and the health check."""

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Answer 200 when the database answers, 503 otherwise (for load balancers and probes)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any database failure means "not healthy"
        return JsonResponse({"status": "error", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("overview")
    return render(request, "landing.html")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages without a ``<link rel="icon">`` (the API's pages)."""
    return redirect(static("img/favicon.svg"), permanent=True)
