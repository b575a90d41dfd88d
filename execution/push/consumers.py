"""``/ws/live/``: one socket per browser tab, subscribed to any of the user's deployments.

The consumer never lets a client hold anything up: events go through a bounded per-socket
queue written by a task of its own, and a client that lets the queue fill is dropped (close
1013, "try again later"); it reconnects and replays what it missed from the database.
docs/live-push.md is the protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from execution.push import auth, messages, replay

logger = structlog.get_logger(__name__)

CLOSE_SLOW = 1013  # try again later: the client reconnects and replays
CLOSE_IDLE = 1001  # going away: no message from the client for several heartbeats


def _conf(name: str) -> Any:
    return settings.LIVE_PUSH[name]


def _whole(value: Any, *, optional: bool) -> bool:
    if value is None:
        return optional
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


@dataclass
class Cursor:
    """The last order-event and equity sequence numbers sent for one deployment."""

    seq: int
    equity_seq: int


class LiveConsumer(AsyncWebsocketConsumer):
    """Authenticates, subscribes, replays, relays group events, keeps the heartbeat."""

    async def connect(self) -> None:
        self.user = auth.session_user(self.scope)
        self.subs: dict[int, Cursor] = {}
        self.closing = False
        self.outbox: asyncio.Queue = asyncio.Queue(maxsize=_conf("SEND_QUEUE"))
        self.last_heard = time.monotonic()
        self.tasks: list[asyncio.Task] = []
        subprotocol, token = auth.offered_token(list(self.scope.get("subprotocols") or []))
        if self.user is None and token is not None:
            self.user = await database_sync_to_async(auth.user_from_token)(token)
        await self.accept(subprotocol=subprotocol)
        if self.user is None and token is not None:
            await self._refuse()
            return
        self.tasks = [asyncio.create_task(self._write()), asyncio.create_task(self._heartbeat())]
        if self.user is None:
            self.tasks.append(asyncio.create_task(self._auth_deadline()))
        await self._queue(
            {
                "type": "hello",
                "authenticated": self.user is not None,
                "heartbeat": _conf("HEARTBEAT_SECONDS"),
            }
        )

    async def disconnect(self, code: int) -> None:
        self.closing = True
        for task in self.tasks:
            task.cancel()
        for deployment_id in list(self.subs):
            with contextlib.suppress(Exception):  # Redis gone: the group entry expires
                await self.channel_layer.group_discard(
                    messages.group_name(deployment_id), self.channel_name
                )
        self.subs.clear()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        self.last_heard = time.monotonic()
        try:
            msg = json.loads(text_data or "")
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            await self._error("bad_message", "Messages are JSON objects with a type.")
            return
        kind = msg.get("type")
        if kind == "pong":
            return
        if kind == "ping":
            await self._queue({"type": "pong", "ts": int(time.time())})
            return
        if kind == "auth":
            await self._authenticate(msg.get("token"))
            return
        if self.user is None:
            await self._refuse()
            return
        if kind == "subscribe":
            await self._subscribe(msg)
        elif kind == "unsubscribe":
            await self._unsubscribe(msg)
        else:
            await self._error("bad_message", "Unknown type.", field="type")

    # --- group events ---------------------------------------------------------------------

    async def live_event(self, message: dict[str, Any]) -> None:
        """A published event: sent unless this socket already has it (replay overlap)."""
        event = message["event"]
        cursor = self.subs.get(event.get("deployment"))
        if cursor is None:
            return
        seq = event.get("seq")
        if event["kind"] in ("order", "fill"):
            if seq <= cursor.seq:
                return
            cursor.seq = seq
        elif event["kind"] == "equity":
            if seq <= cursor.equity_seq:
                return
            cursor.equity_seq = seq
        await self._queue(event)

    # --- messages -------------------------------------------------------------------------

    async def _authenticate(self, token: Any) -> None:
        if self.user is None:
            self.user = await database_sync_to_async(auth.user_from_token)(token)
        if self.user is None:
            await self._refuse()
            return
        await self._queue({"type": "authenticated"})

    async def _subscribe(self, msg: dict[str, Any]) -> None:
        deployment_id = msg.get("deployment")
        for name, optional in (("deployment", False), ("after", True), ("after_equity", True)):
            if not _whole(msg.get(name), optional=optional):
                await self._error("invalid", "A whole number >= 0 expected.", field=name)
                return
        if deployment_id not in self.subs and len(self.subs) >= _conf("MAX_SUBSCRIPTIONS"):
            await self._error("too_many_subscriptions", "Unsubscribe from one first.")
            return
        deployment = await database_sync_to_async(replay.owned_deployment)(self.user, deployment_id)
        if deployment is None:  # someone else's or missing: the REST routes' 404, alike
            await self._error("not_found", "No such deployment.", deployment=deployment_id)
            return
        await self.channel_layer.group_add(messages.group_name(deployment_id), self.channel_name)
        plan = await database_sync_to_async(replay.plan)(
            deployment,
            after=msg.get("after"),
            after_equity=msg.get("after_equity"),
            limit=_conf("REPLAY_LIMIT"),
        )
        self.subs[deployment_id] = Cursor(plan.seq, plan.equity_seq)
        head = {"deployment": deployment_id, "seq": plan.seq, "equity_seq": plan.equity_seq}
        await self._queue({"type": "subscribed", **head, "status": plan.status})
        if plan.resync:
            await self._queue({"type": "resync", **head})
        for event in plan.events:
            await self._queue(event)

    async def _unsubscribe(self, msg: dict[str, Any]) -> None:
        deployment_id = msg.get("deployment")
        if self.subs.pop(deployment_id, None) is not None:
            await self.channel_layer.group_discard(
                messages.group_name(deployment_id), self.channel_name
            )
        await self._queue({"type": "unsubscribed", "deployment": deployment_id})

    async def _error(self, code: str, detail: str, **extra: Any) -> None:
        await self._queue({"type": "error", "code": code, "detail": detail, **extra})

    # --- sending, heartbeat, closing ------------------------------------------------------

    async def _queue(self, msg: dict[str, Any]) -> None:
        if self.closing:
            return
        try:
            self.outbox.put_nowait(msg)
        except asyncio.QueueFull:
            logger.warning("live_push_slow_consumer", subscriptions=sorted(self.subs))
            await self._close(CLOSE_SLOW, "slow consumer")

    async def _write(self) -> None:
        while True:
            msg = await self.outbox.get()
            await self.send(text_data=json.dumps(msg, separators=(",", ":")))

    async def _heartbeat(self) -> None:
        interval = _conf("HEARTBEAT_SECONDS")
        while True:
            await asyncio.sleep(interval)
            if time.monotonic() - self.last_heard > interval * _conf("HEARTBEAT_MISSES"):
                await self._close(CLOSE_IDLE, "heartbeat timeout")
                return
            await self._queue({"type": "ping", "ts": int(time.time())})

    async def _auth_deadline(self) -> None:
        await asyncio.sleep(_conf("AUTH_TIMEOUT_SECONDS"))
        if self.user is None:
            await self._refuse()

    async def _refuse(self) -> None:
        await self._close(auth.CLOSE_UNAUTHENTICATED, "authentication required")

    async def _close(self, code: int, reason: str) -> None:
        """Stop writing and close; the close frame goes out even if the writer is stuck."""
        if self.closing:
            return
        self.closing = True
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        await self.close(code=code, reason=reason)
