"""``run_ticker --account ID``: one-minute bars from the account's broker feed (Kite's ticker or
Dhan's Live Market Feed), one process per cluster and vendor."""

import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from execution.management.commands._broker import (
    broker_account,
    dhan_market_data,
    kite_account,
    kite_market_data,
)
from execution.models import Instrument
from execution.services.dhan_market import dhan_feed_instruments
from execution.services.dhan_ticker import DHAN_LEADER_LOCK_KEY, DhanTickerRunner
from execution.services.ticker import (
    LEADER_LOCK_KEY,
    TickerRunner,
    broker_feed_instruments,
    leader_lock,
    leader_unlock,
)


class Command(BaseCommand):
    help = (
        "Stream the account's broker feed (Kite's ticker, Dhan's market feed) for every "
        "instrument a running feed=broker deployment trades (and each --instrument "
        "EXCHANGE:SYMBOL), and store one-minute bars once each. Only one runs per cluster and "
        "vendor (a database lock); a second waits for the first to stop."
    )

    def add_arguments(self, parser):
        parser.add_argument("--account", type=int, required=True, help="BrokerAccount id.")
        parser.add_argument("--instrument", action="append", default=[], dest="instruments")
        parser.add_argument("--wait-lock", type=float, default=5.0,
                            help="Seconds between tries for the cluster lock.")  # fmt: skip

    def handle(self, *args, account, instruments, wait_lock, **options):
        from brokers.services import broker_account_access_token

        dhan = broker_account(account).vendor == "dhan"
        acct = broker_account(account, "dhan") if dhan else kite_account(account)
        vendor = "Dhan" if dhan else "Kite"
        id_field = "dhan_security_id" if dhan else "kite_token"
        extra = []
        for name in instruments:
            exchange, _, symbol = name.upper().partition(":")
            inst = (
                Instrument.objects.filter(exchange=exchange, symbol=symbol)
                .exclude(**{id_field: None})
                .first()
            )
            if inst is None:
                raise CommandError(f"--instrument: {name} has no {vendor} id (import_instruments)")
            extra.append(inst)
        stopping = []
        signal.signal(signal.SIGTERM, lambda *a: stopping.append(1))
        signal.signal(signal.SIGINT, lambda *a: stopping.append(1))
        lock_key = DHAN_LEADER_LOCK_KEY if dhan else LEADER_LOCK_KEY
        while not leader_lock(lock_key):
            if stopping:
                return
            self.stdout.write("Another ticker holds the cluster lock; waiting.")
            time.sleep(wait_lock)
        token = broker_account_access_token(account=acct)
        if dhan:
            runner = DhanTickerRunner(
                client_id=acct.api_key,
                access_token=token,
                root=settings.DHAN_FEED_ROOT,
                history=dhan_market_data(account),
                instruments=lambda: dhan_feed_instruments(extra),
            )
        else:
            runner = TickerRunner(
                api_key=acct.api_key,
                access_token=token,
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
                    raise CommandError(f"{vendor}'s feed gave up reconnecting; check the session.")
                if expires is not None and timezone.now() >= expires:
                    # Kite logs every session out daily: exit so a supervisor restarts the
                    # ticker after the morning re-login, with the new token
                    raise CommandError(f"The {vendor} session has expired; log in again.")
        finally:
            runner.stop()
            leader_unlock(lock_key)
