"""How the live page gets its updates, decided per request so the footer tells the truth.

- ``push``: every event arrives over the socket. The channel layer is shared between
  processes (Redis, ``REDIS_URL``), so the job cluster's steps (bars, fills, equity) reach
  this web process as well as manual orders and stops placed through any web process.
- ``local``: no shared layer, only Channels' in-memory one (``make run`` without
  ``REDIS_URL``). It lives inside one process, and the steps run in the job cluster, another
  process, so their events cannot reach the socket: the page opens it for what this web
  process itself commits (manual orders and stops placed here) and keeps polling every 3 s
  for the rest. Channels ships no other layer that crosses processes without a server.
- ``polling``: no socket at all, because push is switched off (``LIVE_PUSH=false``) or the
  page was served by a WSGI server (``runserver``, ``gunicorn algosaas.wsgi``), which has no
  ``/ws/live/`` route.
"""

from __future__ import annotations

from typing import Literal

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest

LiveUpdates = Literal["push", "local", "polling"]


def live_updates(request: HttpRequest) -> LiveUpdates:
    """The mode of the live page served to ``request`` (see the module's docstring)."""
    if not settings.LIVE_PUSH["ENABLED"] or not isinstance(request, ASGIRequest):
        return "polling"
    layer = get_channel_layer()
    if layer is None:  # no CHANNEL_LAYERS: nothing would ever be published
        return "polling"
    if isinstance(layer, InMemoryChannelLayer):
        return "local"
    return "push"
