"""Writes for market data: instruments on demand and idempotent bar imports.

Ticks, lots and prices are checked here, not only in the command: the database keeps 8 decimal
places, and a value it would round (a tick to 0, a price off its tick) is refused with the value
named instead of stored wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from algosaas import cache as hot
from execution.marketdata.csvbars import ParsedBar, parse_ohlcv_csv
from execution.marketdata.exchanges import exchange_profile
from execution.marketdata.ticks import bars_on_tick
from execution.models import Bar, Instrument
from execution.selectors import bars_namespace

IMPORT_BATCH = 5000


@dataclass(frozen=True, slots=True)
class BarsImported:
    """What an import did: bars added (repeats skipped) and prices rounded onto the tick."""

    added: int
    rounded: int = 0


def instrument_get_or_create(
    *,
    exchange: str,
    symbol: str,
    tick_size: Decimal | None = None,
    lot_size: int | None = None,
    currency: str | None = None,
) -> tuple[Instrument, bool]:
    """Return the instrument, creating it with the given (or the exchange's default) tick,
    lot and currency.

    Raises ``ValidationError`` naming the value for an unknown exchange, a tick the database
    cannot hold (zero, negative, finer than 1e-8) or a lot below 1, and for a tick, lot or
    currency that differs from an existing instrument's (its stored bars were checked on it).
    """
    try:
        profile = exchange_profile(exchange)
    except ValueError as e:
        raise ValidationError({"exchange": [str(e)]}) from None
    symbol = symbol.upper()
    existing = Instrument.objects.filter(exchange=profile.code, symbol=symbol).first()
    if existing is not None:
        _check_same(existing, tick_size=tick_size, lot_size=lot_size, currency=currency)
        return existing, False
    instrument = Instrument(
        exchange=profile.code,
        symbol=symbol,
        tick_size=profile.default_tick if tick_size is None else tick_size,
        lot_size=1 if lot_size is None else lot_size,
        currency=(currency or profile.currency).upper(),
    )
    instrument.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            instrument.save(force_insert=True)
    except IntegrityError:  # created meanwhile by a concurrent import: check against that one
        existing = Instrument.objects.get(exchange=profile.code, symbol=symbol)
        _check_same(existing, tick_size=tick_size, lot_size=lot_size, currency=currency)
        return existing, False
    return instrument, True


def _check_same(instrument: Instrument, **given: object) -> None:
    errors = {}
    for field, value in given.items():
        if value is None:
            continue
        stored = getattr(instrument, field)
        if (str(value).upper() if field == "currency" else value) != stored:
            errors[field] = [
                f"{instrument} already has {field.replace('_', ' ')} {stored}, not {value}; "
                "change the instrument itself, not through an import."
            ]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def bars_import(
    *,
    instrument: Instrument,
    timeframe: str,
    bars: Iterable[ParsedBar],
    round_to_tick: bool = False,
) -> int:
    """Store ``bars``, skipping timestamps already present; return how many were added.

    Prices must sit on the instrument's tick: raises ``OffTickPrices`` unless
    ``round_to_tick`` (``bars_import_csv`` reports how many were rounded).
    """
    return _store(instrument, timeframe, bars, round_to_tick=round_to_tick).added


def bars_import_csv(
    *, instrument: Instrument, timeframe: str, path: str | Path, round_to_tick: bool = False
) -> BarsImported:
    """Parse an OHLCV CSV (raising ``CsvFormatError`` with line numbers) and import it.

    Raises ``OffTickPrices`` naming the first prices off the tick, unless ``round_to_tick``.
    """
    with transaction.atomic():
        return _store(instrument, timeframe, parse_ohlcv_csv(path), round_to_tick=round_to_tick)


def _store(
    instrument: Instrument, timeframe: str, bars: Iterable[ParsedBar], *, round_to_tick: bool
) -> BarsImported:
    checked, rounded = bars_on_tick(
        bars, tick=Decimal(instrument.tick_size), round_to_tick=round_to_tick
    )
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
        for b in checked
    ]
    Bar.objects.bulk_create(rows, batch_size=IMPORT_BATCH, ignore_conflicts=True)
    hot.invalidate(bars_namespace(instrument.pk))  # bulk_create sends no signal
    added = Bar.objects.filter(instrument=instrument, timeframe=timeframe).count() - before
    return BarsImported(added=added, rounded=rounded)
