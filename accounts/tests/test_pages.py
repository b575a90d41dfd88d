"""Dashboard account pages: sign up, log in, log out, change password, and the login wall."""

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from accounts.tests.conftest import mailed_link
from tests.factories import TEST_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

STRONG_PASSWORD = "violet-kettle-orbit-913"


def logged_in_user_id(client) -> str | None:
    return client.session.get("_auth_user_id")


def test_signup_page_renders(client):
    response = client.get("/signup/")

    assert response.status_code == 200
    assert b'name="email"' in response.content
    assert b'name="password"' in response.content


def test_signup_mails_a_link_that_opens_the_account_and_logs_in(client):
    response = client.post(
        "/signup/", {"name": "Asha", "email": "Asha@Example.com", "password": STRONG_PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == "/signup/sent/"
    assert b"Check your inbox" in client.get("/signup/sent/").content
    user = User.objects.get(email="asha@example.com")
    assert user.name == "Asha"
    assert not user.is_active
    assert logged_in_user_id(client) is None

    link = mailed_link("asha@example.com")
    shown = client.get(link)  # a mail scanner's GET spends nothing
    assert shown.status_code == 200
    assert b"Confirm and open my account" in shown.content
    user.refresh_from_db()
    assert not user.is_active
    confirmed = client.post(link)

    assert confirmed.status_code == 302
    assert confirmed["Location"] == "/app/"
    user.refresh_from_db()
    assert user.is_active
    assert user.check_password(STRONG_PASSWORD)
    assert logged_in_user_id(client) == str(user.pk)
    assert client.get("/app/").status_code == 200


def test_a_confirmation_link_works_once(client):
    client.post("/signup/", {"email": "once@example.com", "password": STRONG_PASSWORD})
    link = mailed_link("once@example.com")
    assert client.post(link).status_code == 302
    client.logout()

    again = client.post(link)

    assert again.status_code == 400
    assert b"does not work" in again.content
    assert logged_in_user_id(client) is None


@pytest.mark.parametrize("tamper", ["token", "uid"])
def test_a_tampered_confirmation_link_opens_nothing(client, tamper):
    client.post("/signup/", {"email": "t@example.com", "password": STRONG_PASSWORD})
    _, signup, confirm, uid, token, _ = mailed_link("t@example.com").split("/")
    other = UserFactory()
    if tamper == "token":
        token = token[:-1] + ("a" if token[-1] != "a" else "b")
    else:
        from django.utils.encoding import force_bytes
        from django.utils.http import urlsafe_base64_encode

        uid = urlsafe_base64_encode(force_bytes(other.pk))

    response = client.post(f"/{signup}/{confirm}/{uid}/{token}/")

    assert response.status_code == 400
    assert not User.objects.get(email="t@example.com").is_active
    assert logged_in_user_id(client) is None


def test_an_operator_deactivated_account_cannot_be_reopened_by_signing_up(client, user):
    user.is_active = False
    user.last_login = timezone.now()
    user.save(update_fields=["is_active", "last_login"])

    client.post("/signup/", {"email": user.email, "password": STRONG_PASSWORD})

    assert "/signup/confirm/" not in mail.outbox[-1].body
    user.refresh_from_db()
    assert not user.is_active


def test_signup_answers_a_taken_address_like_a_free_one(client, user):
    taken = client.post("/signup/", {"email": user.email.upper(), "password": STRONG_PASSWORD})
    free = client.post("/signup/", {"email": "free@example.com", "password": STRONG_PASSWORD})

    assert taken.status_code == free.status_code == 302
    assert taken["Location"] == free["Location"] == "/signup/sent/"
    assert logged_in_user_id(client) is None
    assert User.objects.filter(email__iexact=user.email).count() == 1
    assert "tried to sign up" in mail.outbox[0].subject
    assert mail.outbox[0].to == [user.email]


@pytest.mark.parametrize(
    ("password", "message"), [("short1", b"too short"), ("iloveyou", b"too common")]
)
def test_signup_shows_an_error_for_a_weak_password(client, password, message):
    response = client.post("/signup/", {"email": "weak@example.com", "password": password})

    assert response.status_code == 200
    assert message in response.content
    assert logged_in_user_id(client) is None
    assert not User.objects.exists()


def test_signup_shows_an_error_for_an_invalid_email(client):
    response = client.post("/signup/", {"email": "nope", "password": STRONG_PASSWORD})

    assert response.status_code == 200
    assert b"valid email" in response.content
    assert not User.objects.exists()


def test_login_with_email_and_password_logs_in(client, user, password):
    response = client.post("/login/", {"username": user.email, "password": password})

    assert response.status_code == 302
    assert response["Location"] == "/app/"
    assert logged_in_user_id(client) == str(user.pk)


def test_login_email_is_case_insensitive(client, user, password):
    response = client.post("/login/", {"username": user.email.upper(), "password": password})

    assert response.status_code == 302
    assert logged_in_user_id(client) == str(user.pk)


def test_login_follows_a_safe_next(client, user, password):
    response = client.post(
        "/login/?next=/password/",
        {"username": user.email, "password": password, "next": "/password/"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/password/"


def test_login_ignores_an_offsite_next(client, user, password):
    response = client.post(
        "/login/", {"username": user.email, "password": password, "next": "https://evil.example/"}
    )

    assert response.status_code == 302
    assert response["Location"] == "/app/"


def test_login_with_a_wrong_password_shows_an_error(client, user):
    response = client.post("/login/", {"username": user.email, "password": "not-the-password"})

    assert response.status_code == 200
    assert b"Please enter a correct" in response.content
    assert logged_in_user_id(client) is None


def test_inactive_user_cannot_log_in(client, user, password):
    user.is_active = False
    user.save(update_fields=["is_active"])

    response = client.post("/login/", {"username": user.email, "password": password})

    assert response.status_code == 200
    assert logged_in_user_id(client) is None


def test_logout_by_post_logs_out(client, user, password):
    client.post("/login/", {"username": user.email, "password": password})

    response = client.post("/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert logged_in_user_id(client) is None
    assert client.get("/app/").status_code == 302


def test_logout_by_get_is_refused_and_keeps_the_session(client, user, password):
    client.post("/login/", {"username": user.email, "password": password})

    response = client.get("/logout/")

    assert response.status_code == 405
    assert logged_in_user_id(client) == str(user.pk)


def test_password_change_works_and_keeps_the_session(client, user, password):
    client.post("/login/", {"username": user.email, "password": password})

    response = client.post(
        "/password/",
        {
            "old_password": password,
            "new_password1": STRONG_PASSWORD,
            "new_password2": STRONG_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/password/done/"
    assert client.get("/password/done/").status_code == 200
    user.refresh_from_db()
    assert user.check_password(STRONG_PASSWORD)
    assert not user.check_password(TEST_PASSWORD)
    assert user.password.startswith("bcrypt_sha256$")
    assert client.get("/app/").status_code == 200


def test_password_change_refuses_a_wrong_old_password(client, user, password):
    client.post("/login/", {"username": user.email, "password": password})

    response = client.post(
        "/password/",
        {
            "old_password": "not-the-old-one",
            "new_password1": STRONG_PASSWORD,
            "new_password2": STRONG_PASSWORD,
        },
    )

    assert response.status_code == 200
    assert b"incorrectly" in response.content
    user.refresh_from_db()
    assert user.check_password(password)


def test_password_change_requires_login(client):
    response = client.get("/password/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/password/"


def test_app_requires_login(client):
    response = client.get("/app/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/app/"


def test_landing_sends_a_logged_in_user_to_the_app(client, user, password):
    assert client.get("/").status_code == 200
    client.post("/login/", {"username": user.email, "password": password})

    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/app/"


def test_logged_in_user_visiting_signup_goes_to_the_app(client, user, password):
    client.post("/login/", {"username": user.email, "password": password})

    response = client.get("/signup/")

    assert response.status_code == 302
    assert response["Location"] == "/app/"


@pytest.mark.parametrize("path", ["/signup/", "/login/", "/logout/", "/password/"])
def test_account_forms_refuse_posts_without_a_csrf_token(user, password, path):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")

    response = client.post(path, {"username": user.email, "password": password})

    assert response.status_code == 403
    assert logged_in_user_id(client) == str(user.pk)


def test_session_cannot_write_the_api_without_a_csrf_token(user):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")

    assert client.get("/api/auth/me/").status_code == 200
    response = client.patch("/api/auth/me/", {"name": "CSRF"}, format="json")

    assert response.status_code == 403
    user.refresh_from_db()
    assert user.name != "CSRF"


# --- autocomplete: browsers and password managers fill the right values -----------------------


def _input_attrs(html: str) -> dict[str, dict[str, str | None]]:
    """Each named input's attributes by name (plus the unnamed username hint, as "")."""
    from html.parser import HTMLParser

    found: dict[str, dict[str, str | None]] = {}

    class Inputs(HTMLParser):
        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "input" and attrs.get("type") not in ("hidden", "submit"):
                found[attrs.get("name") or ""] = attrs

        handle_startendtag = handle_starttag

    Inputs().feed(html)
    return found


def autocomplete_of(html: str) -> dict[str, str | None]:
    return {name: attrs.get("autocomplete") for name, attrs in _input_attrs(html).items()}


def test_signup_fields_say_what_to_autofill(client):
    fields = autocomplete_of(client.get("/signup/").content.decode())
    assert fields == {"name": "name", "email": "email", "password": "new-password"}


def test_signup_keeps_the_autocomplete_hints_when_it_shows_errors(client):
    html = client.post("/signup/", {"email": "weak@example.com", "password": "short1"})
    assert autocomplete_of(html.content.decode())["password"] == "new-password"


def test_login_fields_say_what_to_autofill(client):
    html = client.get("/login/").content.decode()
    fields = _input_attrs(html)
    assert fields["username"]["type"] == "email"
    assert autocomplete_of(html) == {"username": "username", "password": "current-password"}


def test_password_change_fields_say_what_to_autofill(client, user):
    client.force_login(user)
    html = client.get("/password/").content.decode()
    assert autocomplete_of(html) == {
        "": "username",  # names the account for password managers; not posted
        "old_password": "current-password",
        "new_password1": "new-password",
        "new_password2": "new-password",
    }
    assert _input_attrs(html)[""]["value"] == user.email


@pytest.mark.parametrize("path", ["/login/", "/admin/login/?next=/admin/"])
def test_login_form_email_longer_than_an_address_can_be_is_a_form_error(client, path):
    # django-axes stores the attempted username in a 255-character column.
    email = "a" * 300 + "@example.com"

    response = client.post(path, {"username": email, "password": "whatever-it-is-1"})

    assert response.status_code == 200
    assert b"at most 254 characters" in response.content
    assert logged_in_user_id(client) is None
