"""Passwords are stored as bcrypt-SHA256 hashes, never in clear, and old hashes are upgraded."""

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.test import override_settings

from accounts.models import User
from accounts.tests.conftest import REGISTER_URL, TOKEN_URL, confirm_signup

STRONG_PASSWORD = "violet-kettle-orbit-913"


def test_production_settings_hash_with_bcrypt_sha256_first():
    from algosaas.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.BCryptSHA256PasswordHasher"


@pytest.mark.django_db
def test_registered_password_is_stored_as_a_bcrypt_sha256_hash(anon_client):
    anon_client.post(REGISTER_URL, {"email": "hash@example.com", "password": STRONG_PASSWORD})

    stored = User.objects.get(email="hash@example.com").password
    assert stored.startswith("bcrypt_sha256$")
    assert STRONG_PASSWORD not in stored


@pytest.mark.django_db
def test_factory_users_use_bcrypt_sha256_too(user):
    assert user.password.startswith("bcrypt_sha256$")


@pytest.mark.django_db
def test_passwords_longer_than_bcrypts_72_bytes_are_fully_checked(anon_client):
    # Plain bcrypt ignores (or refuses) bytes past 72; bcrypt_sha256 hashes the whole password.
    password = "long-passphrase-" * 6  # 96 characters
    anon_client.post(REGISTER_URL, {"email": "long@example.com", "password": password})
    confirm_signup("long@example.com")
    same_prefix = password[:80] + "X" * 16

    right = anon_client.post(TOKEN_URL, {"email": "long@example.com", "password": password})
    wrong = anon_client.post(TOKEN_URL, {"email": "long@example.com", "password": same_prefix})

    assert right.status_code == 200
    assert wrong.status_code == 401


@pytest.mark.django_db
@override_settings(
    PASSWORD_HASHERS=[
        "accounts.hashers.FastBCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
)
def test_a_legacy_pbkdf2_hash_is_upgraded_to_bcrypt_on_login(anon_client, user, password):
    user.password = PBKDF2PasswordHasher().encode(password, "legacysalt1234", iterations=1000)
    user.save(update_fields=["password"])

    response = anon_client.post(TOKEN_URL, {"email": user.email, "password": password})

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.password.startswith("bcrypt_sha256$")
    assert user.check_password(password)
