"""Refresh-token rotation that spends a token exactly once, even under concurrent requests."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.serializers import TokenRefreshSerializer, TokenVerifySerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, UntypedToken
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import User
from algosaas.api.serializers import JSONTypedInput


def refresh_token_spend(token: RefreshToken, *, user: User) -> None:
    """Blacklist ``token``; raise ``InvalidToken`` if another request spent it first.

    SimpleJWT checks the blacklist and then blacklists, so two racing requests can both pass.
    Here the unique row in ``BlacklistedToken`` decides: only the request that creates it wins.
    """
    with transaction.atomic():
        outstanding, _ = OutstandingToken.objects.get_or_create(
            jti=token[api_settings.JTI_CLAIM],
            defaults={
                "user": user,
                "token": str(token),
                "created_at": token.current_time,
                "expires_at": datetime_from_epoch(token["exp"]),
            },
        )
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
    if not created:
        raise InvalidToken("Token is blacklisted")


class SingleUseRefreshSerializer(JSONTypedInput, TokenRefreshSerializer):
    """Rotate a refresh token: the old one is spent once, a new pair is issued."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        old = self.token_class(attrs["refresh"])  # signature, expiry and blacklist checks
        user = User.objects.filter(pk=old.payload.get(api_settings.USER_ID_CLAIM)).first()
        if user is None or not api_settings.USER_AUTHENTICATION_RULE(user):
            raise AuthenticationFailed(
                self.error_messages["no_active_account"], "no_active_account"
            )
        refresh_token_spend(old, user=user)
        new = RefreshToken.for_user(user)
        return {"access": str(new.access_token), "refresh": str(new)}


class BlacklistAwareVerifySerializer(JSONTypedInput, TokenVerifySerializer):
    """Verify a token; a blacklisted one is invalid (401) like an expired or forged one.

    SimpleJWT answers 400 for a blacklisted token but 401 for every other dead token, so a
    client could not treat "verify failed" uniformly.
    """

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        token = UntypedToken(attrs["token"])  # signature and expiry checks
        if BlacklistedToken.objects.filter(token__jti=token.get(api_settings.JTI_CLAIM)).exists():
            raise InvalidToken("Token is blacklisted")
        return {}
