"""A weak password is reported beside the other fields' errors, on the pages and in the API."""

from __future__ import annotations

import pytest

from accounts.models import User
from accounts.tests.conftest import REGISTER_URL, bearer
from tests.factories import TEST_PASSWORD

pytestmark = pytest.mark.django_db
PASSWORD_URL = "/api/auth/password/"
STRONG = "violet-kettle-orbit-913"


def test_signup_page_shows_a_bad_email_and_a_weak_password_at_once(client):
    response = client.post("/signup/", {"email": "nope", "password": "short1"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"email", "password"}
    assert any("too short" in e for e in errors["password"])
    assert not User.objects.exists()


def test_signup_page_judges_similarity_with_a_valid_email_beside_a_bad_name(client):
    response = client.post(
        "/signup/",
        {"email": "kettlewhistle@example.com", "password": "kettlewhistle", "name": "x" * 151},
    )
    errors = response.context["form"].errors
    assert set(errors) == {"name", "password"}
    assert any("too similar" in e for e in errors["password"]), errors


def test_register_api_names_a_bad_email_and_a_weak_password_at_once(anon_client):
    response = anon_client.post(REGISTER_URL, {"email": "nope", "password": "short1"})
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"email", "password"}
    assert any("too short" in m for m in fields["password"])
    assert not User.objects.exists()


def test_password_change_api_refuses_a_wrong_old_and_a_weak_new_password_at_once(
    anon_client, user, tokens
):
    response = anon_client.post(
        PASSWORD_URL,
        {"old_password": "not-the-old-one", "new_password": "short1"},
        **bearer(tokens["access"]),
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"old_password", "new_password"}
    user.refresh_from_db()
    assert user.check_password(TEST_PASSWORD)


def test_password_change_api_judges_the_new_password_when_the_old_one_is_missing(
    anon_client, tokens
):
    response = anon_client.post(
        PASSWORD_URL, {"new_password": "short1"}, **bearer(tokens["access"])
    )
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"old_password", "new_password"}


def test_password_change_page_judges_strength_despite_a_mismatch(client, user):
    client.force_login(user)
    response = client.post(
        "/password/",
        {"old_password": "wrong", "new_password1": "short1", "new_password2": STRONG},
    )
    errors = response.context["form"].errors
    assert set(errors) == {"old_password", "new_password1", "new_password2"}
    assert any("too short" in e for e in errors["new_password1"])
