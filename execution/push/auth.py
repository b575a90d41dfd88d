"""Who is on a socket: the Django session (dashboard) or a SimpleJWT access token (API).

The token comes in the first message (``{"type": "auth", "token": ...}``) or as the second of
two subprotocols (``algosaas.jwt``, then the token) — never in the URL, which lands in access
logs. A bad or expired token is the same as none.
"""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

JWT_SUBPROTOCOL = "algosaas.jwt"
# Close codes (4000-4999 are the application's): the client must not retry without new creds.
CLOSE_UNAUTHENTICATED = 4401


def user_from_token(token: Any) -> Any | None:
    """The active user of a valid access token, else None (runs in a worker thread)."""
    if not isinstance(token, str) or not token or len(token) > 4096:
        return None
    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(token))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None


def session_user(scope: dict[str, Any]) -> Any | None:
    """The user ``AuthMiddlewareStack`` resolved from the session cookie, if signed in."""
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        return user
    return None


def offered_token(subprotocols: list[str]) -> tuple[str | None, str | None]:
    """(subprotocol to accept, token) from ``Sec-WebSocket-Protocol``; (None, None) if absent."""
    if JWT_SUBPROTOCOL not in subprotocols:
        return None, None
    rest = [p for p in subprotocols if p != JWT_SUBPROTOCOL]
    return JWT_SUBPROTOCOL, (rest[0] if rest else None)
