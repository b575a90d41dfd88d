"""``import_instruments --from kite|dhan --account ID``: instruments from the broker's list."""

from django.core.management.base import BaseCommand, CommandError

from execution.brokers.base import BrokerError
from execution.management.commands._broker import dhan_market_data, kite_market_data
from execution.marketdata.exchanges import EXCHANGES
from execution.services.broker_data import instruments_import_kite
from execution.services.dhan_market import instruments_import_dhan


class Command(BaseCommand):
    help = (
        "Create or update instruments from a linked Kite account's instrument dump or Dhan's "
        "scrip master, with the exchange's real tick and lot sizes and the broker's id (Kite's "
        "instrument token; Dhan's securityId and exchange segment, which Dhan orders need). "
        "Running it again changes only what the list changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", choices=["kite", "dhan"], required=True)
        parser.add_argument("--account", type=int, required=True, help="BrokerAccount id.")
        parser.add_argument(
            "--exchange",
            action="append",
            dest="exchanges",
            help=f"Only this exchange (repeatable): {', '.join(EXCHANGES)}. Default: all.",
        )

    def handle(self, *args, source, account, exchanges, **options):
        for exchange in exchanges or []:
            if exchange.upper() not in EXCHANGES:
                raise CommandError(f"--exchange must be one of: {', '.join(EXCHANGES)}")
        if source == "dhan":
            return self._dhan(account, exchanges)
        data = kite_market_data(account)
        try:
            result = instruments_import_kite(data=data, exchanges=exchanges)
        except BrokerError as e:
            raise CommandError(f"Kite: {e}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Instruments from Kite: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged, {result.skipped} rows skipped."
            )
        )

    def _dhan(self, account, exchanges) -> None:
        data = dhan_market_data(account)
        try:
            result = instruments_import_dhan(data=data, exchanges=exchanges)
        except BrokerError as e:
            raise CommandError(f"Dhan: {e}") from None
        for line in result.corrected:
            self.stdout.write(self.style.WARNING(f"Tick/lot corrected to Dhan's: {line}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"Instruments from Dhan: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged, {result.skipped} rows skipped, "
                f"{len(result.corrected)} tick/lot corrected."
            )
        )
