"""URL configuration: the API under /api/, the dashboard at /, the admin, docs and health."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views
from algosaas import views
from algosaas.api.router import router

api_patterns = [
    path("auth/", include("accounts.api.urls")),
    path("", include("strategies.api.urls")),
    path("", include("execution.api.urls")),
    path("", include("brokers.api.urls")),
    path("", include("optimisation.api.urls")),
    path("", include("notifications.api.urls")),
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script for the CSP.
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
]

# Under /api/ errors answer in the API's JSON shape, not Django's HTML pages; every other path
# gets the dashboard's templates/404.html and templates/500.html.
handler404 = "algosaas.api.errors.page_not_found"
handler500 = "algosaas.api.errors.server_error"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    path("docs", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("docs/", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("", views.landing, name="landing"),
    path("signup/", account_views.signup, name="signup"),
    path("signup/sent/", account_views.signup_sent, name="signup_sent"),
    path(
        "signup/confirm/<str:uidb64>/<str:token>/",
        account_views.signup_confirm,
        name="signup_confirm",
    ),
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
    path("", include("optimisation.urls")),
    path("brokers/", include("brokers.urls")),
    path("notifications/", include("notifications.urls")),
]
