"""Shapes of the auth API; they parse and render, the services decide."""

from typing import Any

from rest_framework import serializers
from rest_framework_simplejwt.serializers import TokenBlacklistSerializer, TokenObtainPairSerializer

from accounts.models import User
from accounts.services import password_problems
from algosaas import bounds
from algosaas.api.serializers import CrossFieldChecks, JSONTypedInput, ModelSerializer, Serializer


def login_email(value: Any) -> str:
    """Return the email a login attempt is for, as stored: stripped and lower-cased.

    django-axes counts failures per exact username string, so every spelling of one address must
    map to one string or a change of letter case would start a fresh lockout counter.
    """
    return str(value).strip().lower()


class RegisterSerializer(CrossFieldChecks, Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")

    cross_checks_when_valid = False  # a valid request: ``user_register`` judges the password

    def cross_field_errors(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A weak password beside the other fields' errors (judged with the valid ones)."""
        if "password" not in attrs:
            return {}
        person = User(email=attrs.get("email", ""), name=attrs.get("name", ""))
        problems = password_problems(attrs["password"], user=person)
        return {"password": problems} if problems else {}


class RegistrationAcceptedSerializer(Serializer):
    detail = serializers.CharField()


class PasswordChangeSerializer(CrossFieldChecks, Serializer):
    """Old and new password; ``context["request"].user`` is whose password changes."""

    old_password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    new_password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)

    cross_checks_when_valid = False  # a valid request: ``user_change_password`` judges both

    def cross_field_errors(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """A weak new password beside an old password that is missing or malformed."""
        request = self.context.get("request")
        if "new_password" not in attrs or request is None:
            return {}
        problems = password_problems(attrs["new_password"], user=request.user)
        return {"new_password": problems} if problems else {}


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
