"""Reads for accounts."""

from accounts.models import User


def user_get_active_by_email(*, email: str) -> User | None:
    return User.objects.filter(email__iexact=email, is_active=True).first()
