"""The Django admin for users: who gets in, search, and creating a user with a password."""

import pytest

from accounts.models import User
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"
NEW_PASSWORD = "violet-kettle-orbit-913"


@pytest.fixture
def admin_user():
    return UserFactory(email="ops@example.com", is_staff=True, is_superuser=True)


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user, backend=MODEL_BACKEND)
    return client


def add_user(client, email: str, password1: str = NEW_PASSWORD, password2: str = NEW_PASSWORD):
    return client.post(
        "/admin/accounts/user/add/",
        {"email": email, "password1": password1, "password2": password2, "_save": "Save"},
    )


def test_admin_index_opens_for_a_superuser(admin_client):
    response = admin_client.get("/admin/")

    assert response.status_code == 200
    assert b"/admin/accounts/user/" in response.content


def test_user_changelist_lists_users(admin_client, user, other_user):
    response = admin_client.get("/admin/accounts/user/")

    assert response.status_code == 200
    assert user.email.encode() in response.content
    assert other_user.email.encode() in response.content


def test_user_changelist_search_finds_by_email_and_name(admin_client):
    UserFactory(email="kavya@example.com", name="Kavya Menon")
    UserFactory(email="rohit@example.com", name="Rohit Shah")

    by_email = admin_client.get("/admin/accounts/user/", {"q": "kavya"})
    by_name = admin_client.get("/admin/accounts/user/", {"q": "Shah"})

    assert b"kavya@example.com" in by_email.content
    assert b"rohit@example.com" not in by_email.content
    assert b"rohit@example.com" in by_name.content
    assert b"kavya@example.com" not in by_name.content


def test_user_change_page_opens_without_showing_the_hash(admin_client, user):
    response = admin_client.get(f"/admin/accounts/user/{user.pk}/change/")

    assert response.status_code == 200
    assert user.email.encode() in response.content
    assert user.password.encode() not in response.content


def test_admin_redirects_a_normal_logged_in_user_to_the_admin_login(client, user):
    client.force_login(user, backend=MODEL_BACKEND)

    response = client.get("/admin/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_redirects_anonymous_visitors_to_the_admin_login(client):
    response = client.get("/admin/accounts/user/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_without_permissions_cannot_see_users(client, user):
    staff = UserFactory(is_staff=True)
    client.force_login(staff, backend=MODEL_BACKEND)

    assert client.get("/admin/accounts/user/").status_code == 403
    assert client.get(f"/admin/accounts/user/{user.pk}/change/").status_code == 403


def test_admin_login_form_logs_a_superuser_in_by_email(client, admin_user):
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin_user.email, "password": TEST_PASSWORD, "next": "/admin/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_can_add_a_user_with_a_password(admin_client, client):
    response = add_user(admin_client, "newhire@example.com")

    assert response.status_code == 302, response.content
    created = User.objects.get(email="newhire@example.com")
    assert created.password.startswith("bcrypt_sha256$")
    assert created.check_password(NEW_PASSWORD)
    assert not created.is_staff
    client.logout()
    login = client.post("/login/", {"username": "newhire@example.com", "password": NEW_PASSWORD})
    assert login.status_code == 302


def test_admin_added_email_is_stored_lower_cased(admin_client):
    response = add_user(admin_client, "New.Hire@Example.COM")

    assert response.status_code == 302, response.content
    assert User.objects.filter(email="new.hire@example.com").exists()


def test_admin_add_refuses_a_duplicate_email_in_another_letter_case(admin_client, user):
    response = add_user(admin_client, user.email.upper())

    assert response.status_code == 200
    assert b"already exists" in response.content
    assert User.objects.filter(email__iexact=user.email).count() == 1


def test_admin_add_refuses_mismatched_passwords(admin_client):
    response = add_user(admin_client, "typo@example.com", password2=NEW_PASSWORD + "x")

    assert response.status_code == 200
    assert not User.objects.filter(email="typo@example.com").exists()


def test_admin_add_refuses_a_weak_password(admin_client):
    response = add_user(admin_client, "weak@example.com", "iloveyou", "iloveyou")

    assert response.status_code == 200
    assert b"too common" in response.content
    assert not User.objects.filter(email="weak@example.com").exists()


def test_admin_change_form_refuses_another_users_email(admin_client, user, other_user):
    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "email": other_user.email.upper(),
            "name": user.name,
            "paper_capital": "1000000.00",
            "is_active": "on",
        },
    )

    assert response.status_code == 200
    assert b"already exists" in response.content
    user.refresh_from_db()
    assert user.email != other_user.email


def test_admin_change_form_saves_a_profile_edit(admin_client, user):
    response = admin_client.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {"email": user.email, "name": "Renamed", "paper_capital": "5000.00", "is_active": "on"},
    )

    assert response.status_code == 302, response.content
    user.refresh_from_db()
    assert user.name == "Renamed"
    assert str(user.paper_capital) == "5000.00"
