"""The live bar source on Dhan: its Live Market Feed aggregated into one-minute bars.

The same work as Kite's ``TickerRunner`` (``execution.services.ticker``: one runner per
cluster, bars written once per (instrument, minute), minutes the socket did not watch whole
completed from history) with Dhan's socket: a thread connects with ``websockets``' sync client,
subscribes in quote mode (the day's volume rides on it), parses the binary packets
(``execution.brokers.dhan_feed``) and queues them; after a drop it reconnects. History is
Dhan's ``POST /charts/intraday`` (``DhanMarketData.candle_pages``). A disconnect packet for an
expired token, a bad client id or no data plan ends the runner (``gave_up``): reconnecting
would only be refused again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import structlog
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import connect

from execution.brokers.dhan_data import DhanMarketData, feed_key, split_feed_key
from execution.brokers.dhan_feed import (
    QUOTE,
    FeedDisconnected,
    FeedTick,
    parse_packet,
    subscribe_messages,
)
from execution.marketdata.minutebars import Tick
from execution.models import Instrument
from execution.services.ticker import TickerRunner

log = structlog.get_logger(__name__)
DHAN_LEADER_LOCK_KEY = 0x6468616E  # "dhan": one Dhan feed per cluster
FATAL = {806, 807, 808, 809}  # no data plan, token expired, bad client id, auth failed


def _tick(raw: FeedTick, arrived: float) -> Tick:
    return Tick(
        token=feed_key(raw.segment, raw.security_id),
        ts=float(raw.ts) if raw.ts > 0 else arrived,
        price=raw.price,
        day_volume=raw.day_volume,
    )


class DhanTickerRunner(TickerRunner):
    """Dhan's feed in, one-minute bars out; ``step`` (inherited) does one round of work."""

    to_tick = staticmethod(_tick)

    def __init__(
        self,
        *,
        client_id: str,
        access_token: str,
        root: str,
        history: DhanMarketData,
        instruments: Callable[[], dict[int, Instrument]],
        request_code: int = QUOTE,
        reconnect_delay: float = 1.0,
        **kw: Any,
    ):
        super().__init__(api_key=client_id, access_token=access_token, root=root,
                         history=history, instruments=instruments, **kw)  # fmt: skip
        self.client_id = client_id
        self.request_code = request_code
        self.reconnect_delay = reconnect_delay
        self._stop = threading.Event()
        self._pending: list[int] = []  # keys to subscribe on the live socket
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ws: Any = None

    @property
    def url(self) -> str:
        return (f"{self.root}?version=2&token={self.access_token}&clientId={self.client_id}"
                "&authType=2")  # fmt: skip

    def _chart_names(self) -> None:
        """Tell the chart reader each instrument's type (Dhan's charts ask for it)."""
        names = self.history.instrument_names
        for key, inst in self.instruments.items():
            if inst.dhan_instrument:
                names[key] = inst.dhan_instrument

    def start(self) -> None:
        self.instruments = self.instruments_source()
        self._chart_names()
        self._refreshed_at = self.clock()
        self._thread = threading.Thread(target=self._run, name="dhan-feed", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        ws = self._ws
        if ws is not None:
            ws.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------------ the socket thread

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._session()
            except FeedDisconnected as exc:
                self.events.put(("closed", self.clock()))
                if exc.code in FATAL:
                    log.warning("dhan_feed_refused", code=exc.code)
                    self.events.put(("gave_up", self.clock()))
                    return
            except InvalidStatus as exc:  # refused before the upgrade
                status = exc.response.status_code
                log.warning("dhan_feed_handshake_refused", status=status)
                if status in (401, 403):  # the token or client id: retrying will not help
                    self.events.put(("gave_up", self.clock()))
                    return
            except InvalidHandshake:
                log.warning("dhan_feed_handshake_failed", exc_info=True)
            except (OSError, ConnectionClosed, TimeoutError):
                self.events.put(("closed", self.clock()))
            except Exception:  # a bug must not leave the runner silently deaf: log, reconnect
                log.exception("dhan_feed_failed")
                self.events.put(("closed", self.clock()))
            if self._stop.wait(self.reconnect_delay):
                return

    def _session(self) -> None:
        with connect(self.url, compression=None, open_timeout=5) as ws:
            self._ws = ws
            with self._lock:  # the main thread adds instruments (``_refresh``)
                keys = list(self.instruments)
            self._send_subscribe(ws, keys)
            connected = False
            while not self._stop.is_set():
                with self._lock:
                    pending, self._pending = self._pending, []
                if pending:
                    self._send_subscribe(ws, pending)
                try:
                    message = ws.recv(timeout=0.2)
                except TimeoutError:
                    message = None
                if not connected:
                    # a refusal comes as the first packet; no packet yet means we are in
                    self.events.put(("connected", (self.clock(), keys)))
                    connected = True
                if isinstance(message, bytes):
                    try:
                        tick = parse_packet(message)
                    except ValueError:  # a short or truncated packet: skip it, keep reading
                        log.warning("dhan_feed_bad_packet", size=len(message))
                        continue
                    if tick is not None:
                        self.events.put(("ticks", ([tick], self.clock())))
            self._ws = None

    def _send_subscribe(self, ws: Any, keys: list[int]) -> None:
        pairs = [split_feed_key(k) for k in keys]
        for message in subscribe_messages(pairs, self.request_code):
            ws.send(message)

    # ------------------------------------------------------------------ new deployments

    def _refresh(self, now: float) -> None:
        """Subscribe to instruments of deployments started since (never drop a running one)."""
        self._refreshed_at = now
        fresh = self.instruments_source()
        new = [k for k in fresh if k not in self.instruments]
        with self._lock:
            self.instruments.update(fresh)
            self._pending.extend(new)
        self._chart_names()
        if new:
            self.aggregator.subscribed(now, new)
