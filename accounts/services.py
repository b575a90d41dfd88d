"""Writes for accounts: registration, passwords and the demo user."""

from __future__ import annotations

from decimal import Decimal

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User

DUPLICATE_EMAIL = "A user with this email address already exists."
EMAIL_MAX_LENGTH: int = User._meta.get_field("email").max_length
EMAIL_TOO_LONG = f"Enter an email address of at most {EMAIL_MAX_LENGTH} characters."


@transaction.atomic
def user_register(*, email: str, password: str, name: str = "") -> User:
    """Create a user after Django's password validators; raise ``ValidationError`` by field."""
    email = User.objects.normalize_email(email).strip().lower()
    if User.objects.filter(email__iexact=email).exists():
        raise ValidationError({"email": [DUPLICATE_EMAIL]})
    try:
        password_validation.validate_password(password, User(email=email, name=name))
    except ValidationError as e:
        raise ValidationError({"password": e.messages}) from e
    try:
        with transaction.atomic():
            return User.objects.create_user(email=email, password=password, name=name)
    except IntegrityError as e:  # a concurrent registration won the race
        raise ValidationError({"email": [DUPLICATE_EMAIL]}) from e


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
    """Check the current password and the validators, then ``user_set_password``."""
    if not user.check_password(old_password):
        raise ValidationError({"old_password": ["Your old password was entered incorrectly."]})
    try:
        password_validation.validate_password(new_password, user)
    except ValidationError as e:
        raise ValidationError({"new_password": e.messages}) from e
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
