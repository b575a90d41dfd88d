"""A fake Dhan Live Market Feed (v2): a WebSocket server on loopback speaking Dhan's binary format.

From DhanHQ v2's "Live Market Feed" docs and the ``dhanhq`` SDK's ``live_market_feed.py``:
the client connects to ``<root>?version=2&token=...&clientId=...&authType=2``; a bad token or
client id is answered with a disconnect packet (code 50, reason 807 / 808) and closed. JSON text
requests: ``{"RequestCode": 15|17|21, "InstrumentCount", "InstrumentList": [{"ExchangeSegment",
"SecurityId"}]}`` subscribe in ticker / quote / full mode, ``{"RequestCode": 12}`` disconnects.
Packets are little-endian: 8-byte header ``<BHBI`` (code, length, segment, security id), then
ticker ``<fI``, quote ``<fHIfIIIffff`` (50 bytes in all), full ``<fHIfIIIIIIffff`` plus five
``<IIHHff`` depth levels (162 bytes). The last trade time is IST wall-clock seconds.

Built on ``websockets``' sync server (a thread per connection). A test pushes trades with
``send`` and drops every connection with ``drop`` (sockets closed with no close frame).
"""

from __future__ import annotations

import json
import struct
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

SEGMENT_CODES = {"IDX_I": 0, "NSE_EQ": 1, "NSE_FNO": 2, "NSE_CURRENCY": 3, "BSE_EQ": 4,
                 "MCX_COMM": 5, "BSE_CURRENCY": 7, "BSE_FNO": 8}  # fmt: skip
IST_SECONDS = 5 * 3600 + 1800


def packet(mode: int, segment: str, sid: int, price: float, ts: int, volume: int) -> bytes:
    """One packet for a subscription in ``mode`` (15 ticker, 17 quote, 21 full)."""
    ltt = ts + IST_SECONDS
    seg = SEGMENT_CODES[segment]
    if mode == 15:
        return struct.pack("<BHBIfI", 2, 16, seg, sid, price, ltt)
    if mode == 17:
        return struct.pack("<BHBIfHIfIIIffff", 4, 50, seg, sid, price, 5, ltt, price, volume,
                           100, 200, price, price, price, price)  # fmt: skip
    head = struct.pack("<BHBIfHIfIIIIIIffff", 8, 162, seg, sid, price, 5, ltt, price, volume,
                       100, 200, 0, 0, 0, price, price, price, price)  # fmt: skip
    level = struct.pack("<IIHHff", 10, 12, 1, 2, price - 0.05, price + 0.05)
    return head + level * 5


def disconnect_packet(reason: int) -> bytes:
    return struct.pack("<BHBIH", 50, 10, 0, 0, reason)


class FakeDhanFeed:
    """The feed on 127.0.0.1 (a free port); tokens and client id are the fake Dhan's."""

    def __init__(self) -> None:
        self.client_id = ""
        self.access_tokens: dict[str, float] = {}
        self.subscriptions: dict[tuple[str, int], int] = {}  # (segment, id) -> request code
        self.connections: list[ServerConnection] = []
        self.connects = 0
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.server = serve(self._handle, "127.0.0.1", 0, compression=None)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _handle(self, conn: ServerConnection) -> None:
        query = dict(parse_qsl(urlsplit(conn.request.path).query))
        exp = self.access_tokens.get(query.get("token", ""))
        if query.get("version") != "2" or query.get("authType") != "2":
            conn.send(disconnect_packet(809))
            return
        if query.get("clientId") != self.client_id:
            conn.send(disconnect_packet(808))
            return
        if exp is None or exp <= time.time():
            conn.send(disconnect_packet(807))
            return
        with self.lock:
            self.connects += 1
            self.connections.append(conn)
        try:
            for message in conn:
                request = json.loads(message)
                self.requests.append(request)
                code = int(request.get("RequestCode", 0))
                if code == 12:
                    break
                with self.lock:
                    for item in request.get("InstrumentList", []):
                        key = (item["ExchangeSegment"], int(item["SecurityId"]))
                        self.subscriptions[key] = code
        except ConnectionClosed:
            pass
        finally:
            with self.lock:
                if conn in self.connections:
                    self.connections.remove(conn)

    def reset(self, client_id: str, access_tokens: dict[str, float]) -> None:
        self.drop()
        self.client_id, self.access_tokens = client_id, access_tokens
        self.subscriptions.clear()
        self.requests.clear()
        self.connects = 0

    def send(self, segment: str, sid: int, price: float, ts: int, volume: int = 0) -> int:
        """Push one trade to every connection; return how many packets went out."""
        mode = self.subscriptions.get((segment, sid))
        if mode is None:
            return 0
        data = packet(mode, segment, sid, price, ts, volume)
        sent = 0
        with self.lock:
            for conn in list(self.connections):
                try:
                    conn.send(data)
                    sent += 1
                except ConnectionClosed:
                    pass
        return sent

    def drop(self) -> None:
        """Close every socket abruptly (no close frame): a network failure."""
        with self.lock:
            conns, self.connections = self.connections, []
            self.subscriptions.clear()
        for conn in conns:
            conn.close_socket()

    def wait_subscribed(self, key: tuple[str, int], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if key in self.subscriptions and self.connections:
                return True
            time.sleep(0.01)
        return False


_shared: FakeDhanFeed | None = None


def shared_feed() -> FakeDhanFeed:
    global _shared
    if _shared is None:
        _shared = FakeDhanFeed()
    return _shared
