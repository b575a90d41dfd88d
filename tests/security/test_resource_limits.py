"""OWASP API4 (unrestricted resource consumption): page sizes, per-user caps, body sizes.

The caps come from ``settings.ALGOSAAS`` (environment variables in production); these tests set
small ones. ``tests/test_request_limits.py`` has the first 413 checks; here every write endpoint
is covered, signed in or not.
"""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from strategies.models import Strategy, StrategyStatus
from tests.security.conftest import build_estate, make_strategy

pytestmark = pytest.mark.django_db


@pytest.fixture
def caps(settings):
    """Set ``settings.ALGOSAAS`` caps for one test: ``caps(MAX_PAGE_SIZE=5)``."""

    def set_caps(**values: int) -> None:
        settings.ALGOSAAS = {**settings.ALGOSAAS, **values}

    return set_caps


def assert_limit_exceeded(response) -> None:
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "limit_exceeded"


# --- Page sizes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/api/strategies/",
        "/api/orders/",
        "/api/deployments/{deployment}/orders/",
        "/api/deployments/{deployment}/trades/",
        "/api/instruments/",
    ],
)
def test_a_huge_page_size_is_capped_at_max_page_size(user, api_client, caps, url):
    caps(MAX_PAGE_SIZE=5)
    estate = build_estate(user)
    for n in range(6):
        make_strategy(user, name=f"Extra {n}")
    url = url.format(deployment=estate.deployment.pk)

    body = api_client.get(url, {"page_size": 100000}).json()

    assert body["count"] > 5, "the list must be longer than the cap for this test to mean much"
    assert len(body["results"]) == 5


def test_the_default_cap_is_the_configured_one(user, api_client, settings):
    for n in range(3):
        make_strategy(user, name=f"S{n}")
    body = api_client.get("/api/strategies/", {"page_size": 100000}).json()
    assert len(body["results"]) == 3 <= settings.ALGOSAAS["MAX_PAGE_SIZE"]


def test_series_pages_are_bounded_too(user, api_client):
    """Equity curves are read whole by charts: larger pages, still bounded (5,000 points)."""
    estate = build_estate(user)
    response = api_client.get(f"/api/backtests/{estate.backtest.pk}/equity/", {"page_size": 10**9})
    assert response.status_code == 200
    assert len(response.json()["results"]) <= 5000


@pytest.mark.parametrize("size", ["abc", "0", "-5", "1.5", "null", "9" * 5000])
def test_a_page_size_that_is_not_a_positive_integer_is_a_400(api_client, size):
    response = api_client.get("/api/strategies/", {"page_size": size})
    assert response.status_code == 400
    assert "page_size" in response.json()["error"]["fields"]


# --- Per-user caps -----------------------------------------------------------------------------


def strategy_body(name: str) -> dict:
    from strategies.tests.factories import seeded_instrument

    return {
        "name": name,
        "strategy_type": "sma_crossover",
        "params": {"fast": 10, "slow": 20, "mode": "long_only"},
        "instrument": seeded_instrument().pk,
        "quantity": 1,
    }


def test_strategy_count_is_capped_per_user(user, api_client, other_client, caps):
    caps(MAX_STRATEGIES_PER_USER=3)
    for n in range(3):
        assert api_client.post("/api/strategies/", strategy_body(f"S{n}")).status_code == 201

    assert_limit_exceeded(api_client.post("/api/strategies/", strategy_body("S3")))
    assert Strategy.objects.filter(owner=user).count() == 3
    # The cap is per user: someone else still creates theirs.
    assert other_client.post("/api/strategies/", strategy_body("S0")).status_code == 201


def test_running_deployments_are_capped_per_user(user, other_user, api_client, caps):
    caps(MAX_RUNNING_DEPLOYMENTS_PER_USER=2)
    strategies = [make_strategy(user, name=f"R{n}") for n in range(3)]
    for strategy in strategies[:2]:
        response = api_client.post(f"/api/strategies/{strategy.pk}/deploy/", {})
        assert response.status_code == 201, response.content

    assert_limit_exceeded(api_client.post(f"/api/strategies/{strategies[2].pk}/deploy/", {}))
    strategies[2].refresh_from_db()
    assert strategies[2].status == StrategyStatus.INACTIVE
    assert not strategies[2].deployments.exists()

    # Stopping one frees a slot.
    api_client.post(f"/api/strategies/{strategies[0].pk}/stop/", {})
    assert api_client.post(f"/api/strategies/{strategies[2].pk}/deploy/", {}).status_code == 201


def test_active_backtests_are_capped_per_user(user, api_client, caps):
    caps(MAX_ACTIVE_BACKTESTS_PER_USER=2)
    # The jobs start on commit, which these tests never reach: the backtests stay QUEUED.
    strategy = make_strategy(user)
    url = f"/api/strategies/{strategy.pk}/backtests/"
    for _ in range(2):
        assert api_client.post(url, {}).status_code == 202

    assert_limit_exceeded(api_client.post(url, {}))
    assert strategy.backtests.count() == 2


# --- Body sizes --------------------------------------------------------------------------------

WRITE_ENDPOINTS = [
    ("post", "/api/auth/register/"),
    ("post", "/api/auth/token/"),
    ("post", "/api/auth/token/refresh/"),
    ("post", "/api/strategies/"),
    ("put", "/api/strategies/{strategy}/"),
    ("patch", "/api/strategies/{strategy}/"),
    ("post", "/api/strategies/{strategy}/deploy/"),
    ("post", "/api/strategies/{strategy}/backtests/"),
    ("post", "/api/deployments/{deployment}/orders/"),
    ("patch", "/api/orders/{order}/"),
    ("patch", "/api/auth/me/"),
    ("post", "/api/auth/password/"),
    ("post", "/app/strategies/new/"),
]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=4096)
@pytest.mark.parametrize(("method", "url"), WRITE_ENDPOINTS)
def test_an_oversized_body_is_refused_with_413_before_any_view_runs(
    user, api_client, anon_client, method, url
):
    estate = build_estate(user)
    before = Strategy.objects.count(), estate.manual_order.updated_at
    url = url.format(
        strategy=estate.inactive.pk, deployment=estate.deployment.pk, order=estate.manual_order.pk
    )
    body = json.dumps({"name": "x" * 10_000, "quantity": 1})
    for client in (api_client, anon_client):
        response = getattr(client, method)(url, body, content_type="application/json")
        assert response.status_code == 413, (url, response.status_code)
        assert response.json()["error"]["code"] == "payload_too_large"
    estate.manual_order.refresh_from_db()
    assert (Strategy.objects.count(), estate.manual_order.updated_at) == before


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=4096)
def test_a_chunked_body_of_unknown_length_is_refused(api_client):
    response = api_client.post(
        "/api/strategies/", b"{}", content_type="application/json", HTTP_TRANSFER_ENCODING="chunked"
    )
    assert response.status_code in (411, 413)
