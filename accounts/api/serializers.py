"""Shapes of the auth API; they parse and render, the services decide."""

from rest_framework import serializers

from accounts.models import User


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128, trim_whitespace=False)
    name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "name", "date_joined", "paper_capital", "currency"]
        read_only_fields = ["id", "email", "date_joined", "currency"]


class LogoutSerializer(serializers.Serializer):
    refresh = serializers.CharField()
