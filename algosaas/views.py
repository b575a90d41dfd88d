"""Project-level pages: the landing page and the health probes (``algosaas.health``)."""

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from algosaas import health


@require_GET
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while the process serves requests; touches no database or cache."""
    return JsonResponse({"status": "ok"})


@require_GET
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when every dependency answers, else 503 naming the ones that did not."""
    checks = health.readiness()
    failing = sorted(name for name, state in checks.items() if state != "ok")
    if failing:
        return JsonResponse({"status": "error", **checks, "failing": failing}, status=503)
    return JsonResponse({"status": "ok", **checks})


@require_GET
def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("overview")
    return render(request, "landing.html")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages without a ``<link rel="icon">`` (the API's pages)."""
    return redirect(static("img/favicon.svg"), permanent=True)
