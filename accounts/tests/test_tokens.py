"""JWTs: forged and broken access tokens are refused; refresh tokens rotate and are spent once."""

from __future__ import annotations

import base64
import json
import threading
from datetime import timedelta

import jwt
import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.tests.conftest import (
    LOGOUT_URL,
    ME_URL,
    REFRESH_URL,
    VERIFY_URL,
    assert_error_shape,
    bearer,
)
from tests.factories import UserFactory

SIGNING_KEY = settings.SIMPLE_JWT["SIGNING_KEY"]
ALGORITHM = settings.SIMPLE_JWT["ALGORITHM"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj: dict) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def b64url_decode_json(segment: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def access_claims(user) -> dict:
    """The claims of a genuine, current access token for ``user``."""
    return dict(AccessToken.for_user(user).payload)


def sign(claims: dict, *, key: str = SIGNING_KEY, algorithm: str = ALGORITHM) -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


# --- Access tokens on GET /api/auth/me/ ---------------------------------------------------------


@pytest.mark.django_db
def test_hand_signed_token_with_the_right_key_and_algorithm_is_accepted(anon_client, user):
    # The control for the forgeries below: the crafting itself yields a valid token.
    response = anon_client.get(ME_URL, **bearer(sign(access_claims(user))))

    assert response.status_code == 200
    assert response.json()["email"] == user.email


@pytest.mark.django_db
def test_expired_access_token_is_refused(anon_client, user):
    token = AccessToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=5))

    response = anon_client.get(ME_URL, **bearer(str(token)))

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_tampered_payload_with_the_original_signature_is_refused(anon_client, user, other_user):
    header, payload, signature = str(AccessToken.for_user(user)).split(".")
    claims = b64url_decode_json(payload)
    claims["user_id"] = str(other_user.pk)
    forged = f"{header}.{b64url_json(claims)}.{signature}"

    response = anon_client.get(ME_URL, **bearer(forged))

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_token_signed_with_another_key_is_refused(anon_client, user):
    forged = sign(access_claims(user), key="an-attackers-key-that-is-long-enough-0123456789")

    response = anon_client.get(ME_URL, **bearer(forged))

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_token_signed_with_the_django_secret_key_is_refused(anon_client, user):
    assert settings.SECRET_KEY != SIGNING_KEY
    forged = sign(access_claims(user), key=settings.SECRET_KEY)

    response = anon_client.get(ME_URL, **bearer(forged))

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_unsigned_alg_none_token_is_refused(anon_client, user, alg):
    forged = f"{b64url_json({'alg': alg, 'typ': 'JWT'})}.{b64url_json(access_claims(user))}."

    response = anon_client.get(ME_URL, **bearer(forged))

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_token_signed_with_the_right_key_but_another_algorithm_is_refused(anon_client, user):
    assert ALGORITHM == "HS256"
    forged = sign(access_claims(user), algorithm="HS512")

    response = anon_client.get(ME_URL, **bearer(forged))

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
@pytest.mark.parametrize("garbage", ["garbage", "a.b.c", "eyJhbGciOiJIUzI1NiJ9..", "Bearer x"])
def test_garbage_token_is_refused(anon_client, user, garbage):
    response = anon_client.get(ME_URL, **bearer(garbage))

    assert response.status_code == 401
    assert set(response.json()) == {"error"}


@pytest.mark.django_db
@pytest.mark.parametrize("scheme", ["", "Token ", "JWT "])
def test_access_token_without_the_bearer_prefix_is_refused(anon_client, tokens, scheme):
    response = anon_client.get(ME_URL, HTTP_AUTHORIZATION=f"{scheme}{tokens['access']}")

    assert_error_shape(response, 401)


@pytest.mark.django_db
def test_token_for_a_deleted_user_is_refused(anon_client, user):
    token = str(AccessToken.for_user(user))
    user.delete()

    response = anon_client.get(ME_URL, **bearer(token))

    assert_error_shape(response, 401)


# --- Refresh rotation, logout, verify ------------------------------------------------------------


@pytest.mark.django_db
def test_refresh_returns_a_new_access_and_a_new_refresh(anon_client, user, tokens):
    response = anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]})

    assert response.status_code == 200, response.content
    new = response.json()
    assert new["access"] != tokens["access"]
    assert new["refresh"] != tokens["refresh"]
    me = anon_client.get(ME_URL, **bearer(new["access"]))
    assert me.status_code == 200
    assert me.json()["email"] == user.email
    assert anon_client.post(REFRESH_URL, {"refresh": new["refresh"]}).status_code == 200


@pytest.mark.django_db
def test_a_spent_refresh_token_cannot_be_reused(anon_client, tokens):
    assert anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]}).status_code == 200

    response = anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_access_token_cannot_be_used_as_a_refresh_token(anon_client, tokens):
    response = anon_client.post(REFRESH_URL, {"refresh": tokens["access"]})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_refresh_with_an_expired_refresh_token_is_refused(anon_client, user):
    token = RefreshToken.for_user(user)
    token.set_exp(lifetime=-timedelta(seconds=5))

    response = anon_client.post(REFRESH_URL, {"refresh": str(token)})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_refresh_without_a_token_names_the_field(anon_client):
    response = anon_client.post(REFRESH_URL, {})

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["refresh"]


@pytest.mark.django_db
def test_logout_blacklists_the_refresh_token(anon_client, tokens):
    response = anon_client.post(LOGOUT_URL, {"refresh": tokens["refresh"]})

    assert response.status_code == 205
    refused = anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]})
    assert_error_shape(refused, 401, "token_not_valid")


@pytest.mark.django_db
def test_logout_with_a_garbage_token_is_refused(anon_client):
    response = anon_client.post(LOGOUT_URL, {"refresh": "garbage"})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_logout_without_a_token_names_the_field(anon_client):
    response = anon_client.post(LOGOUT_URL, {})

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["refresh"]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["access", "refresh"])
def test_verify_accepts_a_valid_token(anon_client, tokens, kind):
    response = anon_client.post(VERIFY_URL, {"token": tokens[kind]})

    assert response.status_code == 200


@pytest.mark.django_db
def test_verify_refuses_a_blacklisted_refresh_token(anon_client, tokens):
    anon_client.post(LOGOUT_URL, {"refresh": tokens["refresh"]})

    response = anon_client.post(VERIFY_URL, {"token": tokens["refresh"]})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_verify_refuses_a_rotated_refresh_token(anon_client, tokens):
    anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]})

    response = anon_client.post(VERIFY_URL, {"token": tokens["refresh"]})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_verify_refuses_garbage(anon_client, token):
    response = anon_client.post(VERIFY_URL, {"token": token})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_verify_refuses_a_forged_token(anon_client, user):
    forged = sign(access_claims(user), key="an-attackers-key-that-is-long-enough-0123456789")

    response = anon_client.post(VERIFY_URL, {"token": forged})

    assert_error_shape(response, 401, "token_not_valid")


@pytest.mark.django_db
def test_deactivated_users_tokens_stop_working(anon_client, user, tokens):
    user.is_active = False
    user.save(update_fields=["is_active"])

    me = anon_client.get(ME_URL, **bearer(tokens["access"]))
    refresh = anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]})

    assert_error_shape(me, 401, "user_inactive")
    assert_error_shape(refresh, 401, "no_active_account")


@pytest.mark.django_db
def test_deleted_users_refresh_token_is_refused(anon_client, user, tokens):
    user.delete()

    response = anon_client.post(REFRESH_URL, {"refresh": tokens["refresh"]})

    assert_error_shape(response, 401)


# --- The race accounts/tokens.py exists for ---------------------------------------------------


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_refresh_token_spent_by_two_requests_at_once_succeeds_exactly_once(throttle_rates):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite serialises writers ('database is locked'); the race needs PostgreSQL")
    throttle_rates(login="1000/min")
    user = UserFactory()

    # Several rounds, so a check-then-blacklist implementation is very unlikely to slip through.
    for _ in range(5):
        refresh = str(RefreshToken.for_user(user))
        barrier = threading.Barrier(2)
        results: list[tuple[int, dict]] = []

        def spend(token=refresh, barrier=barrier, results=results):
            client = APIClient()
            try:
                barrier.wait(timeout=10)
                response = client.post(REFRESH_URL, {"refresh": token})
                results.append((response.status_code, response.json()))
            finally:
                connection.close()

        threads = [threading.Thread(target=spend) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

        assert sorted(status for status, _ in results) == [200, 401], results
        winner = next(body for status, body in results if status == 200)
        loser = next(body for status, body in results if status == 401)
        assert {"access", "refresh"} <= set(winner)
        assert loser["error"]["code"] == "token_not_valid"
