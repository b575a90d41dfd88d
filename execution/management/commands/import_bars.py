"""``import_bars SYMBOL PATH --exchange EX --timeframe TF``: load OHLCV bars from a CSV file."""

from decimal import Decimal, InvalidOperation

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from execution.marketdata.csvbars import CsvFormatError
from execution.models import Exchange
from execution.services.marketdata import bars_import_csv, instrument_get_or_create
from strategies.models import Timeframe


def _decimal(value: str) -> Decimal:
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"Not a number: {value!r}") from None
    if result <= 0:
        raise CommandError(f"Must be positive: {value!r}")
    return result


class Command(BaseCommand):
    help = (
        "Import OHLCV bars from a CSV with a date/datetime first column and Open, High, Low, "
        "Close, Volume columns (any letter case). Creates the instrument if missing; "
        "re-importing the same file adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("symbol")
        parser.add_argument("path")
        parser.add_argument("--exchange", required=True)
        parser.add_argument("--timeframe", required=True, choices=Timeframe.values)
        parser.add_argument("--tick-size", type=_decimal)
        parser.add_argument("--lot-size", type=int)
        parser.add_argument("--currency")

    def handle(
        self, *args, symbol, path, exchange, timeframe, tick_size, lot_size, currency, **options
    ):
        if lot_size is not None and lot_size < 1:
            raise CommandError("--lot-size must be at least 1")
        if exchange.upper() not in Exchange.values:
            raise CommandError(f"--exchange must be one of: {', '.join(Exchange.values)}")
        # One transaction: a file that cannot be imported leaves no new, empty instrument behind.
        with transaction.atomic():
            instrument, created = instrument_get_or_create(
                exchange=exchange,
                symbol=symbol,
                tick_size=tick_size,
                lot_size=lot_size,
                currency=currency,
            )
            try:
                added = bars_import_csv(instrument=instrument, timeframe=timeframe, path=path)
            except FileNotFoundError:
                raise CommandError(f"No such file: {path}") from None
            except CsvFormatError as e:
                raise CommandError(f"{path}: {e}") from None
        verb = "Created" if created else "Found"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} {instrument}; imported {added} new {timeframe} bars.")
        )
