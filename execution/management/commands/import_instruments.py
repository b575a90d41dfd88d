"""``import_instruments --from kite --account ID``: instruments from the broker's dump."""

from django.core.management.base import BaseCommand, CommandError

from execution.brokers.base import BrokerError
from execution.management.commands._broker import kite_market_data
from execution.marketdata.exchanges import EXCHANGES
from execution.services.broker_data import instruments_import_kite


class Command(BaseCommand):
    help = (
        "Create or update instruments from a linked Kite account's instrument dump, with the "
        "exchange's real tick and lot sizes and Kite's instrument token (used by import_bars "
        "--from kite and run_ticker). Running it again changes only what the dump changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="source", choices=["kite"], required=True)
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
