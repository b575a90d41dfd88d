"""``import_bars SYMBOL PATH --exchange EX --timeframe TF``: load OHLCV bars from a CSV file.

``import_bars SYMBOL --from kite --account ID --exchange EX --timeframe TF --start D --end D``
loads them from a linked Kite account's historical candles instead, and ``--from dhan`` from a
linked Dhan account's charts (intraday and daily).
"""

from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from execution.brokers.base import BrokerError
from execution.brokers.kite_data import IST, KITE_INTERVALS
from execution.marketdata.csvbars import CsvFormatError
from execution.marketdata.exchanges import EXCHANGES
from execution.marketdata.ticks import OffTickPrices, PriceRoundsToZero
from execution.services.marketdata import bars_import_csv, instrument_get_or_create
from strategies.models import Timeframe


def _decimal(value: str) -> Decimal:
    try:
        result = Decimal(value)
    except InvalidOperation:
        raise CommandError(f"Not a number: {value!r}") from None
    if not result.is_finite():
        raise CommandError(f"Not a number: {value!r}")
    if result <= 0:
        raise CommandError(f"Must be positive: {value!r}")
    return result


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from None


def _messages(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return " ".join(
            f"--{field.replace('_', '-')}: {' '.join(ValidationError(e).messages)}"
            for field, e in error.error_dict.items()
        )
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Import OHLCV bars from a CSV with a date/datetime first column and Open, High, Low, "
        "Close, Volume columns (any letter case). Creates the instrument if missing, with the "
        "exchange's default tick and currency unless given; re-importing the same file adds "
        "nothing. Prices must sit on the instrument's tick unless --round-to-tick."
    )

    def add_arguments(self, parser):
        parser.add_argument("symbol")
        parser.add_argument("path", nargs="?", help="The CSV file (with --from csv).")
        parser.add_argument(
            "--from",
            dest="source",
            choices=["csv", "kite", "dhan"],
            default="csv",
            help="kite / dhan: the historical candles of a linked Kite or Dhan account "
            "(--account); the instrument must come from import_instruments --from kite / dhan.",
        )
        parser.add_argument(
            "--account", type=int, help="BrokerAccount id (with --from kite or dhan)."
        )
        parser.add_argument("--start", type=_date, help="First day, IST (with --from kite/dhan).")
        parser.add_argument("--end", type=_date, help="Last day, IST (with --from kite/dhan).")
        parser.add_argument(
            "--exchange", required=True, help=f"One of: {', '.join(EXCHANGES)} (any case)."
        )
        parser.add_argument("--timeframe", required=True, choices=Timeframe.values)
        parser.add_argument(
            "--tick-size", type=_decimal, help="At most 8 decimal places (crypto: 0.00000001)."
        )
        parser.add_argument("--lot-size", type=int)
        parser.add_argument("--currency")
        parser.add_argument(
            "--round-to-tick",
            action="store_true",
            help="Round prices off the tick to the nearest tick (reported) instead of refusing.",
        )

    def handle(
        self,
        *args,
        symbol,
        path,
        exchange,
        timeframe,
        tick_size,
        lot_size,
        currency,
        round_to_tick,
        source,
        **options,
    ):
        if source == "kite":
            return self._from_kite(symbol, exchange, timeframe, **options)
        if source == "dhan":
            return self._from_dhan(symbol, exchange, timeframe, **options)
        if not path:
            raise CommandError("path: the CSV file to import is required (or --from kite/dhan).")
        if lot_size is not None and lot_size < 1:
            raise CommandError(f"--lot-size must be at least 1, got {lot_size}")
        if exchange.upper() not in EXCHANGES:
            raise CommandError(f"--exchange must be one of: {', '.join(EXCHANGES)}")
        # One transaction: a file that cannot be imported leaves no new, empty instrument behind.
        with transaction.atomic():
            try:
                instrument, created = instrument_get_or_create(
                    exchange=exchange,
                    symbol=symbol,
                    tick_size=tick_size,
                    lot_size=lot_size,
                    currency=currency,
                )
            except ValidationError as e:
                raise CommandError(_messages(e)) from None
            try:
                result = bars_import_csv(
                    instrument=instrument,
                    timeframe=timeframe,
                    path=path,
                    round_to_tick=round_to_tick,
                )
            except FileNotFoundError:
                raise CommandError(f"No such file: {path}") from None
            except (CsvFormatError, OffTickPrices, PriceRoundsToZero) as e:
                raise CommandError(f"{path}: {e}") from None
        verb = "Created" if created else "Found"
        tick = f"{instrument.tick_size.normalize():f}"
        rounded = f" Rounded {result.rounded} price(s) to the tick {tick}." * bool(result.rounded)
        self.stdout.write(
            self.style.SUCCESS(
                f"{verb} {instrument} (tick {tick}, lot "
                f"{instrument.lot_size}, {instrument.currency}); imported {result.added} new "
                f"{timeframe} bars.{rounded}"
            )
        )

    def _from_kite(self, symbol, exchange, timeframe, *, account, start, end, **options):
        from execution.management.commands._broker import kite_market_data
        from execution.services.broker_data import bars_import_kite

        if timeframe not in KITE_INTERVALS:
            raise CommandError(
                f"--timeframe: Kite has no {timeframe} candles; use one of "
                f"{', '.join(KITE_INTERVALS)}."
            )
        first, last = _range("kite", account, start, end)
        instrument = _broker_instrument(
            exchange,
            symbol,
            {"kite_token__isnull": False},  # nosec B105: a lookup, not a password
            "no Kite instrument token",
            "kite",
        )
        data = kite_market_data(account)
        try:
            result = bars_import_kite(
                data=data, instrument=instrument, timeframe=timeframe, start=first, end=last
            )
        except BrokerError as e:
            raise CommandError(f"Kite: {e}") from None
        self._report(result, timeframe, instrument, "Kite", start, end)

    def _from_dhan(self, symbol, exchange, timeframe, *, account, start, end, **options):
        from execution.brokers.dhan_data import DHAN_TIMEFRAMES
        from execution.management.commands._broker import dhan_market_data
        from execution.services.dhan_market import bars_import_dhan

        if timeframe not in DHAN_TIMEFRAMES:
            raise CommandError(
                f"--timeframe: Dhan has no {timeframe} candles; use one of "
                f"{', '.join(DHAN_TIMEFRAMES)}."
            )
        first, last = _range("dhan", account, start, end)
        has_ids = {"dhan_security_id__isnull": False, "dhan_segment__gt": ""}
        instrument = _broker_instrument(exchange, symbol, has_ids, "no Dhan securityId", "dhan")
        data = dhan_market_data(account)
        try:
            result = bars_import_dhan(
                data=data, instrument=instrument, timeframe=timeframe, start=first, end=last
            )
        except BrokerError as e:
            raise CommandError(f"Dhan: {e}") from None
        self._report(result, timeframe, instrument, "Dhan", start, end)

    def _report(self, result, timeframe, instrument, broker, start, end) -> None:
        rounded = f" Rounded {result.rounded} price(s) to the tick." * bool(result.rounded)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.added} new {timeframe} bars of {instrument} from {broker} "
                f"({start} to {end}).{rounded}"
            )
        )


def _range(source: str, account, start, end) -> tuple[datetime, datetime]:
    """``--start`` 00:00:00 to ``--end`` 23:59:59 IST, or a ``CommandError`` naming the option."""
    if account is None or start is None or end is None:
        raise CommandError(f"--from {source} needs --account, --start and --end.")
    if end < start:
        raise CommandError("--end is before --start.")
    return (
        datetime.combine(start, time.min, tzinfo=IST),
        datetime.combine(end, time.max.replace(microsecond=0), tzinfo=IST),
    )


def _broker_instrument(exchange: str, symbol: str, has_ids: dict, lacking: str, source: str):
    from execution.models import Instrument

    instrument = Instrument.objects.filter(
        exchange=exchange.upper(), symbol=symbol.upper(), **has_ids
    ).first()
    if instrument is None:
        raise CommandError(
            f"{exchange.upper()}:{symbol.upper()} has {lacking}; run "
            f"import_instruments --from {source} first."
        )
    return instrument
