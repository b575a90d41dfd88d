"""Shapes of the auth API; they parse and render, the services decide."""

from typing import Any

from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer, TokenObtainPairSerializer

from accounts.models import User
from algosaas import bounds
from algosaas.api.serializers import JSONTypedInput, ModelSerializer, Serializer


def login_email(value: Any) -> str:
    """Return the email a login attempt is for, as stored: stripped and lower-cased.

    django-axes counts failures per exact username string, so every spelling of one address must
    map to one string or a change of letter case would start a fresh lockout counter.
    """
    return str(value).strip().lower()


class RegisterSerializer(Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class RegistrationAcceptedSerializer(Serializer):
    detail = serializers.CharField()


class PasswordChangeSerializer(Serializer):
    old_password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)


class TokenPairSerializer(Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class UserSerializer(ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "date_joined", "paper_capital", "currency"]
        read_only_fields = ["id", "email", "date_joined", "currency"]
        extra_kwargs = {"paper_capital": bounds.CAPITAL.field_kwargs()}


class LogoutSerializer(JSONTypedInput, TokenBlacklistSerializer):
    """A refresh token to blacklist."""


class EmailTokenObtainPairSerializer(JSONTypedInput, TokenObtainPairSerializer):
    """Email and password for a token pair; the email is matched in any letter case."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, str]:
        attrs[self.username_field] = login_email(attrs[self.username_field])
        return super().validate(attrs)
