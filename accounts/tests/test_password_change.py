"""A password change, wherever it happens, revokes every refresh token the user holds."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.services import user_set_password
from accounts.tests.conftest import REFRESH_URL, TOKEN_URL, assert_error_shape, bearer
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "violet-kettle-orbit-913"
PASSWORD_URL = "/api/auth/password/"
ME_URL = "/api/auth/me/"
MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def assert_access_refused(client, access: str) -> None:
    """An access token issued before the change stops working now, not when it expires."""
    assert_error_shape(client.get(ME_URL, **bearer(access)), 401, "password_changed")


def assert_refresh_refused(client, refresh: str) -> None:
    response = client.post(REFRESH_URL, {"refresh": refresh})
    assert_error_shape(response, 401, "token_not_valid")
    assert "access" not in response.json()


@pytest.fixture
def two_sessions(user, obtain_tokens):
    """Two token pairs of ``user``, as from a phone and a laptop."""
    return [obtain_tokens(user.email, TEST_PASSWORD) for _ in range(2)]


def test_the_dashboard_password_change_revokes_every_refresh_token(
    client, anon_client, user, two_sessions
):
    client.force_login(user, backend=MODEL_BACKEND)

    response = client.post(
        "/password/",
        {
            "old_password": TEST_PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302
    for pair in two_sessions:
        assert_refresh_refused(anon_client, pair["refresh"])
        assert_access_refused(anon_client, pair["access"])
    assert client.get("/app/").status_code == 200  # the session that changed it stays in


def test_the_api_password_change_revokes_every_refresh_token_and_issues_a_new_pair(
    anon_client, user, two_sessions
):
    response = anon_client.post(
        PASSWORD_URL,
        {"old_password": TEST_PASSWORD, "new_password": NEW_PASSWORD},
        **bearer(two_sessions[0]["access"]),
    )

    assert response.status_code == 200, response.content
    fresh = response.json()
    for pair in two_sessions:
        assert_refresh_refused(anon_client, pair["refresh"])
        assert_access_refused(anon_client, pair["access"])
    assert anon_client.get(ME_URL, **bearer(fresh["access"])).status_code == 200
    assert anon_client.post(REFRESH_URL, {"refresh": fresh["refresh"]}).status_code == 200
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    login = anon_client.post(TOKEN_URL, {"email": user.email, "password": NEW_PASSWORD})
    assert login.status_code == 200


def test_the_api_password_change_refuses_a_wrong_old_password_and_revokes_nothing(
    anon_client, user, two_sessions
):
    response = anon_client.post(
        PASSWORD_URL,
        {"old_password": "not-the-old-one-9", "new_password": NEW_PASSWORD},
        **bearer(two_sessions[0]["access"]),
    )

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["old_password"]
    assert not BlacklistedToken.objects.exists()
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)


def test_the_api_password_change_applies_the_password_validators(anon_client, user, tokens):
    response = anon_client.post(
        PASSWORD_URL,
        {"old_password": TEST_PASSWORD, "new_password": "iloveyou"},
        **bearer(tokens["access"]),
    )

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["new_password"]
    assert not BlacklistedToken.objects.exists()


def test_the_api_password_change_needs_a_login(anon_client):
    response = anon_client.post(
        PASSWORD_URL, {"old_password": TEST_PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert_error_shape(response, 401, "not_authenticated")


@pytest.mark.parametrize("usable", [True, False])
def test_an_operator_setting_the_password_in_the_admin_revokes_the_users_tokens(
    client, anon_client, user, two_sessions, usable
):
    operator = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(operator, backend=MODEL_BACKEND)
    data = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
    if not usable:
        data = {"usable_password": "false", "unset-password": "1"}

    response = client.post(f"/admin/accounts/user/{user.pk}/password/", data)

    assert response.status_code == 302, response.content
    for pair in two_sessions:
        assert_refresh_refused(anon_client, pair["refresh"])
        assert_access_refused(anon_client, pair["access"])
    user.refresh_from_db()
    assert user.has_usable_password() is usable


def test_the_service_leaves_other_users_tokens_alone(anon_client, user, other_user, obtain_tokens):
    mine = obtain_tokens(user.email, TEST_PASSWORD)
    theirs = obtain_tokens(other_user.email, TEST_PASSWORD)

    user_set_password(user=user, password=NEW_PASSWORD)

    assert_refresh_refused(anon_client, mine["refresh"])
    assert anon_client.post(REFRESH_URL, {"refresh": theirs["refresh"]}).status_code == 200
    outstanding = OutstandingToken.objects.filter(user=user)
    assert outstanding.count() == BlacklistedToken.objects.filter(token__user=user).count()
