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
        assert register(anon_client, n).status_code == 202

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
        assert register(anon_client, n, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 202

    for n in range(2, 5):
        response = register(anon_client, n, HTTP_X_FORWARDED_FOR=f"198.51.100.{n}, 203.0.113.{n}")
        assert_throttled(response)


def test_the_throttle_is_per_client_address(anon_client, throttle_rates):
    throttle_rates(register="1/min")
    assert register(anon_client, 0).status_code == 202
    assert_throttled(register(anon_client, 1))

    response = register(anon_client, 2, REMOTE_ADDR="192.0.2.44")

    assert response.status_code == 202


# --- The dashboard's sign-up and log-in forms share the API's policy and counters --------------


def web_signup(client, n: int):
    return client.post("/signup/", {"email": f"w{n}@example.com", "password": STRONG_PASSWORD})


def web_login(client, email: str, password: str):
    return client.post("/login/", {"username": email, "password": password})


def assert_web_throttled(response) -> None:
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert b"Too many attempts" in response.content
    assert "_auth_user_id" not in response.wsgi_request.session


def test_dashboard_signups_beyond_the_rate_are_429_on_the_form(client, throttle_rates):
    throttle_rates(register="3/min")
    for n in range(3):
        assert web_signup(client, n).status_code == 302

    response = web_signup(client, 3)

    assert_web_throttled(response)
    assert b'name="email"' in response.content  # the form is shown again
    from accounts.models import User

    assert not User.objects.filter(email="w3@example.com").exists()


def test_dashboard_logins_over_many_usernames_are_throttled_per_address(
    client, user, password, throttle_rates
):
    # The probe: 15 wrong passwords over 15 usernames were all answered 200.
    throttle_rates(login="10/min")
    answers = [web_login(client, f"someone{n}@example.com", "wrong-password-1") for n in range(15)]

    assert [r.status_code for r in answers] == [200] * 10 + [429] * 5
    assert_web_throttled(web_login(client, user.email, password))  # even the right password


def test_the_api_and_the_dashboard_spend_one_login_budget(
    client, anon_client, user, password, throttle_rates
):
    throttle_rates(login="3/min")
    for _ in range(2):
        assert anon_client.post(TOKEN_URL, {"email": user.email, "password": "wrong-1"}).status_code
    assert web_login(client, user.email, "wrong-password-1").status_code == 200

    assert_web_throttled(web_login(client, user.email, password))
    assert_throttled(anon_client.post(TOKEN_URL, {"email": user.email, "password": password}))


def test_the_api_and_the_dashboard_spend_one_registration_budget(
    client, anon_client, throttle_rates
):
    throttle_rates(register="2/min")
    register(anon_client, 0)
    web_signup(client, 1)

    assert_throttled(register(anon_client, 2))
    assert_web_throttled(web_signup(client, 3))


def test_showing_the_dashboard_forms_is_not_counted(client, throttle_rates):
    throttle_rates(login="1/min", register="1/min")
    for _ in range(3):
        assert client.get("/login/").status_code == 200
        assert client.get("/signup/").status_code == 200

    assert web_signup(client, 0).status_code == 302
