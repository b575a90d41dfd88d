"""Fixtures for the accounts tests: auth URLs, a real login through the API, throttle rates."""

from __future__ import annotations

import pytest
from rest_framework.throttling import ScopedRateThrottle

REGISTER_URL = "/api/auth/register/"
TOKEN_URL = "/api/auth/token/"
REFRESH_URL = "/api/auth/token/refresh/"
VERIFY_URL = "/api/auth/token/verify/"
LOGOUT_URL = "/api/auth/logout/"
ME_URL = "/api/auth/me/"


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    """Check the project's one error shape and return its ``error`` object."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert {"code", "message", "fields"} <= set(error)
    assert isinstance(error["message"], str)
    assert error["message"]
    if code is not None:
        assert error["code"] == code
    return error


def mailed_link(email: str) -> str:
    """The path of the last link mailed to ``email`` (Django's test outbox)."""
    import re
    from urllib.parse import urlsplit

    from django.core import mail

    messages = [m for m in mail.outbox if m.to == [email]]
    assert messages, f"no mail to {email}"
    match = re.search(r"https?://\S+", messages[-1].body)
    assert match, messages[-1].body
    return urlsplit(match.group(0)).path


def confirm_signup(email: str) -> None:
    """Confirm ``email`` with the link mailed to it, through the service (no request is made:
    the page itself is tested in test_pages.py)."""
    from accounts.services import user_confirm_email

    uidb64, token = mailed_link(email).strip("/").split("/")[-2:]
    assert user_confirm_email(uidb64=uidb64, token=token) is not None


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


@pytest.fixture
def obtain_tokens(anon_client):
    """Log in through ``POST /api/auth/token/`` and return ``{"access", "refresh"}``."""

    def obtain(email: str, password: str) -> dict[str, str]:
        response = anon_client.post(TOKEN_URL, {"email": email, "password": password})
        assert response.status_code == 200, response.content
        return response.json()

    return obtain


@pytest.fixture
def tokens(user, password, obtain_tokens):
    """A token pair for ``user``, obtained by logging in through the API."""
    return obtain_tokens(user.email, password)


@pytest.fixture
def throttle_rates(monkeypatch):
    """Set DRF scoped throttle rates for one test.

    ``ScopedRateThrottle.THROTTLE_RATES`` is read from DRF's settings when the class is defined,
    so ``override_settings`` does not reach it; patch the class attribute instead.
    """

    def set_rates(**rates: str) -> None:
        monkeypatch.setattr(
            ScopedRateThrottle, "THROTTLE_RATES", {**ScopedRateThrottle.THROTTLE_RATES, **rates}
        )

    return set_rates
