"""Writes for market data: instruments on demand and idempotent bar imports."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from django.db import transaction

from execution.marketdata.csvbars import ParsedBar, parse_ohlcv_csv
from execution.models import Bar, Instrument

IMPORT_BATCH = 5000


def instrument_get_or_create(
    *,
    exchange: str,
    symbol: str,
    tick_size: Decimal | None = None,
    lot_size: int | None = None,
    currency: str | None = None,
) -> tuple[Instrument, bool]:
    """Return the instrument, creating it with the given (or default) tick, lot and currency."""
    defaults = {
        k: v
        for k, v in {"tick_size": tick_size, "lot_size": lot_size, "currency": currency}.items()
        if v is not None
    }
    return Instrument.objects.get_or_create(
        exchange=exchange.upper(), symbol=symbol.upper(), defaults=defaults
    )


@transaction.atomic
def bars_import(*, instrument: Instrument, timeframe: str, bars: Iterable[ParsedBar]) -> int:
    """Store ``bars``, skipping timestamps already present; return how many were added."""
    before = Bar.objects.filter(instrument=instrument, timeframe=timeframe).count()
    rows = [
        Bar(
            instrument=instrument,
            timeframe=timeframe,
            ts=b.ts,
            open=b.open,
            high=b.high,
            low=b.low,
            close=b.close,
            volume=b.volume,
        )
        for b in bars
    ]
    Bar.objects.bulk_create(rows, batch_size=IMPORT_BATCH, ignore_conflicts=True)
    return Bar.objects.filter(instrument=instrument, timeframe=timeframe).count() - before


def bars_import_csv(*, instrument: Instrument, timeframe: str, path: str | Path) -> int:
    """Parse an OHLCV CSV (raising ``CsvFormatError`` with line numbers) and import it."""
    return bars_import(instrument=instrument, timeframe=timeframe, bars=parse_ohlcv_csv(path))
