"""Per-address rate limits on registration and log-in (DRF scoped throttles)."""

import pytest

from accounts.tests.conftest import REFRESH_URL, REGISTER_URL, TOKEN_URL, assert_error_shape

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "violet-kettle-orbit-913"


def register(client, n: int, **extra):
    return client.post(
        REGISTER_URL, {"email": f"u{n}@example.com", "password": STRONG_PASSWORD}, **extra
    )


def assert_throttled(response) -> None:
    error = assert_error_shape(response, 429, "throttled")
    retry_after = int(response["Retry-After"])
    assert 0 < retry_after <= 60
    assert error["retry_after"] == retry_after


def test_registration_beyond_the_rate_is_429_with_retry_after(anon_client, throttle_rates):
    throttle_rates(register="3/min")
    for n in range(3):
        assert register(anon_client, n).status_code == 201

    response = register(anon_client, 3)

    assert_throttled(response)
    from accounts.models import User

    assert not User.objects.filter(email="u3@example.com").exists()


def test_failed_registrations_count_towards_the_rate(anon_client, throttle_rates):
    throttle_rates(register="2/min")
    for _ in range(2):
        assert anon_client.post(REGISTER_URL, {"email": "bad"}).status_code == 400

    assert_throttled(register(anon_client, 0))


def test_login_beyond_the_rate_is_429_with_retry_after(anon_client, user, password, throttle_rates):
    throttle_rates(login="3/min")
    for _ in range(3):
        ok = anon_client.post(TOKEN_URL, {"email": user.email, "password": password})
        assert ok.status_code == 200

    response = anon_client.post(TOKEN_URL, {"email": user.email, "password": password})

    assert_throttled(response)
    assert "access" not in response.json()


def test_token_refresh_is_throttled(anon_client, tokens, throttle_rates):
    # The login fixture spent one request of the "login" scope already.
    throttle_rates(login="1/min")

    response = anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]})

    assert_throttled(response)


def test_forged_x_forwarded_for_does_not_reset_the_throttle(anon_client, throttle_rates):
    throttle_rates(register="2/min")
    for n in range(2):
        assert register(anon_client, n, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 201

    for n in range(2, 5):
        response = register(anon_client, n, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.{n}")
        assert_throttled(response)


def test_the_throttle_is_per_client_address(anon_client, throttle_rates):
    throttle_rates(register="1/min")
    assert register(anon_client, 0).status_code == 201
    assert_throttled(register(anon_client, 1))

    response = register(anon_client, 2, REMOTE_ADDR="192.0.2.44")

    assert response.status_code == 201
