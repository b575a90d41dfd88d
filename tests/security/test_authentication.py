"""OWASP API2 (broken authentication): throttles, token settings, CSRF on session writes.

Already covered elsewhere, and not repeated here:

- forged ``X-Forwarded-For`` on registration and on the lockout:
  ``accounts/tests/test_throttling.py::test_forged_x_forwarded_for_does_not_reset_the_throttle``,
  ``accounts/tests/test_lockout.py::test_forged_x_forwarded_for_does_not_escape_the_lockout``;
- a token signed with ``SECRET_KEY`` is refused, forged/``alg: none`` tokens are refused,
  refresh rotation and the blacklist on logout: ``accounts/tests/test_tokens.py``;
- the 15-minute access lifetime with no environment at all, and the JWT key derived apart from
  ``SECRET_KEY``: ``tests/test_foundation.py::test_default_settings_without_any_environment``;
- a session PATCH of ``/api/auth/me/`` without a CSRF token:
  ``accounts/tests/test_pages.py::test_session_cannot_write_the_api_without_a_csrf_token``.

This module extends them: every client-address header a proxy might set, on log-in and refresh
too; the settings that hold the token design together; and CSRF over every API write.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from rest_framework.test import APIClient
from rest_framework.throttling import ScopedRateThrottle
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from strategies.models import Strategy, StrategyStatus
from tests.security.conftest import build_estate, make_strategy, snapshot

pytestmark = pytest.mark.django_db

SPOOFED_HEADERS = [
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_REAL_IP",
    "HTTP_FORWARDED",
    "HTTP_X_CLIENT_IP",
    "HTTP_CF_CONNECTING_IP",
    "HTTP_TRUE_CLIENT_IP",
]


@pytest.fixture
def login_rate(monkeypatch):
    """Throttle rates are read when DRF's class is defined; patch the class attribute."""

    def set_rate(rate: str) -> None:
        monkeypatch.setattr(
            ScopedRateThrottle,
            "THROTTLE_RATES",
            {**ScopedRateThrottle.THROTTLE_RATES, "login": rate},
        )

    return set_rate


def _spoof(header: str, n: int) -> dict[str, str]:
    address = f"203.0.113.{n}"
    return {header: f"for={address}" if header == "HTTP_FORWARDED" else address}


@pytest.mark.parametrize("header", SPOOFED_HEADERS)
def test_a_spoofed_client_address_header_does_not_reset_the_login_throttle(
    anon_client, user, password, login_rate, header
):
    login_rate("3/min")
    credentials = {"email": user.email, "password": password}
    for n in range(3):
        response = anon_client.post("/api/auth/token/", credentials, **_spoof(header, n))
        assert response.status_code == 200

    for n in range(3, 6):
        response = anon_client.post("/api/auth/token/", credentials, **_spoof(header, n))
        assert response.status_code == 429, (header, response.content)
        assert "access" not in response.json()


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP"])
def test_a_spoofed_client_address_header_does_not_reset_the_refresh_throttle(
    anon_client, user, password, login_rate, header
):
    login_rate("2/min")
    tokens = anon_client.post("/api/auth/token/", {"email": user.email, "password": password})
    refresh = tokens.json()["refresh"]
    first = anon_client.post("/api/auth/token/refresh/", {"refresh": refresh}, **_spoof(header, 1))
    assert first.status_code == 200  # the log-in above spent the other request of the scope

    response = anon_client.post(
        "/api/auth/token/refresh/", {"refresh": first.json()["refresh"]}, **_spoof(header, 2)
    )
    assert response.status_code == 429


def test_throttles_trust_no_proxy_unless_configured():
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    assert settings.AXES_IPWARE_PROXY_COUNT == 0


# --- Token settings ----------------------------------------------------------------------------


def test_the_token_design_holds_in_the_loaded_settings():
    jwt = settings.SIMPLE_JWT
    assert jwt["SIGNING_KEY"] != settings.SECRET_KEY
    assert settings.SECRET_KEY not in jwt["SIGNING_KEY"]  # not merely derived by concatenation
    assert len(jwt["SIGNING_KEY"]) >= 32
    assert jwt["ALGORITHM"] == "HS256"
    assert jwt["ACCESS_TOKEN_LIFETIME"] == timedelta(minutes=15)
    assert jwt["ROTATE_REFRESH_TOKENS"] and jwt["BLACKLIST_AFTER_ROTATION"]
    assert "rest_framework_simplejwt.token_blacklist" in settings.INSTALLED_APPS


def test_logout_puts_the_refresh_token_on_the_blacklist(anon_client, user, password):
    tokens = anon_client.post(
        "/api/auth/token/", {"email": user.email, "password": password}
    ).json()
    assert anon_client.post("/api/auth/logout/", {"refresh": tokens["refresh"]}).status_code == 205
    assert BlacklistedToken.objects.filter(token__user=user).count() == 1


# --- CSRF on session-authenticated writes --------------------------------------------------------


def session_client(user, *, with_token: bool) -> APIClient:
    """A browser-like API client signed in by session, with CSRF checks enforced."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    if with_token:
        client.get("/app/strategies/new/")  # a page with a form sets the csrftoken cookie
        client.credentials(HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    return client


def api_writes(estate) -> list[tuple[str, str, dict, int]]:
    """(method, url, body, status when allowed) of every kind of API write."""
    return [
        ("patch", "/api/auth/me/", {"name": "Changed"}, 200),
        (
            "post",
            "/api/strategies/",
            {
                "name": "By session",
                "strategy_type": "sma_crossover",
                "instrument": estate.running.instrument_id,
                "quantity": 1,
            },
            201,
        ),
        ("patch", f"/api/strategies/{estate.inactive.pk}/", {"name": "Renamed"}, 200),
        ("post", f"/api/strategies/{estate.inactive.pk}/backtests/", {}, 202),
        ("patch", f"/api/orders/{estate.manual_order.pk}/", {"quantity": 2}, 200),
        (
            "post",
            f"/api/deployments/{estate.deployment.pk}/orders/",
            {"side": "BUY", "order_type": "MARKET", "quantity": 1},
            201,
        ),
        ("delete", f"/api/orders/{estate.manual_order.pk}/", {}, 200),
        ("post", f"/api/strategies/{estate.running.pk}/stop/", {}, 200),
        ("post", f"/api/strategies/{estate.inactive.pk}/deploy/", {}, 201),
    ]


def test_session_writes_without_a_csrf_token_are_refused_and_change_nothing(user):
    estate = build_estate(user)
    client = session_client(user, with_token=False)
    before = snapshot(user)
    for method, url, body, _ in api_writes(estate):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.content)
        assert "CSRF" in response.json()["error"]["message"]
    assert snapshot(user) == before
    # Reads need no token.
    assert client.get("/api/strategies/").status_code == 200


def test_session_writes_with_the_csrf_token_work(user):
    estate = build_estate(user)
    client = session_client(user, with_token=True)
    for method, url, body, status in api_writes(estate):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == status, (method, url, response.content)
    assert Strategy.objects.get(pk=estate.inactive.pk).status == StrategyStatus.RUNNING


def test_a_token_from_another_session_is_refused(user, other_user):
    stranger = session_client(other_user, with_token=True)
    client = session_client(user, with_token=False)
    client.credentials(HTTP_X_CSRFTOKEN=stranger.cookies["csrftoken"].value)
    strategy = make_strategy(user, name="Keep")

    response = client.patch(f"/api/strategies/{strategy.pk}/", {"name": "Lost"}, format="json")

    assert response.status_code == 403
    strategy.refresh_from_db()
    assert strategy.name == "Keep"


def test_bearer_token_writes_need_no_csrf_token(user, api_client):
    """A JWT travels in a header a third-party page cannot make a browser send: no CSRF risk."""
    api_client.handler.enforce_csrf_checks = True
    strategy = make_strategy(user, name="Old")
    response = api_client.patch(f"/api/strategies/{strategy.pk}/", {"name": "New"}, format="json")
    assert response.status_code == 200
