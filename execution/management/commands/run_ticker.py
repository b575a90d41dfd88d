"""``run_ticker --account ID``: one-minute bars from Kite's ticker, one process per cluster."""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from execution.management.commands._broker import kite_account, kite_market_data
from execution.models import Instrument
from execution.services.ticker import (
    TickerRunner,
    broker_feed_instruments,
    leader_lock,
    leader_unlock,
)


class Command(BaseCommand):
    help = (
        "Stream Kite's ticker for every instrument a running feed=broker deployment trades "
        "(and each --instrument EXCHANGE:SYMBOL), and store one-minute bars once each. Only "
        "one runs per cluster (a database lock); a second waits for the first to stop."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, required=True, help="BrokerAccount id.")
        parser.add_argument("--instrument", action="append", default=[], dest="instruments")
        parser.add_argument("--wait-lock", type=float, default=5.0,
                            help="Seconds between tries for the cluster lock.")  # fmt: skip

    def handle(self, *args, account, instruments, wait_lock, **options):
        from brokers.services import broker_account_access_token

        acct = kite_account(account)
        extra = []
        for name in instruments:
            exchange, _, symbol = name.upper().partition(":")
            inst = Instrument.objects.filter(
                exchange=exchange, symbol=symbol, kite_token__isnull=False
            ).first()
            if inst is None:
                raise CommandError(f"--instrument: {name} has no Kite token (import_instruments)")
            extra.append(inst)
        stopping = []
        signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
        signal.signal(signal.SIGINT, lambda *a: stopping.append(1))
        while not leader_lock():
            if stopping:
                return
            self.stdout.write("Another ticker holds the cluster lock; waiting.")
            time.sleep(wait_lock)
        runner = TickerRunner(
            api_key=acct.api_key,
            access_token=broker_account_access_token(account=acct),
            root=settings.KITE_TICKER_ROOT,
            history=kite_market_data(account),
            instruments=lambda: broker_feed_instruments(extra),
        )
        runner.start()
        self.stdout.write(
            self.style.SUCCESS(f"Ticker on for {len(runner.instruments)} instruments.")
        )
        expires = acct.token_expires_at
        try:
            while not stopping:
                runner.step(timeout=1.0)
                if runner.gave_up:
                    raise CommandError("Kite's ticker gave up reconnecting; check the session.")
                if expires is not None and timezone.now() >= expires:
                    # Kite logs every session out daily: exit so a supervisor restarts the
                    # ticker after the morning re-login, with the new token
                    raise CommandError("The Kite session has expired; log in again.")
        finally:
            runner.stop()
            leader_unlock()
