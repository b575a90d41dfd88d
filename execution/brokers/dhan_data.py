"""DhanHQ market data: the scrip master (instrument list) and intraday minute charts.

- **Scrip master.** Dhan publishes every instrument as a CSV (``api-scrip-master.csv``, no
  login needed) with columns ``SEM_EXM_EXCH_ID`` (NSE/BSE/MCX), ``SEM_SEGMENT`` (E equity,
  D derivatives, I index, C currency, M commodity), ``SEM_SMST_SECURITY_ID``,
  ``SEM_INSTRUMENT_NAME`` (EQUITY, INDEX, FUTIDX, OPTSTK...), ``SEM_TRADING_SYMBOL``,
  ``SEM_LOT_UNITS`` ("1.0"), ``SEM_TICK_SIZE`` (in *paise*: "5.0000" is ₹0.05),
  ``SEM_SERIES`` and more. ``scrip_specs`` turns rows into our instruments with Dhan's
  ``securityId`` and ``exchangeSegment`` (the pair an order and a feed subscription need).
- **Charts.** ``POST /v2/charts/intraday`` answers parallel arrays (``open``, ``high``,
  ``low``, ``close``, ``volume``, ``timestamp`` in epoch seconds); ``DhanMarketData``
  pages it (Dhan allows 90 days of minute data per request) into ``ParsedBar`` lists, the
  shape the ticker's history completion reads (``candle_pages``).

Plain Python, no Django.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from execution.brokers.base import TemporaryBrokerError
from execution.brokers.dhan import DhanBroker
from execution.brokers.pacing import Pacer
from execution.marketdata.csvbars import ParsedBar

IST = timezone(timedelta(hours=5, minutes=30))
SCRIP_MASTER_URL = "https://images.dhan.co/api-data/api-scrip-master.csv"
SYMBOL_MAX = 32  # Instrument.symbol's column
INDEX_TICK = Decimal("0.01")
CHART_DAYS = 90  # Dhan: intraday charts span at most 90 days per request
# our timeframe -> the intraday chart's "interval" ("1d" is the daily chart, /charts/historical)
DHAN_INTERVALS: dict[str, str] = {"1m": "1", "5m": "5", "15m": "15", "1h": "60"}
DHAN_TIMEFRAMES = (*DHAN_INTERVALS, "1d")
HISTORY_REQUESTS_PER_SECOND = 5  # Dhan's documented limit for its data APIs

# (SEM_EXM_EXCH_ID, SEM_SEGMENT) -> (our exchange, Dhan's exchangeSegment)
SEGMENTS: dict[tuple[str, str], tuple[str, str]] = {
    ("NSE", "E"): ("NSE", "NSE_EQ"),
    ("BSE", "E"): ("BSE", "BSE_EQ"),
    ("NSE", "D"): ("NFO", "NSE_FNO"),
    ("BSE", "D"): ("BFO", "BSE_FNO"),
    ("NSE", "C"): ("CDS", "NSE_CURRENCY"),
    ("MCX", "M"): ("MCX", "MCX_COMM"),
    ("NSE", "I"): ("NSE", "IDX_I"),
    ("BSE", "I"): ("BSE", "IDX_I"),
}
# exchangeSegment -> the byte the live feed's packet header carries (Dhan's annexure)
FEED_SEGMENT_CODES: dict[str, int] = {
    "IDX_I": 0,
    "NSE_EQ": 1,
    "NSE_FNO": 2,
    "NSE_CURRENCY": 3,
    "BSE_EQ": 4,
    "MCX_COMM": 5,
    "BSE_CURRENCY": 7,
    "BSE_FNO": 8,
}
FEED_SEGMENT_NAMES = {code: name for name, code in FEED_SEGMENT_CODES.items()}
# the chart API's "instrument" word for a segment (derivatives are refined by the row's name)
CHART_INSTRUMENT = {"IDX_I": "INDEX", "NSE_EQ": "EQUITY", "BSE_EQ": "EQUITY"}
# a series of an NSE equity other than EQ (BE, BZ, SM...) shares its symbol; EQ wins
PREFERRED_SERIES = ("EQ", "A", "B", "X", "")


def feed_key(segment: str, security_id: int) -> int:
    """One integer per (segment, securityId): Dhan's ids are unique only within a segment."""
    return (FEED_SEGMENT_CODES[segment] << 32) | int(security_id)


def split_feed_key(key: int) -> tuple[str, int]:
    return FEED_SEGMENT_NAMES[key >> 32], key & 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class DhanInstrumentSpec:
    """One scrip-master row as our instrument: real tick and lot, Dhan's id and segment."""

    exchange: str
    symbol: str
    name: str
    tick_size: Decimal
    lot_size: int
    security_id: int
    segment: str
    instrument: str = ""  # SEM_INSTRUMENT_NAME: what the chart API calls "instrument"
    series: str = ""


def _tick(raw: str, index: bool) -> Decimal:
    if index:
        return INDEX_TICK
    return (Decimal(raw.strip()) / 100).normalize()  # the master lists ticks in paise


def scrip_specs(
    rows: Iterable[dict[str, Any]], exchanges: Iterable[str]
) -> tuple[list[DhanInstrumentSpec], int]:
    """The master's rows on our ``exchanges`` as specs, and how many rows were left out.

    A row of another exchange or segment, one with no positive tick or lot, a symbol too long
    for our column, or a second series of the same symbol (EQ is kept) is left out (counted).
    """
    known = set(exchanges)
    best: dict[tuple[str, str], DhanInstrumentSpec] = {}
    skipped = 0
    for row in rows:
        key = (str(row.get("SEM_EXM_EXCH_ID", "")).upper(), str(row.get("SEM_SEGMENT", "")))
        symbol = str(row.get("SEM_TRADING_SYMBOL") or "").strip().upper()
        mapped = SEGMENTS.get(key)
        if mapped is None or mapped[0] not in known or not symbol or len(symbol) > SYMBOL_MAX:
            skipped += 1
            continue
        exchange, segment = mapped
        try:
            tick = _tick(str(row["SEM_TICK_SIZE"]), segment == "IDX_I")
            lot = 1 if segment == "IDX_I" else int(Decimal(str(row["SEM_LOT_UNITS"]).strip()))
            sid = int(str(row["SEM_SMST_SECURITY_ID"]).strip())
        except (KeyError, ValueError, TypeError, InvalidOperation):
            skipped += 1
            continue
        if tick <= 0 or lot < 1 or tick.as_tuple().exponent < -8:  # type: ignore[operator]
            skipped += 1
            continue
        series = str(row.get("SEM_SERIES") or "").strip().upper()
        spec = DhanInstrumentSpec(
            exchange=exchange,
            symbol=symbol,
            name=str(row.get("SM_SYMBOL_NAME") or row.get("SEM_CUSTOM_SYMBOL") or "")[:120],
            tick_size=tick,
            lot_size=lot,
            security_id=sid,
            segment=segment,
            instrument=str(row.get("SEM_INSTRUMENT_NAME") or "").strip().upper()[:10],
            series=series,
        )
        held = best.get((exchange, symbol))
        if held is not None:
            skipped += 1
            if _rank(held.series) <= _rank(series):
                continue
        best[(exchange, symbol)] = spec
    return list(best.values()), skipped


def _rank(series: str) -> int:
    return PREFERRED_SERIES.index(series) if series in PREFERRED_SERIES else len(PREFERRED_SERIES)


def parse_scrip_master(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def chart_bars(data: dict[str, Any], *, daily: bool = False) -> list[ParsedBar]:
    """A chart answer's parallel arrays as bars at their UTC open time.

    A daily candle's timestamp is its IST midnight; it is stored at midnight UTC of that IST
    date, as Kite's daily candles and a CSV of daily bars are.
    """
    columns = ("open", "high", "low", "close", "volume", "timestamp")
    arrays = [data.get(c) or [] for c in columns]
    return [
        ParsedBar(
            ts=_chart_time(int(ts), daily),
            open=Decimal(str(o)),
            high=Decimal(str(h)),
            low=Decimal(str(lo)),
            close=Decimal(str(c)),
            volume=int(v),
        )
        for o, h, lo, c, v, ts in zip(*arrays, strict=False)
    ]


def _chart_time(epoch: int, daily: bool) -> datetime:
    if not daily:
        return datetime.fromtimestamp(epoch, tz=UTC)
    d = datetime.fromtimestamp(epoch, tz=IST).date()
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def chart_pages(start: datetime, end: datetime, days: int) -> list[tuple[datetime, datetime]]:
    """``[start, end]`` (IST wall clock, naive) as half-open pages ``[frm, to)`` of at most
    ``days``, each starting where the last ended; the last ends one second after ``end``.

    Half-open on our side whatever Dhan does with ``toDate``: a candle opening exactly at a
    page's ``to`` is kept from the next page only, so no candle is stored from two pages.
    """
    pages = []
    frm, stop = start, end + timedelta(seconds=1)
    while frm < stop:
        to = min(frm + timedelta(days=days), stop)
        pages.append((frm, to))
        frm = to
    return pages


class DhanMarketData:
    """The scrip master and chart history (intraday and daily) of one linked Dhan account."""

    def __init__(
        self,
        broker: DhanBroker,
        *,
        scrip_master_url: str = SCRIP_MASTER_URL,
        instrument_names: dict[int, str] | None = None,
        timeout: float = 60.0,
        requests_per_second: float = HISTORY_REQUESTS_PER_SECOND,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.broker = broker
        self.scrip_master_url = scrip_master_url
        self.instrument_names = instrument_names or {}  # feed key -> chart "instrument" word
        self.timeout = timeout
        self.pacer = Pacer(requests_per_second, sleep=sleep)

    def scrip_master(self) -> list[dict[str, str]]:
        """Download and parse the master (public, no token: a plain GET)."""
        try:
            response = httpx.get(self.scrip_master_url, timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise TemporaryBrokerError(f"Dhan's scrip master: {type(exc).__name__}") from exc
        return parse_scrip_master(response.text)

    def candle_pages(
        self,
        *,
        token: int,
        timeframe: str,
        start: datetime,
        end: datetime,
        instrument: str | None = None,
    ) -> Iterator[list[ParsedBar]]:
        """Candles of feed key ``token`` opening in ``[start, end]``, a list per request.

        ``instrument`` is the chart's instrument word (EQUITY, INDEX, FUTIDX...); without it the
        one known for ``token``, else the segment's. Raises ``ValueError`` for a timeframe Dhan
        has no candles for.
        """
        if timeframe not in DHAN_TIMEFRAMES:
            raise ValueError(
                f"Dhan has no {timeframe} candles; use one of {', '.join(DHAN_TIMEFRAMES)}."
            )
        segment, sid = split_feed_key(token)
        word = instrument or self.instrument_names.get(token) or CHART_INSTRUMENT.get(segment)
        body = {"securityId": str(sid), "exchangeSegment": segment, "instrument": word or "EQUITY"}
        frm, last = to_ist_naive(start), to_ist_naive(end)
        if timeframe == "1d":
            if not segment.endswith("_EQ") and segment != "IDX_I":
                body["expiryCode"] = 0  # a derivative's current contract
            self.pacer.wait()
            payload = {
                **body,
                "oi": False,
                "fromDate": frm.date().isoformat(),
                "toDate": (last.date() + timedelta(days=1)).isoformat(),  # not included
            }
            data = self.broker._request("POST", "/charts/historical", payload=payload)
            yield [b for b in chart_bars(data or {}, daily=True) if _day(start) <= b.ts <= end]
            return
        for page_from, page_to in chart_pages(frm, last, CHART_DAYS):
            self.pacer.wait()
            payload = {
                **body,
                "interval": DHAN_INTERVALS[timeframe],
                "oi": False,
                "fromDate": page_from.strftime("%Y-%m-%d %H:%M:%S"),
                "toDate": page_to.strftime("%Y-%m-%d %H:%M:%S"),
            }
            data = self.broker._request("POST", "/charts/intraday", payload=payload)
            lo, hi = page_from.replace(tzinfo=IST), page_to.replace(tzinfo=IST)
            yield [b for b in chart_bars(data or {}) if lo <= b.ts < hi and start <= b.ts <= end]


def _day(moment: datetime) -> datetime:
    """Midnight UTC of ``moment``'s IST date: where that day's candle is stored."""
    d = moment.astimezone(IST).date()
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def to_ist_naive(ts: datetime) -> datetime:
    return ts.astimezone(IST).replace(tzinfo=None)
