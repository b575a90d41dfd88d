"""django-axes: repeated wrong passwords lock one account from one address, API and web alike."""

import logging

import pytest
from django.conf import settings

from accounts.tests.conftest import TOKEN_URL, assert_error_shape

pytestmark = pytest.mark.django_db

WRONG = "definitely-not-it-77"
LIMIT = settings.AXES_FAILURE_LIMIT
COOLOFF_SECONDS = int(settings.AXES_COOLOFF_TIME.total_seconds())


@pytest.fixture(autouse=True)
def _no_rate_limit(throttle_rates):
    """Keep the per-address login throttle out of the way: these tests are about the lockout."""
    throttle_rates(login="1000/min")


def api_login(client, email: str, password: str, **extra):
    return client.post(TOKEN_URL, {"email": email, "password": password}, **extra)


def fail_api_logins(client, email: str, times: int = LIMIT, **extra) -> None:
    for _ in range(times):
        response = api_login(client, email, WRONG, **extra)
        assert_error_shape(response, 401, "no_active_account")


def assert_locked_out(response) -> None:
    error = assert_error_shape(response, 429, "locked_out")
    assert int(response["Retry-After"]) == COOLOFF_SECONDS
    assert error["retry_after"] == COOLOFF_SECONDS
    assert "access" not in response.json()


def test_lockout_refuses_even_the_right_password(anon_client, user, password, caplog):
    fail_api_logins(anon_client, user.email)

    with caplog.at_level(logging.WARNING):
        response = api_login(anon_client, user.email, password)

    assert_locked_out(response)
    warnings = [
        r.msg for r in caplog.records if r.levelno == logging.WARNING and isinstance(r.msg, dict)
    ]
    assert any(w.get("event") == "login_locked_out" for w in warnings), caplog.records
    assert password not in caplog.text


def test_one_failure_fewer_than_the_limit_does_not_lock(anon_client, user, password):
    fail_api_logins(anon_client, user.email, LIMIT - 1)

    assert api_login(anon_client, user.email, password).status_code == 200


def test_a_successful_login_resets_the_failure_count(anon_client, user, password):
    fail_api_logins(anon_client, user.email, LIMIT - 1)
    assert api_login(anon_client, user.email, password).status_code == 200
    fail_api_logins(anon_client, user.email, LIMIT - 1)

    assert api_login(anon_client, user.email, password).status_code == 200


def test_lockout_does_not_lock_other_accounts_from_the_same_address(
    anon_client, user, other_user, password
):
    fail_api_logins(anon_client, user.email)

    assert api_login(anon_client, other_user.email, password).status_code == 200
    assert_locked_out(api_login(anon_client, user.email, password))


def test_lockout_is_per_address(anon_client, user, password):
    fail_api_logins(anon_client, user.email)

    response = api_login(anon_client, user.email, password, REMOTE_ADDR="192.0.2.10")

    assert response.status_code == 200


@pytest.mark.parametrize("variant", [str.upper, str.title, lambda e: f"  {e.upper()} "])
def test_changing_the_email_letter_case_does_not_escape_the_lockout(
    anon_client, user, password, variant
):
    fail_api_logins(anon_client, user.email)

    assert_locked_out(api_login(anon_client, variant(user.email), password))


def test_failures_in_mixed_letter_case_add_up_to_one_lockout(anon_client, user, password):
    for n in range(LIMIT):
        email = user.email.upper() if n % 2 else user.email
        assert api_login(anon_client, email, WRONG).status_code == 401

    assert_locked_out(api_login(anon_client, user.email, password))


def test_forged_x_forwarded_for_does_not_escape_the_lockout(anon_client, user, password):
    fail_api_logins(anon_client, user.email)

    response = api_login(anon_client, user.email, password, HTTP_X_FORWARDED_FOR="203.0.113.9")

    assert_locked_out(response)


# --- The dashboard log-in form -------------------------------------------------------------------


def web_login(client, email: str, password: str):
    return client.post("/login/", {"username": email, "password": password})


def test_web_login_lockout_refuses_even_the_right_password(client, user, password):
    for _ in range(LIMIT):
        assert web_login(client, user.email, WRONG).status_code in (200, 429)

    response = web_login(client, user.email, password)

    assert response.status_code == 429
    assert b"Too many failed log-ins" in response.content
    assert "_auth_user_id" not in client.session


def test_web_login_lockout_does_not_lock_other_accounts(client, user, other_user, password):
    for _ in range(LIMIT):
        web_login(client, user.email, WRONG)

    response = web_login(client, other_user.email, password)

    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(other_user.pk)


def test_web_login_lockout_ignores_email_letter_case(client, user, password):
    for _ in range(LIMIT):
        web_login(client, user.email.upper(), WRONG)

    assert web_login(client, user.email, password).status_code == 429


# --- The admin log-in form -----------------------------------------------------------------------


def admin_login(client, email: str, password: str):
    return client.post(
        "/admin/login/?next=/admin/", {"username": email, "password": password, "next": "/admin/"}
    )


def test_admin_login_lockout_refuses_even_the_right_password(client, password):
    from tests.factories import UserFactory

    operator = UserFactory(is_staff=True, is_superuser=True)
    for _ in range(LIMIT):
        admin_login(client, operator.email, WRONG)

    response = admin_login(client, operator.email, password)

    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_admin_login_still_refuses_non_staff_users(client, user, password):
    response = admin_login(client, user.email, password)

    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
