"""The linked account a market-data command reads from (shared by the commands)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone

from execution.brokers.kite_data import KiteMarketData


def kite_account(account_id: int):
    from brokers.models import BrokerAccount

    account = BrokerAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise CommandError(f"--account: no broker account {account_id}")
    if account.vendor != BrokerAccount.Vendor.KITE:
        raise CommandError(f"--account: account {account_id} is not a Kite account")
    if not account.access_token_encrypted:
        raise CommandError(f"--account: account {account_id} is not logged in to Kite")
    if account.current_status(timezone.now()) != BrokerAccount.Status.LINKED:
        raise CommandError(f"--account: account {account_id}'s Kite session has expired; log in")
    return account


def kite_market_data(account_id: int) -> KiteMarketData:
    from brokers.services import broker_adapter_for

    adapter = broker_adapter_for(account=kite_account(account_id))
    return KiteMarketData(adapter, requests_per_second=settings.KITE_HISTORY_REQUESTS_PER_SECOND)
