"""POST /api/auth/token/ (log in) and GET/PATCH /api/auth/me/ (the signed-in user's profile)."""

from decimal import Decimal

import jwt
import pytest
from django.conf import settings

from accounts.tests.conftest import ME_URL, TOKEN_URL, assert_error_shape, bearer

pytestmark = pytest.mark.django_db


def test_login_with_right_password_returns_a_token_pair_for_that_user(anon_client, user, password):
    response = anon_client.post(TOKEN_URL, {"email": user.email, "password": password})

    assert response.status_code == 200
    body = response.json()
    claims = jwt.decode(body["access"], options={"verify_signature": False})
    assert claims["token_type"] == "access"
    assert str(claims["user_id"]) == str(user.pk)
    assert jwt.decode(body["refresh"], options={"verify_signature": False})["token_type"] == (
        "refresh"
    )


def test_login_email_is_case_insensitive(anon_client, user, password):
    response = anon_client.post(TOKEN_URL, {"email": user.email.upper(), "password": password})

    assert response.status_code == 200


def test_login_records_last_login(anon_client, user, password):
    assert user.last_login is None

    anon_client.post(TOKEN_URL, {"email": user.email, "password": password})

    user.refresh_from_db()
    assert user.last_login is not None


@pytest.mark.parametrize(
    "credentials",
    [
        {"email": "trader@example.com", "password": "wrong-password-123"},
        {"email": "nobody@example.com", "password": "whatever-it-is-1"},
    ],
)
def test_login_with_wrong_credentials_is_401_in_the_error_shape(anon_client, credentials):
    from accounts.models import User
    from tests.factories import TEST_PASSWORD

    User.objects.create_user(email="trader@example.com", password=TEST_PASSWORD)

    response = anon_client.post(TOKEN_URL, credentials)

    assert_error_shape(response, 401, "no_active_account")
    assert "access" not in response.json()


def test_wrong_password_and_unknown_email_get_the_same_answer(anon_client, user):
    wrong = anon_client.post(TOKEN_URL, {"email": user.email, "password": "nope-nope-123"})
    unknown = anon_client.post(TOKEN_URL, {"email": "ghost@example.com", "password": "nope-1234"})

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_inactive_user_cannot_log_in(anon_client, user, password):
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = anon_client.post(TOKEN_URL, {"email": user.email, "password": password})

    assert_error_shape(response, 401, "no_active_account")


def test_login_missing_password_names_the_field(anon_client, user):
    response = anon_client.post(TOKEN_URL, {"email": user.email})

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["password"]


def test_access_token_from_login_opens_me(anon_client, user, tokens):
    response = anon_client.get(ME_URL, **bearer(tokens["access"]))

    assert response.status_code == 200
    body = response.json()
    assert body["email"] == user.email
    assert body["id"] == user.pk
    assert Decimal(body["paper_capital"]) == user.paper_capital
    assert "password" not in body


def test_refresh_token_does_not_open_me(anon_client, tokens):
    response = anon_client.get(ME_URL, **bearer(tokens["refresh"]))

    assert_error_shape(response, 401, "token_not_valid")


def test_me_without_credentials_is_401(anon_client):
    response = anon_client.get(ME_URL)

    assert_error_shape(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_patch_me_changes_name_and_paper_capital(api_client, user):
    response = api_client.patch(
        ME_URL, {"name": "Meera Iyer", "paper_capital": "250000.50"}, format="json"
    )

    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Meera Iyer"
    assert Decimal(response.json()["paper_capital"]) == Decimal("250000.50")
    user.refresh_from_db()
    assert user.name == "Meera Iyer"
    assert user.paper_capital == Decimal("250000.50")


def test_patch_me_accepts_the_minimum_capital(api_client, user):
    response = api_client.patch(ME_URL, {"paper_capital": "1000.00"}, format="json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.paper_capital == Decimal("1000.00")


@pytest.mark.parametrize("capital", ["999.99", "0", "-5000", "not-a-number"])
def test_patch_me_refuses_bad_capital_naming_the_field(api_client, user, capital):
    before = user.paper_capital

    response = api_client.patch(ME_URL, {"paper_capital": capital}, format="json")

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["paper_capital"]
    user.refresh_from_db()
    assert user.paper_capital == before


def test_patch_me_cannot_change_email_or_currency(api_client, user):
    original = user.email

    response = api_client.patch(
        ME_URL, {"email": "hijack@example.com", "currency": "USD", "name": "X"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["email"] == original
    user.refresh_from_db()
    assert user.email == original
    assert user.currency == "INR"
    assert user.name == "X"


def test_patch_me_cannot_grant_staff(api_client, user):
    api_client.patch(ME_URL, {"is_staff": True, "is_superuser": True}, format="json")

    user.refresh_from_db()
    assert not user.is_staff
    assert not user.is_superuser


def test_me_shows_only_the_caller(api_client, other_client, user, other_user):
    assert api_client.get(ME_URL).json()["email"] == user.email
    assert other_client.get(ME_URL).json()["email"] == other_user.email


def test_access_token_lifetime_is_the_configured_one(tokens):
    claims = jwt.decode(
        tokens["access"],
        settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithms=[settings.SIMPLE_JWT["ALGORITHM"]],
    )

    lifetime = settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"].total_seconds()
    assert claims["exp"] - claims["iat"] == lifetime


@pytest.mark.parametrize("length", [255, 256, 300, 5000])
def test_login_email_longer_than_an_address_can_be_is_a_400_not_a_500(anon_client, length):
    # django-axes stores the attempted username in a 255-character column.
    email = "a" * (length - len("@example.com")) + "@example.com"

    response = anon_client.post(TOKEN_URL, {"email": email, "password": "whatever-it-is-1"})

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["email"]
