"""Error pages: the dashboard's own 404 and 500 in its layout; the API keeps its JSON shape.

A URL no route matches, a view's ``Http404`` (someone else's object) and an unexpected error
all get a page with the app's header and a way back, never Django's bare defaults, while
anything under /api/ answers ``{"error": {"code", "message", "fields"}}``.
"""

from __future__ import annotations

import pytest
from django.template import loader
from django.test import Client, override_settings
from django.urls import path
from django.views.decorators.http import require_GET
from rest_framework.views import APIView

from algosaas import urls as project_urls
from algosaas.api.errors import exception_handler
from strategies.tests.factories import StrategyFactory

pytestmark = pytest.mark.django_db


def _boom(request):
    raise RuntimeError("a bug")


# The project's routes and error handlers, plus two views that fail.
urlpatterns = [
    path("app/boom/", _boom),
    path("api/boom/", _boom),
    path("api/get-only/", require_GET(_boom)),
    *project_urls.urlpatterns,
]
handler404 = project_urls.handler404
handler500 = project_urls.handler500


def assert_json_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert (error["code"], error["fields"]) == (code, {}) and error["message"]


def test_an_unknown_page_gets_the_dashboard_404_for_a_visitor(client):
    response = client.get("/no-such-page/")
    body = response.content.decode()
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert "404.html" in [t.name for t in response.templates]
    assert "<h1" in body and "Page not found" in body
    assert 'class="topbar"' in body  # the app's layout
    assert 'href="/login/"' in body and "Go to the home page" in body


def test_someone_elses_object_gets_the_same_404_page_as_a_missing_one(client, user, other_user):
    theirs = StrategyFactory(owner=other_user, name="Not yours")
    client.force_login(user)
    for url in (f"/app/strategies/{theirs.pk}/", "/app/strategies/999999/", "/app/nothing/"):
        response = client.get(url)
        body = response.content.decode()
        assert response.status_code == 404, url
        assert "Page not found" in body and "Go to the overview" in body, url
        assert user.email in body  # the header still knows who is logged in
        assert "Not yours" not in body


@pytest.mark.parametrize("url", ["/api/nothing-here/", "/api/orders/1.5/"])
def test_an_unknown_api_path_keeps_the_json_404(api_client, url):
    assert_json_error(api_client.get(url), 404, "not_found")


@override_settings(ROOT_URLCONF=__name__)
def test_an_unexpected_error_gets_the_dashboard_500_page(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get("/app/boom/")
    body = response.content.decode()
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert "Something went wrong on our side" in body
    assert 'class="topbar"' in body and 'href="/"' in body
    assert "a bug" not in body and "Traceback" not in body


@override_settings(ROOT_URLCONF=__name__)
def test_an_unexpected_error_under_the_api_is_json(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    assert_json_error(client.get("/api/boom/"), 500, "server_error")


def test_the_500_page_renders_without_any_context():
    """handler500 renders it with no request and no context processors: nothing may need them."""
    html = loader.get_template("500.html").render()
    assert "Something went wrong on our side" in html
    assert "{%" not in html and "{{" not in html
    assert "<style>" in html  # its own styles: no static-files lookup that could fail too


class _Broken(APIView):
    """A DRF view with a bug: DRF hands the exception to the API's own handler."""

    permission_classes: list = []

    def get(self, request):
        raise RuntimeError("a secret detail")


def test_the_api_exception_handler_answers_an_unexpected_error_itself():
    """The handler renders the JSON 500; it once called a name that did not exist and crashed,
    which only Django's handler500 hid."""
    response = exception_handler(RuntimeError("a secret detail"), {"view": None})
    assert response.status_code == 500
    assert response.data == {
        "error": {
            "code": "server_error",
            "message": "Something went wrong on our side.",
            "fields": {},
        }
    }


def test_a_drf_view_that_fails_answers_the_json_500_without_reaching_handler500(rf):
    request = rf.get("/api/broken/")
    response = _Broken.as_view()(request)  # raises if the handler itself fails
    response.render()
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    assert response.data["error"]["code"] == "server_error"
    assert b"a secret detail" not in response.content


@override_settings(DEBUG=True)
@pytest.mark.parametrize("url", ["/api/orders/0.5/", "/api/nothing-here/", "/api/strategies/x/y/"])
def test_an_unrouted_api_path_is_json_in_debug_too(api_client, url):
    """With DEBUG on, Django answers a 404 with its technical page, not ``handler404``."""
    assert_json_error(api_client.get(url, HTTP_ACCEPT="text/html"), 404, "not_found")


@override_settings(DEBUG=True, ROOT_URLCONF=__name__)
def test_an_unexpected_error_under_the_api_is_json_in_debug_too(user):
    client = Client(raise_request_exception=False)
    client.force_login(user)
    response = client.get("/api/boom/", HTTP_ACCEPT="text/html")
    assert_json_error(response, 500, "server_error")
    assert b"a bug" not in response.content


@override_settings(ROOT_URLCONF=__name__)
def test_a_method_django_refuses_under_the_api_is_json_with_its_allow_header(client):
    response = client.post("/api/get-only/")
    assert_json_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET"


@override_settings(DEBUG=True)
def test_pages_outside_the_api_keep_django_s_debug_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_favicon_ico_leads_to_the_app_icon(client):
    """Pages without a <link rel="icon"> (the API's) made browsers log a 404 for /favicon.ico."""
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.svg")
    assert finders.find("img/favicon.svg")


@pytest.mark.django_db
def test_the_api_root_lists_the_auth_routes_and_the_docs(client):
    response = client.get("/api/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200  # a map of links, open to anyone: it shows no one's data
    links = response.json()
    for key, url in {
        "auth/token": "/api/auth/token/",
        "auth/register": "/api/auth/register/",
        "auth/token/refresh": "/api/auth/token/refresh/",
        "docs": "/api/docs/",
        "schema": "/api/schema/",
        "strategies": "/api/strategies/",
        "orders": "/api/orders/",
    }.items():
        assert links[key].endswith(url), key
    page = client.get("/api/", HTTP_ACCEPT="text/html").content.decode()
    assert "The default basic root view for DefaultRouter" not in page
    assert "Get a token pair" in page
