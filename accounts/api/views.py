"""Auth endpoints: register, JWT obtain/refresh/verify, logout (blacklist) and ``me``."""

from __future__ import annotations

import structlog
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address
from axes.utils import reset as axes_reset
from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView
from rest_framework_simplejwt import views as jwt_views
from rest_framework_simplejwt.tokens import RefreshToken

from accounts.api.serializers import (
    EmailTokenObtainPairSerializer,
    LogoutSerializer,
    PasswordChangeSerializer,
    RegisterSerializer,
    RegistrationAcceptedSerializer,
    TokenPairSerializer,
    UserSerializer,
    login_email,
)
from accounts.exceptions import LoginLockedOut
from accounts.services import (
    EMAIL_MAX_LENGTH,
    EMAIL_TOO_LONG,
    user_change_password,
    user_register,
    user_update_profile,
)
from accounts.tokens import BlacklistAwareVerifySerializer, SingleUseRefreshSerializer

logger = structlog.get_logger(__name__)


REGISTRATION_ACCEPTED = (
    "Check your inbox: we sent a message to that address. "
    "Follow the link in it to finish signing up."
)


class RegisterView(APIView):
    """Start a sign-up: 202 and a mail, the same whether or not the address has an account.

    The account opens when the link mailed to the address is followed. Throttled per address.
    """

    permission_classes = [permissions.AllowAny]
    authentication_classes: list = []
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "register"

    @extend_schema(request=RegisterSerializer, responses={202: RegistrationAcceptedSerializer})
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = user_register(**serializer.validated_data, site_url=request.build_absolute_uri("/"))
        if user is not None:
            logger.info("user_registered", user_id=user.pk)
        else:
            logger.info("registration_for_a_taken_email")
        return Response({"detail": REGISTRATION_ACCEPTED}, status=status.HTTP_202_ACCEPTED)


class TokenObtainView(jwt_views.TokenObtainPairView):
    """Exchange email and password for an access and a refresh token.

    Throttled per address; an account locked by django-axes after repeated failures from this
    address is refused with 429 before any password is checked.
    """

    serializer_class = EmailTokenObtainPairSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    def post(self, request: Request, *args, **kwargs) -> Response:
        email = request.data.get("email") if hasattr(request.data, "get") else None
        email = login_email(email) if email else None
        if email and "\x00" in email:  # PostgreSQL cannot look it up: the axes check was a 500
            raise ValidationError({"email": ["Null characters are not allowed."]})
        if email and len(email) > EMAIL_MAX_LENGTH:  # django-axes' column is 255: a 500 otherwise
            raise ValidationError({"email": [EMAIL_TOO_LONG]})
        credentials = {settings.AXES_USERNAME_FORM_FIELD: email} if email else None
        if AxesProxyHandler.is_locked(request._request, credentials=credentials):
            logger.warning("login_locked_out", email_domain=str(email).rpartition("@")[2])
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            raise LoginLockedOut(
                f"Too many failed login attempts. Try again in {minutes} minutes.",
                retry_after=int(settings.AXES_COOLOFF_TIME.total_seconds()),
            )
        response = super().post(request, *args, **kwargs)  # raises unless the login succeeded
        if settings.AXES_RESET_ON_SUCCESS:
            # django-axes resets on ``user_logged_in``, which SimpleJWT never sends.
            axes_reset(ip=get_client_ip_address(request._request), username=email)
        return response


class TokenRefreshView(jwt_views.TokenRefreshView):
    """Spend a refresh token for a new pair; the spent token is blacklisted (rotation)."""

    serializer_class = SingleUseRefreshSerializer
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"


class TokenVerifyView(jwt_views.TokenVerifyView):
    """Check that a token is valid (signature, expiry, blacklist)."""

    serializer_class = BlacklistAwareVerifySerializer


class LogoutView(jwt_views.TokenBlacklistView):
    """Blacklist a refresh token so it can never be spent again."""

    serializer_class = LogoutSerializer

    @extend_schema(request=LogoutSerializer, responses={205: None})
    def post(self, request: Request, *args, **kwargs) -> Response:
        super().post(request, *args, **kwargs)
        return Response(status=status.HTTP_205_RESET_CONTENT)


class PasswordChangeView(APIView):
    """Change the caller's password; every refresh token is revoked and a new pair returned.

    Throttled like log-in: a stolen access token must not become a fast old-password oracle.
    """

    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "login"

    @extend_schema(request=PasswordChangeSerializer, responses=TokenPairSerializer)
    def post(self, request: Request) -> Response:
        serializer = PasswordChangeSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = user_change_password(user=request.user, **serializer.validated_data)
        logger.info("password_changed", user_id=user.pk)
        fresh = RefreshToken.for_user(user)
        return Response(TokenPairSerializer({"access": fresh.access_token, "refresh": fresh}).data)


class MeView(APIView):
    """The signed-in user's profile and paper-account settings."""

    @extend_schema(responses=UserSerializer)
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=UserSerializer, responses=UserSerializer)
    def patch(self, request: Request) -> Response:
        serializer = UserSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        user = user_update_profile(user=request.user, **serializer.validated_data)
        return Response(UserSerializer(user).data)
