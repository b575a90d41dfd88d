"""Live push tests: a real Redis channel layer (db 5 unless ``PUSH_TEST_REDIS_URL``), real
commits (transactional database), the real ASGI WebSocket app driven by Channels'
ASGI interface (``Socket``).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
import redis
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from execution.push import sender
from execution.push.routing import websocket_application

REDIS_URL = os.environ.get("PUSH_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
ORIGIN = (b"origin", b"http://127.0.0.1")
TIMEOUT = 5


class Socket(ApplicationCommunicator):
    """A WebSocket client of the ASGI app (``channels.testing`` needs daphne, which we lack:
    its autobahn pin conflicts with the Kite SDK's)."""

    def __init__(self, application, path: str, headers=None, subprotocols=None):
        path, _, query = path.partition("?")
        super().__init__(
            application,
            {
                "type": "websocket",
                "path": path,
                "raw_path": path.encode(),
                "query_string": query.encode(),
                "headers": headers or [],
                "subprotocols": subprotocols or [],
                "client": ("127.0.0.1", 40000),
                "server": ("127.0.0.1", 8000),
            },
        )

    async def connect(self, timeout: float = 1) -> tuple[bool, str | None]:
        await self.send_input({"type": "websocket.connect"})
        answer = await self.receive_output(timeout)
        if answer["type"] == "websocket.close":
            return False, None
        return answer["type"] == "websocket.accept", answer.get("subprotocol")

    async def send_json_to(self, data) -> None:
        await self.send_input({"type": "websocket.receive", "text": json.dumps(data)})

    async def send_text_to(self, text: str) -> None:
        await self.send_input({"type": "websocket.receive", "text": text})

    async def receive_json_from(self, timeout: float = 1):
        return json.loads((await self.receive_output(timeout))["text"])

    async def disconnect(self, code: int = 1000) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(TIMEOUT)


def redis_layer(url: str, prefix: str | None = None, backend: str = "pubsub") -> dict:
    """``CHANNEL_LAYERS`` as settings build it for ``REDIS_URL`` (``LIVE_PUSH_LAYER``)."""
    config = {
        "hosts": [{"address": url, "socket_connect_timeout": 1, "socket_timeout": 15}],
        "prefix": prefix or f"test-push-{uuid.uuid4().hex[:8]}",
    }
    if backend == "pubsub":
        return {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": config,
            }
        }
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {**config, "capacity": 500, "expiry": 30},
        }
    }


@pytest.fixture(params=["pubsub", "core"])
def push_layer(request, settings):
    """Redis as the channel layer (each of the two backends), with a fresh publishing thread."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as e:
        pytest.skip(f"no Redis at {REDIS_URL}: {e}")
    settings.CHANNEL_LAYERS = redis_layer(REDIS_URL, backend=request.param)
    settings.LIVE_PUSH = {**settings.LIVE_PUSH, "ENABLED": True}
    sender.reset()
    yield settings
    sender.reset()


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(
    *,
    cookie: bytes | None = None,
    path: str = "/ws/live/",
    subprotocols=None,
    output_queue=None,
    hello=True,
) -> Socket:
    headers = [ORIGIN, (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie))
    comm = Socket(websocket_application(), path, headers=headers, subprotocols=subprotocols)
    if output_queue is not None:  # a client that stops reading: sends block when it is full
        comm._output_queue = output_queue
    connected, _ = await comm.connect(timeout=TIMEOUT)
    assert connected
    if hello:
        comm.hello = await comm.receive_json_from(timeout=TIMEOUT)
        assert comm.hello["type"] == "hello"
    return comm


async def receive(comm: Socket, *, skip_pings: bool = True) -> dict:
    """The next message (pings skipped), or the close as ``{"type": "closed", "code": …}``."""
    while True:
        raw = await comm.receive_output(timeout=TIMEOUT)
        if raw["type"] == "websocket.close":
            # As a server does once the close handshake is over: the consumer then ends (its
            # layer reads stop), so no task is left for the event loop's shutdown to cancel.
            await comm.send_input({"type": "websocket.disconnect", "code": raw.get("code")})
            await comm.wait(TIMEOUT)
            return {"type": "closed", "code": raw.get("code"), "reason": raw.get("reason")}
        msg = json.loads(raw["text"])
        if skip_pings and msg["type"] == "ping":
            continue
        return msg


async def events_until(comm: Socket, predicate, limit: int = 200) -> list[dict]:
    """Messages up to and including the first that ``predicate`` accepts."""
    seen = []
    for _ in range(limit):
        msg = await receive(comm)
        seen.append(msg)
        if predicate(msg):
            return seen
    raise AssertionError(f"never matched: {seen}")


async def quiet(comm: Socket, seconds: float = 0.5) -> bool:
    """True if nothing but pings arrives for ``seconds``."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        if await comm.receive_nothing(timeout=left, interval=0.02):
            return True
        msg = json.loads((await comm.receive_output())["text"])
        if msg["type"] != "ping":
            return False
    return True
