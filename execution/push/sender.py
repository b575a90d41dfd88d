"""Hands events to the channel layer from a thread of its own, so publishing never waits.

A step's commit hook only puts the event on this process's queue; one daemon thread, with
its own event loop and its own channel-layer instance, sends them: what waits goes out as a
batch, several deployments' groups side by side, each group's events in order. If Redis is down
or slow, sends fail after a short timeout and are logged; when more than ``PUBLISH_QUEUE``
events wait, new ones are dropped (and counted in the log). A client loses nothing for good:
it reconnects with the last sequence number it saw and the consumer replays from the database.

The in-memory layer (no ``REDIS_URL``) lives in one process and is bound to that process's
server loop, so it is sent to directly (``async_to_sync`` finds the server's loop from a
request's thread), and only when this process has subscribers to the group; it has no network
to wait on.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, channel_layers, get_channel_layer
from django.conf import settings

logger = structlog.get_logger(__name__)


def _conf(name: str) -> Any:
    return settings.LIVE_PUSH[name]


class Sender:
    """One process's publishing thread (started on first use, again after a fork)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pending = 0
        self._dropped = 0
        self._failing = False

    def submit(self, group: str, message: dict[str, Any]) -> None:
        """Queue one group message; never raises, never blocks."""
        try:
            layer = get_channel_layer()
            if isinstance(layer, InMemoryChannelLayer):
                # Only a process with subscribers (the web server) has groups: a job worker
                # skips at once instead of spinning up an event loop per event.
                if group in layer.groups:
                    async_to_sync(layer.group_send)(group, message)
                return
            with self._lock:
                if self._pid != os.getpid() or self._loop is None or self._loop.is_closed():
                    self._start()
                if self._pending >= _conf("PUBLISH_QUEUE"):
                    self._dropped += 1
                    if self._dropped % 1000 == 1:
                        logger.warning("live_push_dropped", dropped=self._dropped)
                    return
                self._pending += 1
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (group, message))
        except Exception:  # publishing must never break the caller's step
            logger.exception("live_push_submit_failed")

    def submit_many(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        """Queue many ``(group, message)`` pairs in order: one lock, one wake-up of the thread."""
        try:
            layer = get_channel_layer()
            if isinstance(layer, InMemoryChannelLayer):
                for group, message in items:
                    self.submit(group, message)
                return
            with self._lock:
                if self._pid != os.getpid() or self._loop is None or self._loop.is_closed():
                    self._start()
                room = max(0, _conf("PUBLISH_QUEUE") - self._pending)
                if len(items) > room:
                    self._dropped += len(items) - room
                    logger.warning("live_push_dropped", dropped=self._dropped)
                    items = items[:room]
                self._pending += len(items)
            if items:
                self._loop.call_soon_threadsafe(self._put_all, items)
        except Exception:  # publishing must never break the caller's step
            logger.exception("live_push_submit_failed")

    def _put_all(self, items: list[tuple[str, dict[str, Any]]]) -> None:
        for item in items:
            self._queue.put_nowait(item)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was handed over (tests and benchmarks)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._pending == 0:
                    return True
            time.sleep(0.005)
        return False

    def _start(self) -> None:
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._queue = asyncio.Queue()
            self._loop = loop
            ready.set()
            loop.run_until_complete(self._drain())

        self._pid = os.getpid()
        self._pending = 0
        threading.Thread(target=run, name="live-push-sender", daemon=True).start()
        ready.wait(5)

    async def _drain(self) -> None:
        # A layer of its own: redis-py connections belong to the loop that opened them.
        layer = channel_layers.make_backend("default")
        queue = self._queue
        lanes = asyncio.Semaphore(_conf("PUBLISH_CONCURRENCY"))
        while True:
            # Everything already waiting goes out together: a step commits a chunk of
            # deployments at once, and sending their events one round trip after another
            # behind a busy main thread (each reply waits for the GIL) took seconds. One
            # deployment's events stay in order (one lane per group); groups go side by side.
            batch = [await queue.get()]
            while not queue.empty() and len(batch) < _conf("PUBLISH_BATCH"):
                batch.append(queue.get_nowait())
            by_group: dict[str, list[dict[str, Any]]] = {}
            for group, message in batch:
                by_group.setdefault(group, []).append(message)
            try:
                await asyncio.gather(
                    *(self._send(layer, lanes, g, msgs) for g, msgs in by_group.items())
                )
            finally:
                with self._lock:
                    self._pending -= len(batch)

    async def _send(
        self, layer: Any, lanes: asyncio.Semaphore, group: str, batch: list[dict[str, Any]]
    ) -> None:
        async with lanes:
            for message in batch:
                try:
                    await asyncio.wait_for(
                        layer.group_send(group, message), _conf("PUBLISH_TIMEOUT_SECONDS")
                    )
                    if self._failing:
                        self._failing = False
                        logger.info("live_push_recovered")
                except Exception as e:
                    if not self._failing:  # once per outage, not once per event
                        self._failing = True
                        logger.warning("live_push_send_failed", error=repr(e))


sender = Sender()


def reset() -> None:
    """A fresh sender (tests that change ``CHANNEL_LAYERS``); the old thread idles on."""
    global sender
    sender = Sender()
