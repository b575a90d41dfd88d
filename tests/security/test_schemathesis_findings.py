"""Regression tests for what schemathesis and the authorisation sweep found, one test each.

They run on SQLite too, without a live server, so a fix cannot quietly regress between the
(slow, PostgreSQL-only) schemathesis runs.
"""

from __future__ import annotations

import pytest

from execution.models import Order
from strategies import services
from strategies.models import StrategyStatus
from tests.security.conftest import build_estate, make_strategy

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert {"code", "message", "fields"} <= set(error)
    if code:
        assert error["code"] == code
    return error


@pytest.mark.parametrize(
    "path", ["/api/orders/1.5/", "/api/strategies/0.5/deploy/", "/api/nothing-here/", "/api/x"]
)
def test_an_unrouted_api_path_is_a_json_404(api_client, path):
    """Django's HTML 404 page answered these (schemathesis: undocumented content type)."""
    assert_error(api_client.get(path), 404, "not_found")
    assert_error(api_client.post(path, {}, format="json"), 404, "not_found")


def test_a_page_outside_the_api_keeps_the_html_404(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_format_suffix_routes_are_gone(user, api_client):
    """``/api/strategies/1/events.json`` answered 500: the views take no ``format`` kwarg."""
    strategy = make_strategy(user)
    for path in (
        f"/api/strategies/{strategy.pk}.json",
        f"/api/strategies/{strategy.pk}/events.json",
    ):
        assert_error(api_client.get(path), 404)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+05:00",  # overflows when converted to UTC
        "9999-12-31T23:59:59-05:00",
        "2026-13-45T00:00:00Z",
        "yesterday",
    ],
)
def test_an_impossible_date_time_filter_is_a_400(user, api_client, value):
    estate = build_estate(user)
    for url, param in (
        ("/api/orders/", "created_before"),
        ("/api/orders/", "created_after"),
        (f"/api/deployments/{estate.deployment.pk}/orders/", "created_before"),
        (f"/api/deployments/{estate.deployment.pk}/equity/", "since"),
    ):
        error = assert_error(api_client.get(url, {param: value}), 400)
        assert param in error["fields"], (url, error)


def test_a_date_time_filter_with_an_offset_still_filters(user, api_client):
    estate = build_estate(user)
    assert (
        api_client.get("/api/orders/", {"created_after": "2000-01-01T00:00:00+14:00"}).json()[
            "count"
        ]
        == Order.objects.filter(deployment=estate.deployment).count()
    )


@pytest.mark.parametrize("param", ["instrument", "strategy", "deployment"])
def test_id_filters_take_whole_numbers_only(user, api_client, param):
    """``?instrument=1.5`` was rounded, and past a primary key's range SQLite raised (a 500)."""
    build_estate(user)
    for value in ("1.5", "0", str(2**63), str(10**30)):
        assert_error(api_client.get("/api/orders/", {param: value}), 400)
    assert api_client.get("/api/orders/", {param: str(2**63 - 1)}).json()["count"] == 0


def test_an_empty_multiple_choice_filter_means_not_given(user, api_client):
    """``?status=`` was a 400 while every other empty filter means "not given"."""
    estate = build_estate(user)
    everything = api_client.get("/api/orders/").json()["count"]
    assert api_client.get("/api/orders/", {"status": ""}).json()["count"] == everything
    assert api_client.get("/api/strategies/", {"status": ""}).json()["count"] == 2
    open_only = api_client.get("/api/orders/", {"status": "OPEN"}).json()
    assert [o["id"] for o in open_only["results"]] == [estate.manual_order.pk]


def test_archived_must_be_a_boolean(user, api_client):
    strategy = make_strategy(user)
    services.strategy_archive(strategy=strategy)
    assert_error(api_client.get("/api/strategies/", {"archived": "abc"}), 400)
    assert api_client.get("/api/strategies/", {"archived": "true"}).json()["count"] == 1
    assert api_client.get("/api/strategies/", {"archived": "false"}).json()["count"] == 0
    assert api_client.get("/api/strategies/", {"archived": ""}).json()["count"] == 0


def test_deploying_an_archived_strategy_is_a_409_conflict(user, api_client):
    strategy = make_strategy(user)
    services.strategy_archive(strategy=strategy)
    error = assert_error(
        api_client.post(f"/api/strategies/{strategy.pk}/deploy/", {}, format="json"), 409
    )
    assert error["current_state"] == "ARCHIVED"
    strategy.refresh_from_db()
    assert strategy.status == StrategyStatus.INACTIVE


def test_cancelling_an_order_answers_200_with_the_order(user, api_client):
    """The schema said 204 with no body; the view answers the cancelled order."""
    estate = build_estate(user)
    response = api_client.delete(f"/api/orders/{estate.manual_order.pk}/")
    assert response.status_code == 200
    assert response.json()["status"] == "CANCELLED"


def test_a_nul_in_the_login_email_is_a_400(anon_client):
    """The lock-out check looked the address up before validation: a 500 on PostgreSQL."""
    error = assert_error(
        anon_client.post(
            "/api/auth/token/", {"email": "a\x00b@example.com", "password": "x"}, format="json"
        ),
        400,
    )
    assert "email" in error["fields"]


def test_a_nul_in_a_search_is_a_400(user, api_client):
    assert_error(api_client.get("/api/strategies/", {"search": "a\x00b"}), 400)


def test_a_deployment_without_live_state_renders_nulls(user, api_client):
    """The schema said these fields are strings; they are null until there is live state."""
    estate = build_estate(user)
    estate.deployment.live.delete()
    body = api_client.get(f"/api/deployments/{estate.deployment.pk}/").json()
    assert body["feed"] is None and body["phase"] is None and body["last_step_at"] is None
