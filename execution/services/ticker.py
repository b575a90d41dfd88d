"""The live bar source: Kite's WebSocket ticker aggregated into one-minute bars.

One ``TickerRunner`` per cluster (``run_ticker --account ID`` takes a PostgreSQL advisory lock,
so a second one waits instead of doubling the socket) subscribes, in full mode, to the Kite
token of every instrument a running ``feed: "broker"`` deployment trades (and any named on the
command line), refreshed every ``refresh_every`` seconds. The SDK's ``KiteTicker`` runs in its
Twisted reactor thread and only queues what it receives; this thread aggregates
(``execution.marketdata.minutebars``) and writes each completed bar once per (instrument,
minute) (``minute_bars_write``: the unique constraint decides, so even two runners racing store
one row). Minutes the socket did not watch whole — a drop mid-bar, an outage, the minute of
(re)connection — are completed from Kite's historical minute candles once they have closed
(``history_delay`` later); a minute the history never fills (no trade in it) is given up after
``give_up_after`` seconds.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog
from django.db import connection

from execution.brokers.kite_data import KiteMarketData
from execution.marketdata.minutebars import MINUTE, MinuteAggregator, Tick
from execution.models import DeploymentState, Feed, Instrument, LivePhase
from execution.services.broker_data import minute_bars_write

log = structlog.get_logger(__name__)
LEADER_LOCK_KEY = 0x6B697465  # "kite": one ticker per cluster


def broker_feed_instruments(extra: Iterable[Instrument] = ()) -> dict[int, Instrument]:
    """Kite token -> instrument, for every running broker-feed deployment and ``extra``."""
    ids = set()
    lives = DeploymentState.objects.filter(feed=Feed.BROKER).exclude(phase=LivePhase.DONE)
    for config in lives.values_list("deployment__config", flat=True):
        ids.add(config["instrument"]["id"])
    found = {
        i.kite_token: i
        for i in Instrument.objects.filter(pk__in=ids, kite_token__isnull=False)
        if i.kite_token is not None
    }
    found.update({i.kite_token: i for i in extra if i.kite_token is not None})
    return found


def leader_lock(key: int = LEADER_LOCK_KEY) -> bool:
    """Take the cluster-wide ticker lock on this connection (PostgreSQL); False if held."""
    if connection.vendor != "postgresql":
        return True  # a single-machine install (SQLite) runs one process anyway
    with connection.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", [key])
        return bool(cur.fetchone()[0])


def leader_unlock(key: int = LEADER_LOCK_KEY) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [key])


def _tick(raw: dict[str, Any], now: float) -> Tick:
    stamp = raw.get("exchange_timestamp") or raw.get("last_trade_time")
    # the SDK builds these with datetime.fromtimestamp (local time): .timestamp() inverts it
    ts = stamp.timestamp() if isinstance(stamp, datetime) else now
    volume = raw.get("volume_traded")
    return Tick(
        token=int(raw["instrument_token"]),
        ts=ts,
        price=Decimal(str(raw["last_price"])),
        day_volume=int(volume) if volume is not None else None,
    )


class TickerRunner:
    """Ticks in, one-minute bars out; ``step`` does one round of work (tests drive it)."""

    to_tick = staticmethod(_tick)  # a vendor's queued tick -> ``Tick`` (Dhan: dhan_ticker)

    def __init__(
        self,
        *,
        api_key: str,
        access_token: str,
        root: str,
        history: KiteMarketData,
        instruments: Callable[[], dict[int, Instrument]],
        clock: Callable[[], float] = time.time,
        grace: float = 2.0,
        history_delay: float = 10.0,
        give_up_after: float = 600.0,
        refresh_every: float = 30.0,
    ):
        self.api_key, self.access_token, self.root = api_key, access_token, root
        self.history = history
        self.instruments_source = instruments
        self.instruments: dict[int, Instrument] = {}
        self.clock = clock
        self.aggregator = MinuteAggregator(grace=grace)
        self.history_delay = history_delay
        self.give_up_after = give_up_after
        self.refresh_every = refresh_every
        self.events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self.ticker: Any = None
        self._refreshed_at = float("-inf")
        self.written = 0
        self.gave_up = False  # the SDK stopped reconnecting (e.g. the session expired)

    # ------------------------------------------------------------------ the socket

    def start(self) -> None:
        """Connect (the SDK's reactor thread does the I/O and reconnects after a drop)."""
        from kiteconnect import KiteTicker
        from twisted.internet import reactor

        self.instruments = self.instruments_source()
        self._refreshed_at = self.clock()
        ticker = KiteTicker(self.api_key, self.access_token, root=self.root, reconnect=True,
                            reconnect_max_delay=5)  # fmt: skip
        ticker.on_connect = self._on_connect
        ticker.on_ticks = lambda ws, ticks: self.events.put(("ticks", (ticks, self.clock())))
        ticker.on_close = lambda ws, code, reason: self.events.put(("closed", self.clock()))
        ticker.on_noreconnect = lambda ws: self.events.put(("gave_up", self.clock()))
        self.ticker = ticker
        if reactor.running:  # a second runner in this process (tests): connect from the reactor
            reactor.callFromThread(ticker.connect, threaded=True)
        else:
            ticker.connect(threaded=True)

    def _on_connect(self, ws: Any, response: Any) -> None:
        tokens = list(self.instruments)
        if tokens:
            ws.subscribe(tokens)
            ws.set_mode(ws.MODE_FULL, tokens)
        self.events.put(("connected", (self.clock(), tokens)))

    def stop(self) -> None:
        from twisted.internet import reactor

        if self.ticker is not None:
            reactor.callFromThread(self.ticker.close)

    # ------------------------------------------------------------------ the work

    def step(self, timeout: float = 1.0) -> int:
        """Handle what the socket queued (waiting up to ``timeout`` for the first), close bars
        whose minute is over, complete owed minutes from history; return bars written."""
        before = self.written
        try:
            events = [self.events.get(timeout=timeout)]
        except queue.Empty:
            events = []
        while True:
            try:
                events.append(self.events.get_nowait())
            except queue.Empty:
                break
        agg = self.aggregator
        for kind, payload in events:
            if kind == "ticks":
                raw, arrived = payload
                self._write(agg.on_ticks(self.to_tick(r, arrived) for r in raw))
            elif kind == "connected":
                now, tokens = payload
                agg.connected(now, tokens)
                log.info("ticker_connected", instruments=len(tokens))
            elif kind in ("closed", "gave_up"):
                agg.disconnected(payload)
                self.gave_up = self.gave_up or kind == "gave_up"
                log.warning("ticker_disconnected", reason=kind)
        now = self.clock()
        self._write(agg.flush(now))
        self._complete_from_history(now)
        if now - self._refreshed_at >= self.refresh_every:
            self._refresh(now)
        return self.written - before

    def _write(self, bars: Iterable[Any]) -> None:
        rows = [(self.instruments[b.token], b) for b in bars if b.token in self.instruments]
        if rows:
            self.written += minute_bars_write(rows)

    def _complete_from_history(self, now: float) -> None:
        agg = self.aggregator
        for token, minutes in agg.owed_due(now - self.history_delay).items():
            instrument = self.instruments.get(token)
            if instrument is None:
                agg.settle(token, minutes)
                continue
            start = datetime.fromtimestamp(minutes[0], tz=UTC)
            end = datetime.fromtimestamp(minutes[-1] + MINUTE - 1, tz=UTC)
            wanted = {datetime.fromtimestamp(m, tz=UTC) for m in minutes}
            try:
                got = [
                    bar
                    for page in self.history.candle_pages(
                        token=token, timeframe="1m", start=start, end=end
                    )
                    for bar in page
                    if bar.ts in wanted
                ]
            except Exception:  # the broker is unreachable now: try again next round
                log.warning("ticker_history_failed", token=token, exc_info=True)
                continue
            self.written += minute_bars_write((instrument, bar) for bar in got)
            filled = {int(bar.ts.timestamp()) for bar in got}
            stale = {m for m in minutes if now - (m + MINUTE) >= self.give_up_after}
            agg.settle(token, filled | stale)
            if filled:
                log.info("ticker_minutes_from_history", token=token, minutes=len(filled))

    def _refresh(self, now: float) -> None:
        """Subscribe to instruments of deployments started since (never drop a running one)."""
        from twisted.internet import reactor

        self._refreshed_at = now
        fresh = self.instruments_source()
        new = [t for t in fresh if t not in self.instruments]
        self.instruments.update(fresh)
        if new and self.ticker is not None and self.ticker.is_connected():

            def subscribe() -> None:
                self.ticker.subscribe(new)
                self.ticker.set_mode(self.ticker.MODE_FULL, new)

            reactor.callFromThread(subscribe)
            self.aggregator.subscribed(now, new)
