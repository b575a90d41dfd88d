"""A fake Kite ticker: a small asyncio WebSocket server on loopback speaking Kite's binary format.

From Kite Connect v3's WebSocket docs and the ``kiteconnect.KiteTicker`` source:

- the client connects to ``<root>?api_key=...&access_token=...`` (a wrong pair is refused 403);
- it sends JSON text: ``{"a": "subscribe", "v": [tokens]}``, ``{"a": "unsubscribe", ...}``,
  ``{"a": "mode", "v": ["ltp"|"quote"|"full", [tokens]]}`` (a new subscription is in quote mode);
- the server sends binary messages: a 2-byte big-endian packet count, then per packet a 2-byte
  length and the packet: ltp 8 bytes, index quote 28 / full 32, quote 44, full 184 (with the last
  trade time, OI, the exchange timestamp and five levels of depth each side); prices are
  integers in paise (÷100; CDS ÷1e7, BCD ÷1e4), by the segment in the token's low byte;
- a 1-byte message is a heartbeat (every second here).

A test pushes ticks with ``send`` and drops every connection with ``drop`` (the socket is
aborted, no close handshake: what a network failure looks like to the client).
"""

from __future__ import annotations

import asyncio
import json
import struct
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.asyncio.server import ServerConnection, serve

from tests.fakes.kite.market import SEGMENT_IDS

_DIVISORS = {SEGMENT_IDS["CDS"]: 10_000_000, SEGMENT_IDS["BCD"]: 10_000}


@dataclass(frozen=True)
class FakeTick:
    """What one instrument's packet carries; ``ts`` is the exchange time (epoch seconds)."""

    token: int
    price: float
    ts: int
    volume: int = 0  # cumulative for the day, as Kite sends it
    last_quantity: int = 1
    open: float = 0.0
    high: float = 0.0
    low: float = 0.0
    close: float = 0.0


def _p(token: int, price: float) -> int:
    return round(price * _DIVISORS.get(token & 0xFF, 100))


def packet(tick: FakeTick, mode: str) -> bytes:
    """One packet in ``mode``, the layout ``KiteTicker._parse_binary`` reads."""
    t = tick.token
    if mode == "ltp":
        return struct.pack(">II", t, _p(t, tick.price))
    ohlc = [_p(t, x) for x in (tick.open, tick.high, tick.low, tick.close)]
    if t & 0xFF == SEGMENT_IDS["INDICES"]:  # index: high, low, open, close, change
        o, h, lo, c = ohlc
        body = struct.pack(">IIIIIII", t, _p(t, tick.price), h, lo, o, c, 0)
        return body + struct.pack(">I", tick.ts) if mode == "full" else body
    avg = _p(t, tick.price)
    quote = struct.pack(
        ">IIIIIII4I",
        t,
        _p(t, tick.price),
        tick.last_quantity,
        avg,
        tick.volume,
        1000,
        1000,
        *ohlc,
    )
    if mode == "quote":
        return quote
    extra = struct.pack(">IIIII", tick.ts, 0, 0, 0, tick.ts)
    depth = b"".join(struct.pack(">IIHH", 10 * (i + 1), _p(t, tick.price), 1, 0) for i in range(10))
    return quote + extra + depth


def message(packets: list[bytes]) -> bytes:
    out = struct.pack(">H", len(packets))
    for p in packets:
        out += struct.pack(">H", len(p)) + p
    return out


class FakeTicker:
    """The server in a daemon thread with its own event loop; ``url`` is KiteTicker's root."""

    def __init__(self, api_key: str = "fakekey123", access_tokens: set[str] | None = None):
        self.api_key = api_key
        self.access_tokens = access_tokens  # None: any token is accepted
        self.modes: dict[int, str] = {}  # token -> mode, over all connections
        self.connections: set[ServerConnection] = set()
        self.connects = 0
        self._subscribed = threading.Condition()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(10)
        self.url = f"ws://127.0.0.1:{self.port}"

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)

        async def main() -> None:
            async with serve(self._handler, "127.0.0.1", 0, process_request=self._check) as server:
                self.port = server.sockets[0].getsockname()[1]
                self._stop = asyncio.Event()
                ready.set()
                await self._stop.wait()

        self.loop.run_until_complete(main())

    def _check(self, connection: ServerConnection, request: Any) -> Any:
        query = dict(parse_qsl(urlsplit(request.path).query))
        ok = query.get("api_key") == self.api_key and (
            self.access_tokens is None or query.get("access_token") in self.access_tokens
        )
        return None if ok else connection.respond(403, "Invalid api_key or access_token\n")

    async def _handler(self, ws: ServerConnection) -> None:
        self.connections.add(ws)
        self.connects += 1
        beat = asyncio.create_task(self._heartbeat(ws))
        try:
            async for raw in ws:
                self._on_text(raw)
        except Exception:  # noqa: S110 - a dropped client is expected here
            pass
        finally:
            beat.cancel()
            self.connections.discard(ws)

    async def _heartbeat(self, ws: ServerConnection) -> None:
        while True:
            await asyncio.sleep(1.0)
            await ws.send(b"\x00")

    def _on_text(self, raw: str | bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            return
        with self._subscribed:
            if msg.get("a") == "subscribe":
                for token in msg.get("v", []):
                    self.modes.setdefault(int(token), "quote")
            elif msg.get("a") == "unsubscribe":
                for token in msg.get("v", []):
                    self.modes.pop(int(token), None)
            elif msg.get("a") == "mode":
                mode, tokens = msg["v"]
                for token in tokens:
                    self.modes[int(token)] = mode
            self._subscribed.notify_all()

    # ------------------------------------------------------------------ test controls

    def wait_mode(self, token: int, mode: str, timeout: float = 10.0) -> bool:
        with self._subscribed:
            return self._subscribed.wait_for(lambda: self.modes.get(token) == mode, timeout)

    def wait_connections(self, n: int, timeout: float = 10.0) -> bool:
        """Wait until ``n`` connections have been made in all (reconnects count)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.connects >= n and self.connections:
                return True
            time.sleep(0.02)
        return False

    def send(self, ticks: list[FakeTick]) -> None:
        """One binary message per connection with a packet per subscribed tick, in its mode."""

        async def push() -> None:
            packets = [packet(t, self.modes[t.token]) for t in ticks if t.token in self.modes]
            if packets:
                for ws in list(self.connections):
                    await ws.send(message(packets))

        asyncio.run_coroutine_threadsafe(push(), self.loop).result(5)

    def drop(self) -> None:
        """Abort every connection (no close frame), as a network failure would."""

        async def abort() -> None:
            for ws in list(self.connections):
                ws.transport.abort()

        asyncio.run_coroutine_threadsafe(abort(), self.loop).result(5)
        self.modes.clear()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(5)
