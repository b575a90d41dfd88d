"""Writes for accounts: registration and its confirmation, passwords and the demo user."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import password_validation
from django.contrib.auth.hashers import make_password
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User

DUPLICATE_EMAIL = "A user with this email address already exists."
EMAIL_MAX_LENGTH: int = User._meta.get_field("email").max_length
EMAIL_TOO_LONG = f"Enter an email address of at most {EMAIL_MAX_LENGTH} characters."


def password_problems(password: str, *, user: User) -> list[str]:
    """Why Django's password validators refuse ``password`` for ``user`` (empty when strong).

    ``user`` may be unsaved, holding only what the form knows (email, name): the similarity
    check compares the password with those.
    """
    try:
        password_validation.validate_password(password, user)
    except ValidationError as e:
        return list(e.messages)
    return []


@transaction.atomic
def user_register(*, email: str, password: str, name: str = "", site_url: str) -> User | None:
    """Start a sign-up; to the caller it looks the same whether or not the address is taken.

    The password is checked by Django's validators first (a refusal names the field). Then a
    free address gets a new, inactive account and a confirmation link by mail; a taken one
    gets a mail to its owner instead (with a fresh confirmation link if the owner never
    confirmed). Both paths hash the password once and send one mail, so neither the answer nor
    its timing tells a stranger who has an account. Returns the new user, or ``None``; callers
    must not let the difference show. ``site_url`` (scheme and host) prefixes the links.
    """
    email = User.objects.normalize_email(email).strip().lower()
    problems = password_problems(password, user=User(email=email, name=name))
    if problems:
        raise ValidationError({"password": problems})
    owner = User.objects.filter(email__iexact=email).first()
    if owner is None:
        try:
            with transaction.atomic():
                user = User.objects.create_user(
                    email=email, password=password, name=name, is_active=False
                )
        except IntegrityError:  # a concurrent registration won the race
            owner = User.objects.get(email__iexact=email)
        else:
            _send_mail(user, "confirm", site_url=site_url, link=_confirm_link(user, site_url))
            return user
    make_password(password)  # the same bcrypt work as creating an account
    link = _confirm_link(owner, site_url) if _unconfirmed(owner) else ""
    _send_mail(owner, "already_registered", site_url=site_url, link=link)
    return None


def user_confirm_email(*, uidb64: str, token: str) -> User | None:
    """Activate the account a confirmation link names; ``None`` if the link is not valid.

    The token covers ``is_active``, so a link works once; it expires after
    ``PASSWORD_RESET_TIMEOUT``.
    """
    user = user_from_confirm_link(uidb64=uidb64, token=token)
    if user is None:
        return None
    user.is_active = True
    user.save(update_fields=["is_active"])
    return user


def user_from_confirm_link(*, uidb64: str, token: str) -> User | None:
    """The unconfirmed user a valid link names, else ``None``."""
    try:
        pk = urlsafe_base64_decode(uidb64).decode()
        user = User.objects.filter(pk=int(pk)).first()
    except (ValueError, UnicodeDecodeError):
        return None
    if user is None or not _unconfirmed(user) or not confirm_tokens.check_token(user, token):
        return None
    return user


class _ConfirmTokenGenerator(PasswordResetTokenGenerator):
    """Password-reset-style tokens under their own salt, spent by activating the account."""

    key_salt = "accounts.services.confirm_email"

    def _make_hash_value(self, user: User, timestamp: int) -> str:
        return f"{user.pk}{user.password}{user.is_active}{timestamp}{user.email}"


confirm_tokens = _ConfirmTokenGenerator()


def _unconfirmed(user: User) -> bool:
    """Never activated: inactive and never logged in (an operator's deactivation is not this)."""
    return not user.is_active and user.last_login is None


def _confirm_link(user: User, site_url: str) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    path = reverse("signup_confirm", args=[uidb64, confirm_tokens.make_token(user)])
    return site_url.rstrip("/") + path


def _send_mail(user: User, template: str, **context: str) -> None:
    context = {"user": user, **context}
    subject = render_to_string(f"registration/emails/{template}_subject.txt", context)
    body = render_to_string(f"registration/emails/{template}.txt", context)
    send_mail(" ".join(subject.split()), body, None, [user.email])


@transaction.atomic
def user_set_password(*, user: User, password: str | None) -> User:
    """Set ``password`` (``None``: an unusable one) and revoke all the user's refresh tokens.

    Every password change and reset goes through here (the dashboard, the API, the admin), so a
    thief holding a refresh token loses it the moment the owner changes the password.
    """
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save(update_fields=["password"])
    user_revoke_refresh_tokens(user=user)
    return user


def user_change_password(*, user: User, old_password: str, new_password: str) -> User:
    """Check the current password and the validators, then ``user_set_password``.

    Both are judged, so a wrong old password and a weak new one are refused together.
    """
    errors: dict[str, list[str]] = {}
    if not user.check_password(old_password):
        errors["old_password"] = ["Your old password was entered incorrectly."]
    problems = password_problems(new_password, user=user)
    if problems:
        errors["new_password"] = problems
    if errors:
        raise ValidationError(errors)
    return user_set_password(user=user, password=new_password)


def user_revoke_refresh_tokens(*, user: User) -> int:
    """Blacklist every unexpired refresh token issued to ``user``; return how many."""
    live = OutstandingToken.objects.filter(
        user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True
    )
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in live], ignore_conflicts=True
    )
    return len(revoked)


def user_update_profile(
    *, user: User, name: str | None = None, paper_capital: Decimal | None = None
) -> User:
    """Change the user's display name and default paper capital."""
    fields = []
    if name is not None:
        user.name = name
        fields.append("name")
    if paper_capital is not None:
        user.paper_capital = paper_capital
        fields.append("paper_capital")
    if fields:
        user.full_clean(exclude=["password", "email"])
        user.save(update_fields=fields)
    return user


def user_ensure_demo(*, email: str, password: str, name: str = "Demo Trader") -> tuple[User, bool]:
    """Return the demo user, creating it (or resetting its password) idempotently."""
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(email=email, password=password, name=name)
    elif not user.check_password(password):
        user_set_password(user=user, password=password)
    return user, created
