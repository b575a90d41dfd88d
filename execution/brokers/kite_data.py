"""Kite Connect market data: the instrument dump and historical candles, through the SDK.

Both go through ``KiteBroker._call`` (the same 429 backoff, error taxonomy and "session
expired" hook as orders). Historical requests are paged within Kite's documented span per
request (minute: 60 days, 3/5/10 minute: 100, 15/30 minute: 200, 60 minute: 400, day: 2000) and
sent at most ``HISTORY_REQUESTS_PER_SECOND`` a second. Kite speaks IST wall clock: ``from`` and
``to`` are sent as IST, candle times come back with ``+0530`` and are stored as UTC; a daily
candle is stored at midnight UTC of its IST date, as a CSV import of daily bars is.

Plain Python, no Django: the services in ``execution.services.broker_data`` write the rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from execution.brokers.kite import KiteBroker
from execution.brokers.pacing import Pacer
from execution.marketdata.csvbars import ParsedBar

IST = timezone(timedelta(hours=5, minutes=30))
# Our timeframe -> (Kite's interval, the most days one request may span).
KITE_INTERVALS: dict[str, tuple[str, int]] = {
    "1m": ("minute", 60),
    "5m": ("5minute", 100),
    "15m": ("15minute", 200),
    "1h": ("60minute", 400),
    "1d": ("day", 2000),
}
HISTORY_REQUESTS_PER_SECOND = 3  # Kite's documented limit for the historical API
INDEX_TICK = Decimal("0.01")  # indices come with tick 0 in the dump; their values have 2 places
SYMBOL_MAX = 32  # Instrument.symbol's column


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One row of the dump as our instrument: real tick and lot, and Kite's token."""

    exchange: str
    symbol: str
    name: str
    tick_size: Decimal
    lot_size: int
    token: int


def instrument_specs(
    rows: Iterable[dict[str, Any]], exchanges: Iterable[str]
) -> tuple[list[InstrumentSpec], int]:
    """The dump's rows on ``exchanges`` as specs, and how many rows were left out.

    Indices (segment ``INDICES``, tick and lot 0) get a 0.01 tick and lot 1 so their bars can be
    stored; a row of another exchange, a symbol too long for our column or a tradable row with
    no positive tick is left out (counted), never stored wrong.
    """
    known = set(exchanges)
    specs: list[InstrumentSpec] = []
    skipped = 0
    for row in rows:
        exchange = str(row.get("exchange", "")).upper()
        symbol = str(row.get("tradingsymbol", "")).upper()
        index = str(row.get("segment", "")).upper() == "INDICES"
        try:
            tick = INDEX_TICK if index else Decimal(str(row["tick_size"])).normalize()
            lot = 1 if index else int(row["lot_size"])
            token = int(row["instrument_token"])
        except (KeyError, ValueError, TypeError, InvalidOperation):
            skipped += 1
            continue
        if exchange not in known or not symbol or len(symbol) > SYMBOL_MAX or tick <= 0:
            skipped += 1
            continue
        if tick.as_tuple().exponent < -8:  # type: ignore[operator]
            skipped += 1
            continue
        specs.append(
            InstrumentSpec(
                exchange=exchange,
                symbol=symbol,
                name=str(row.get("name") or "")[:120],
                tick_size=tick,
                lot_size=max(lot, 1),
                token=token,
            )
        )
    return specs, skipped


def history_pages(
    start: datetime, end: datetime, limit_days: int
) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` (IST wall clock, naive) cut into inclusive pages of at most
    ``limit_days``; consecutive pages meet one second apart, so no candle is asked twice."""
    pages = []
    frm = start
    while frm <= end:
        to = min(frm + timedelta(days=limit_days) - timedelta(seconds=1), end)
        pages.append((frm, to))
        frm = to + timedelta(seconds=1)
    return pages


def to_ist_naive(ts: datetime) -> datetime:
    return ts.astimezone(IST).replace(tzinfo=None)


def _bar_time(stamp: datetime, daily: bool) -> datetime:
    if stamp.tzinfo is None:  # Kite always sends an offset; a naive one is IST
        stamp = stamp.replace(tzinfo=IST)
    if daily:
        d = stamp.astimezone(IST).date()
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    return stamp.astimezone(UTC)


def candle_bar(row: dict[str, Any], *, daily: bool = False) -> ParsedBar:
    """One SDK candle (``{"date", "open", ..., "volume"}``) as a bar at its UTC open time."""
    return ParsedBar(
        ts=_bar_time(row["date"], daily),
        open=Decimal(str(row["open"])),
        high=Decimal(str(row["high"])),
        low=Decimal(str(row["low"])),
        close=Decimal(str(row["close"])),
        volume=int(row["volume"]),
    )


class KiteMarketData:
    """The instrument dump and paged historical candles of one linked Kite account."""

    def __init__(
        self,
        broker: KiteBroker,
        *,
        requests_per_second: float = HISTORY_REQUESTS_PER_SECOND,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.broker = broker
        self.pacer = Pacer(requests_per_second, sleep=sleep, clock=clock)

    def instruments(self, exchange: str | None = None) -> list[dict[str, Any]]:
        """The SDK's parsed dump (every exchange, or one)."""
        kite = self.broker.kite
        return self.broker._call(lambda: kite.instruments(exchange))

    def candle_pages(
        self, *, token: int, timeframe: str, start: datetime, end: datetime
    ) -> Iterator[list[ParsedBar]]:
        """Candles opening in ``[start, end]`` (aware datetimes), one list per request.

        Raises ``ValueError`` for a timeframe Kite has no candles for.
        """
        if timeframe not in KITE_INTERVALS:
            raise ValueError(
                f"Kite has no {timeframe} candles; use one of {', '.join(KITE_INTERVALS)}."
            )
        interval, limit = KITE_INTERVALS[timeframe]
        kite = self.broker.kite
        for frm, to in history_pages(to_ist_naive(start), to_ist_naive(end), limit):
            self.pacer.wait()
            rows = self.broker._call(
                lambda frm=frm, to=to: kite.historical_data(token, frm, to, interval)
            )
            yield [candle_bar(r, daily=interval == "day") for r in rows]
