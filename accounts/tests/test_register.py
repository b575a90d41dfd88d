"""POST /api/auth/register/: creating an account, and every way a request can be refused."""

import json

import pytest

from accounts.models import User
from accounts.tests.conftest import REGISTER_URL, assert_error_shape

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "violet-kettle-orbit-913"


def test_register_creates_user_with_lowercased_email_and_no_password_in_body(anon_client):
    response = anon_client.post(
        REGISTER_URL,
        {"email": "  Asha.Rao@Example.COM ", "password": STRONG_PASSWORD, "name": "Asha Rao"},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["email"] == "asha.rao@example.com"
    assert body["name"] == "Asha Rao"
    assert body["currency"] == "INR"
    assert "password" not in body
    assert STRONG_PASSWORD not in response.content.decode()
    user = User.objects.get(pk=body["id"])
    assert user.email == "asha.rao@example.com"
    assert user.check_password(STRONG_PASSWORD)
    assert user.password != STRONG_PASSWORD
    assert not user.is_staff
    assert not user.is_superuser


def test_registered_user_can_log_in(anon_client):
    anon_client.post(REGISTER_URL, {"email": "new@example.com", "password": STRONG_PASSWORD})

    response = anon_client.post(
        "/api/auth/token/", {"email": "new@example.com", "password": STRONG_PASSWORD}
    )

    assert response.status_code == 200
    assert {"access", "refresh"} <= set(response.json())


def test_register_ignores_privilege_fields(anon_client):
    response = anon_client.post(
        REGISTER_URL,
        {
            "email": "sneaky@example.com",
            "password": STRONG_PASSWORD,
            "is_staff": True,
            "is_superuser": True,
        },
        format="json",
    )

    assert response.status_code == 201
    user = User.objects.get(email="sneaky@example.com")
    assert not user.is_staff
    assert not user.is_superuser


@pytest.mark.parametrize(
    "email", ["trader@example.com", "Trader@Example.com", "TRADER@EXAMPLE.COM"]
)
def test_register_duplicate_email_in_any_letter_case_is_refused(anon_client, email):
    User.objects.create_user(email="trader@example.com", password=STRONG_PASSWORD)

    response = anon_client.post(REGISTER_URL, {"email": email, "password": STRONG_PASSWORD})

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["email"]
    assert "already exists" in error["fields"]["email"][0]
    assert User.objects.filter(email__iexact="trader@example.com").count() == 1


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Xq7!pz", "too short"),
        ("iloveyou", "too common"),
        ("8490275316", "entirely numeric"),
        ("jonathanlivingston", "too similar to the email"),
    ],
)
def test_register_weak_password_is_refused_with_the_reason(anon_client, password, message):
    response = anon_client.post(
        REGISTER_URL, {"email": "jonathan.livingston@example.com", "password": password}
    )

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["password"]
    assert any(message in m for m in error["fields"]["password"]), error
    assert password not in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("payload", "missing"),
    [
        ({}, {"email", "password"}),
        ({"email": "a@example.com"}, {"password"}),
        ({"password": STRONG_PASSWORD}, {"email"}),
        ({"email": "", "password": STRONG_PASSWORD}, {"email"}),
    ],
)
def test_register_missing_fields_are_named(anon_client, payload, missing):
    response = anon_client.post(REGISTER_URL, payload, format="json")

    error = assert_error_shape(response, 400, "invalid")
    assert set(error["fields"]) == missing
    assert not User.objects.exists()


def test_register_invalid_email_is_refused(anon_client):
    response = anon_client.post(
        REGISTER_URL, {"email": "not-an-email", "password": STRONG_PASSWORD}
    )

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["email"]


@pytest.mark.parametrize("body", ['{"email": "a@example.com", "password": ', "{'a': 1}", "[1, 2"])
def test_register_malformed_json_is_a_400_in_the_error_shape(anon_client, body):
    response = anon_client.generic("POST", REGISTER_URL, body, content_type="application/json")

    error = assert_error_shape(response, 400, "parse_error")
    assert "JSON parse error" in error["message"]
    assert not User.objects.exists()


def test_register_json_that_is_not_an_object_is_refused(anon_client):
    response = anon_client.generic(
        "POST", REGISTER_URL, json.dumps(["a@example.com"]), content_type="application/json"
    )

    assert_error_shape(response, 400, "invalid")
    assert not User.objects.exists()


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/yaml"])
def test_register_unsupported_content_type_is_a_415(anon_client, content_type):
    body = json.dumps({"email": "a@example.com", "password": STRONG_PASSWORD})

    response = anon_client.generic("POST", REGISTER_URL, body, content_type=content_type)

    assert_error_shape(response, 415, "unsupported_media_type")
    assert not User.objects.exists()


def test_register_accepts_a_form_encoded_body(anon_client):
    response = anon_client.post(
        REGISTER_URL,
        {"email": "form@example.com", "password": STRONG_PASSWORD},
        format="multipart",
    )

    assert response.status_code == 201
    assert User.objects.filter(email="form@example.com").exists()


def test_register_with_get_is_not_allowed(anon_client):
    response = anon_client.get(REGISTER_URL)

    assert_error_shape(response, 405, "method_not_allowed")


def test_register_password_longer_than_128_characters_is_refused(anon_client):
    response = anon_client.post(REGISTER_URL, {"email": "a@example.com", "password": "x" * 129})

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["password"]
