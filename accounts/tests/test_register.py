"""POST /api/auth/register/: starting a sign-up, confirming it, and every way it is refused."""

import json

import pytest
from django.core import mail

from accounts.models import User
from accounts.tests.conftest import REGISTER_URL, assert_error_shape, confirm_signup, mailed_link

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "violet-kettle-orbit-913"


def test_register_creates_an_inactive_user_with_lowercased_email_and_mails_a_link(anon_client):
    response = anon_client.post(
        REGISTER_URL,
        {"email": "  Asha.Rao@Example.COM ", "password": STRONG_PASSWORD, "name": "Asha Rao"},
    )

    assert response.status_code == 202, response.content
    assert set(response.json()) == {"detail"}
    assert STRONG_PASSWORD not in response.content.decode()
    user = User.objects.get(email="asha.rao@example.com")
    assert user.name == "Asha Rao"
    assert user.currency == "INR"
    assert not user.is_active  # until the address is confirmed
    assert "/signup/confirm/" in mailed_link("asha.rao@example.com")
    assert user.check_password(STRONG_PASSWORD)
    assert user.password != STRONG_PASSWORD
    assert not user.is_staff
    assert not user.is_superuser


def test_registered_user_can_log_in_once_the_address_is_confirmed(anon_client):
    anon_client.post(REGISTER_URL, {"email": "new@example.com", "password": STRONG_PASSWORD})
    credentials = {"email": "new@example.com", "password": STRONG_PASSWORD}
    assert anon_client.post("/api/auth/token/", credentials).status_code == 401

    confirm_signup("new@example.com")
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

    assert response.status_code == 202
    user = User.objects.get(email="sneaky@example.com")
    assert not user.is_staff
    assert not user.is_superuser


@pytest.mark.parametrize(
    "email", ["trader@example.com", "Trader@Example.com", "TRADER@EXAMPLE.COM"]
)
def test_a_taken_address_gets_the_same_answer_as_a_free_one_and_its_owner_a_mail(
    anon_client, email
):
    owner = User.objects.create_user(email="trader@example.com", password=STRONG_PASSWORD)
    free = anon_client.post(REGISTER_URL, {"email": "free@example.com", "password": "x9-" * 5})

    taken = anon_client.post(REGISTER_URL, {"email": email, "password": "other-pass-0042"})

    assert taken.status_code == free.status_code == 202
    assert taken.json() == free.json()
    assert taken.headers.keys() == free.headers.keys()
    assert User.objects.filter(email__iexact="trader@example.com").count() == 1
    owner.refresh_from_db()
    assert owner.check_password(STRONG_PASSWORD)  # nothing about the account changed
    notice = [m for m in mail.outbox if m.to == ["trader@example.com"]]
    assert len(notice) == 1
    assert "tried to sign up" in notice[0].subject
    assert "other-pass-0042" not in notice[0].body


def test_taken_and_free_addresses_do_the_same_work(anon_client, monkeypatch):
    """One password hash and one mail either way, so the response time tells nothing."""
    from accounts.hashers import FastBCryptSHA256PasswordHasher

    User.objects.create_user(email="trader@example.com", password=STRONG_PASSWORD)
    hashes = []
    encode = FastBCryptSHA256PasswordHasher.encode
    monkeypatch.setattr(
        FastBCryptSHA256PasswordHasher,
        "encode",
        lambda self, *a, **k: hashes.append(1) or encode(self, *a, **k),
    )
    work = {}
    for email in ("trader@example.com", "free@example.com"):
        hashes.clear()
        sent = len(mail.outbox)
        anon_client.post(REGISTER_URL, {"email": email, "password": "other-pass-0042"})
        work[email] = (len(hashes), len(mail.outbox) - sent)

    assert work["trader@example.com"] == work["free@example.com"] == (1, 1)


def test_registering_again_before_confirming_mails_a_fresh_link(anon_client):
    anon_client.post(REGISTER_URL, {"email": "slow@example.com", "password": STRONG_PASSWORD})

    again = anon_client.post(REGISTER_URL, {"email": "slow@example.com", "password": "x9-" * 5})

    assert again.status_code == 202
    assert len([m for m in mail.outbox if m.to == ["slow@example.com"]]) == 2
    confirm_signup("slow@example.com")
    user = User.objects.get(email="slow@example.com")
    assert user.is_active
    assert user.check_password(STRONG_PASSWORD)  # the second attempt changed nothing


def test_a_taken_address_with_a_weak_password_is_refused_like_a_free_one(anon_client):
    User.objects.create_user(email="trader@example.com", password=STRONG_PASSWORD)

    taken = anon_client.post(REGISTER_URL, {"email": "trader@example.com", "password": "iloveyou"})
    free = anon_client.post(REGISTER_URL, {"email": "free@example.com", "password": "iloveyou"})

    assert taken.status_code == free.status_code == 400
    assert taken.json() == free.json()
    assert not mail.outbox


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

    assert response.status_code == 202
    assert User.objects.filter(email="form@example.com").exists()


def test_register_with_get_is_not_allowed(anon_client):
    response = anon_client.get(REGISTER_URL)

    assert_error_shape(response, 405, "method_not_allowed")


def test_register_password_longer_than_128_characters_is_refused(anon_client):
    response = anon_client.post(REGISTER_URL, {"email": "a@example.com", "password": "x" * 129})

    error = assert_error_shape(response, 400, "invalid")
    assert list(error["fields"]) == ["password"]
