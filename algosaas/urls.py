"""URL configuration: the API under /api/, the dashboard at /, the admin, docs and health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts import views as account_views
from algosaas import views
from algosaas.api.errors import API_PREFIX, error_body
from algosaas.api.router import router

api_patterns = [
    path("auth/", include("accounts.api.urls")),
    path("", include("strategies.api.urls")),
    path("", include("execution.api.urls")),
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
]

# Unrouted paths under /api/ answer in the API's JSON error shape, not Django's HTML page;
# every other path gets the dashboard's templates/404.html.
handler404 = "algosaas.api.errors.page_not_found"


def server_error(request: HttpRequest, template_name: str = "500.html") -> HttpResponse:
    """``handler500``: JSON under /api/, else templates/500.html, rendered without a context.

    DRF answers its own views' unexpected errors in the JSON shape; this covers what fails
    outside them (middleware, a non-DRF view under /api/).
    """
    if request.path.startswith(API_PREFIX):
        body = error_body("server_error", "Something went wrong on our side.")
        return JsonResponse(body, status=500)
    return defaults.server_error(request, template_name)


handler500 = server_error

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("docs", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("docs/", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("", views.landing, name="landing"),
    path("signup/", account_views.signup, name="signup"),
    path("login/", account_views.LoginView.as_view(), name="login"),
    path("logout/", account_views.LogoutView.as_view(), name="logout"),
    path("password/", account_views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include("strategies.urls")),
    path("", include("execution.urls")),
]
