"""Ticks to one-minute bars, and which minutes must come from the historical API instead.

A bar is built from ticks only when the feed watched its whole minute: the connection (and the
instrument's subscription) was up from the minute's start to its end, and the day's cumulative
volume before the minute is known (Kite's quote and full packets carry the day's volume, so a
bar's volume is the difference across the minute). Any other minute in which the instrument
may have traded — the one in progress when the socket dropped, those while it was down, the one
in which it (re)connected — is *owed*: the caller completes it from the broker's historical
candles, so a drop never leaves a bar with half its ticks.

A bar closes when a tick of a later minute arrives or the clock passes its end plus ``grace``
(late packets). Time is the exchange timestamp when the packet has one, else arrival time.
Plain Python; the ticker process (``execution.services.ticker``) drives it and writes the bars.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

MINUTE = 60


def minute_of(ts: float) -> int:
    return int(ts // MINUTE) * MINUTE


@dataclass(frozen=True, slots=True)
class Tick:
    token: int
    ts: float  # exchange time, epoch seconds
    price: Decimal
    day_volume: int | None = None  # cumulative; None in LTP mode and for indices


@dataclass(frozen=True, slots=True)
class MinuteBar:
    token: int
    start: int  # open time, epoch seconds (UTC)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(slots=True)
class _Building:
    start: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    whole: bool  # watched from the minute's start, and the volume reference is known
    ref_volume: int | None
    last_volume: int | None

    def add(self, price: Decimal, day_volume: int | None) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        if day_volume is not None:
            self.last_volume = day_volume

    def bar(self, token: int) -> MinuteBar:
        volume = 0
        if self.ref_volume is not None and self.last_volume is not None:
            volume = max(self.last_volume - self.ref_volume, 0)
        return MinuteBar(token, self.start, self.open, self.high, self.low, self.close, volume)


@dataclass
class MinuteAggregator:
    grace: float = 2.0
    up_since: float | None = None  # when the connection opened; None while it is down
    subscribed_at: dict[int, float] = field(default_factory=dict)
    building: dict[int, _Building] = field(default_factory=dict)
    day_volume: dict[int, int] = field(default_factory=dict)  # last cumulative volume seen
    volume_day: dict[int, int] = field(default_factory=dict)  # the day that volume is of
    owed: dict[int, set[int]] = field(default_factory=dict)  # token -> minutes from history
    down_since: float | None = None
    late_ticks: int = 0

    # ------------------------------------------------------------------ connection events

    def connected(self, now: float, tokens: Iterable[int]) -> None:
        """The socket is (re)open and ``tokens`` are subscribed as of ``now``."""
        tokens = list(tokens)
        if self.down_since is not None:  # every minute of the outage, for every instrument
            first = minute_of(self.down_since)
            for token in set(tokens) | set(self.subscribed_at):
                self._owe_range(token, first, minute_of(now))
        self.down_since = None
        self.up_since = now
        for token in tokens:
            self.subscribed_at[token] = now
            self.owed.setdefault(token, set()).add(minute_of(now))

    def subscribed(self, now: float, tokens: Iterable[int]) -> None:
        """``tokens`` were added to a live connection at ``now``: their minute is partial."""
        for token in tokens:
            if token not in self.subscribed_at:
                self.subscribed_at[token] = now
                self.owed.setdefault(token, set()).add(minute_of(now))

    def disconnected(self, now: float) -> None:
        """The socket dropped: bars in progress are owed by history, not finished from ticks."""
        if self.up_since is None:
            return
        for token, b in self.building.items():
            self.owed.setdefault(token, set()).add(b.start)
        self.building.clear()
        self.up_since = None
        self.down_since = now

    def _owe_range(self, token: int, first: int, last: int) -> None:
        self.owed.setdefault(token, set()).update(range(first, last + MINUTE, MINUTE))

    # ------------------------------------------------------------------ ticks and time

    def on_ticks(self, ticks: Iterable[Tick]) -> list[MinuteBar]:
        """Feed ticks (in arrival order); return the bars they closed."""
        done: list[MinuteBar] = []
        for tick in ticks:
            done.extend(self._on_tick(tick))
        return done

    def _on_tick(self, tick: Tick) -> list[MinuteBar]:
        start = minute_of(tick.ts)
        token = tick.token
        done: list[MinuteBar] = []
        b = self.building.get(token)
        if b is not None and start < b.start:
            self.late_ticks += 1  # its minute has been closed: never reopen a bar
            return done
        if b is not None and start > b.start:
            done.extend(self._close(token))
            b = None
        reference = self._volume_reference(token, tick)
        if b is None:
            if token in self.owed and start in self.owed[token]:
                self._remember_volume(token, tick)
                return done  # history will give this minute
            since = max(self.up_since or float("inf"), self.subscribed_at.get(token, float("inf")))
            whole = since <= start and (tick.day_volume is None or reference is not None)
            self.building[token] = _Building(
                start=start,
                open=tick.price,
                high=tick.price,
                low=tick.price,
                close=tick.price,
                whole=whole,
                ref_volume=reference,
                last_volume=tick.day_volume,
            )
        else:
            b.add(tick.price, tick.day_volume)
        self._remember_volume(token, tick)
        return done

    def _volume_reference(self, token: int, tick: Tick) -> int | None:
        """The day's volume before ``tick``'s minute (0 on a new day), if known."""
        if tick.day_volume is None or token not in self.day_volume:
            return None
        day = int(tick.ts // 86_400)
        if self.volume_day.get(token) != day or tick.day_volume < self.day_volume[token]:
            return 0  # the exchange day rolled over: the count restarted
        b = self.building.get(token)
        return b.ref_volume if b is not None else self.day_volume[token]

    def _remember_volume(self, token: int, tick: Tick) -> None:
        if tick.day_volume is not None:
            self.day_volume[token] = tick.day_volume
            self.volume_day[token] = int(tick.ts // 86_400)

    def _close(self, token: int) -> list[MinuteBar]:
        b = self.building.pop(token)
        if b.whole:
            return [b.bar(token)]
        self.owed.setdefault(token, set()).add(b.start)
        return []

    def flush(self, now: float) -> list[MinuteBar]:
        """Close every bar whose minute ended at least ``grace`` seconds before ``now``."""
        done: list[MinuteBar] = []
        for token in [t for t, b in self.building.items() if b.start + MINUTE + self.grace <= now]:
            done.extend(self._close(token))
        return done

    def owed_due(self, now: float) -> dict[int, list[int]]:
        """Owed minutes that have ended by ``now``, per token, oldest first."""
        due = {}
        for token, minutes in self.owed.items():
            ready = sorted(m for m in minutes if m + MINUTE <= now)
            if ready:
                due[token] = ready
        return due

    def settle(self, token: int, minutes: Iterable[int]) -> None:
        """``minutes`` of ``token`` were completed (or given up): owe them no more."""
        left = self.owed.get(token)
        if left is not None:
            left.difference_update(minutes)
            if not left:
                del self.owed[token]
