"""Market data from a linked broker: instruments from Kite's dump, candles, and live minute bars.

- ``instruments_import_kite`` upserts our instruments from the dump with the broker's tick and
  lot and Kite's ``instrument_token``; run it twice and the second run changes nothing. The
  broker's tick and lot win over what we had (they are the exchange's).
- ``bars_import_kite`` stores historical candles page by page; a bar already stored (same
  instrument, timeframe and open time) is skipped, so a re-run or an overlapping range adds
  nothing twice.
- ``minute_bars_write`` stores bars the ticker built (or the history completed) once per
  (instrument, minute): the ``bar_unique`` constraint decides, so two ticker processes racing
  on the same minute store one row and neither fails.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from django.db import IntegrityError, transaction

from algosaas import cache as hot
from execution.brokers.kite_data import KiteMarketData, instrument_specs
from execution.marketdata.csvbars import ParsedBar
from execution.marketdata.exchanges import EXCHANGES
from execution.marketdata.minutebars import MinuteBar
from execution.models import Bar, Instrument
from execution.selectors import bars_namespace
from execution.services.instruments import InstrumentRow, instruments_upsert
from execution.services.marketdata import BarsImported, _store

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class InstrumentsImported:
    created: int
    updated: int
    unchanged: int
    skipped: int  # rows of exchanges we do not trade, or unusable (counted, never stored wrong)


_SYNCED = ("name", "tick_size", "lot_size", "kite_token")


def instruments_import_kite(
    *, data: KiteMarketData, exchanges: Iterable[str] | None = None
) -> InstrumentsImported:
    """Upsert instruments from the account's dump (every exchange we know, or ``exchanges``)."""
    wanted = {e.upper() for e in exchanges} if exchanges else set(EXCHANGES) - {"SYNTH"}
    rows: list[dict] = []
    for exchange in sorted(wanted) if exchanges else [None]:
        rows.extend(data.instruments(exchange))
    specs, skipped = instrument_specs(rows, wanted)
    listed = [
        InstrumentRow(
            s.exchange,
            s.symbol,
            {
                "name": s.name,
                "tick_size": s.tick_size,
                "lot_size": s.lot_size,
                "kite_token": s.token,
            },
        )
        for s in specs
    ]
    done = instruments_upsert(rows=listed, fields=_SYNCED)
    log.info(
        "instruments_imported", created=done.created, updated=done.updated,
        unchanged=done.unchanged, skipped=skipped,
    )  # fmt: skip
    return InstrumentsImported(done.created, done.updated, done.unchanged, skipped)


class NoBrokerToken(ValueError):
    """The instrument has no Kite token: import the instrument dump first."""


def bars_import_kite(
    *,
    data: KiteMarketData,
    instrument: Instrument,
    timeframe: str,
    start: datetime,
    end: datetime,
) -> BarsImported:
    """Store Kite's candles of ``instrument`` opening in ``[start, end]``, page by page."""
    if instrument.kite_token is None:
        raise NoBrokerToken(
            f"{instrument} has no Kite instrument token; run import_instruments --from kite."
        )
    return bars_import_pages(
        instrument=instrument,
        timeframe=timeframe,
        pages=data.candle_pages(
            token=instrument.kite_token, timeframe=timeframe, start=start, end=end
        ),
    )


def bars_import_pages(
    *, instrument: Instrument, timeframe: str, pages: Iterable[list[ParsedBar]]
) -> BarsImported:
    """Store a broker's candle pages, each page in its own transaction (any broker's history).

    An interrupted import keeps what it stored and the re-run skips it; a bar already stored
    (same instrument, timeframe and open time) is skipped, so a re-run or an overlapping range
    adds nothing twice. Prices off the instrument's tick are rounded onto it (and counted).
    """
    added = rounded = 0
    for page in pages:
        with transaction.atomic():
            result = _store(instrument, timeframe, page, round_to_tick=True)
        added += result.added
        rounded += result.rounded
    return BarsImported(added=added, rounded=rounded)


def minute_bars_write(bars: Iterable[tuple[Instrument, MinuteBar | ParsedBar]]) -> int:
    """Store one-minute bars, each once; return how many this call stored (others had them)."""
    added = 0
    touched: set[int] = set()
    for instrument, bar in bars:
        ts = bar.ts if isinstance(bar, ParsedBar) else datetime.fromtimestamp(bar.start, tz=UTC)
        row = Bar(
            instrument=instrument,
            timeframe="1m",
            ts=ts,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
        )
        try:
            with transaction.atomic():
                row.save(force_insert=True)
        except IntegrityError:
            continue  # another writer stored this minute first: one row, theirs
        added += 1
        touched.add(instrument.pk)
    for pk in touched:
        hot.invalidate(bars_namespace(pk))
    return added
