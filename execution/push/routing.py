"""The WebSocket half of the ASGI app: ``/ws/live/``, same-site origins, session users."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from execution.push.consumers import LiveConsumer

websocket_urlpatterns = [path("ws/live/", LiveConsumer.as_asgi())]


def websocket_application() -> Any:
    """Origin checked against ALLOWED_HOSTS, then the session's user put in the scope."""
    return AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
