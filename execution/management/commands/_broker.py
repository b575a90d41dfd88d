"""The linked account a market-data command reads from (shared by the commands)."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError
from django.utils import timezone

from execution.brokers.kite_data import KiteMarketData


def broker_account(account_id: int, vendor: str | None = None):
    """The linked, logged-in account (of ``vendor`` when given), or a ``CommandError``."""
    from brokers.models import BrokerAccount

    account = BrokerAccount.objects.filter(pk=account_id).first()
    if account is None:
        raise CommandError(f"--account: no broker account {account_id}")
    label = str(account.vendor).title()
    if vendor is not None and account.vendor != vendor:
        raise CommandError(f"--account: account {account_id} is not a {vendor.title()} account")
    if not account.access_token_encrypted:
        raise CommandError(f"--account: account {account_id} is not logged in to {label}")
    if account.current_status(timezone.now()) != BrokerAccount.Status.LINKED:
        raise CommandError(f"--account: account {account_id}'s {label} session has expired; log in")
    return account


def kite_account(account_id: int):
    return broker_account(account_id, "kite")


def dhan_market_data(account_id: int, instrument_names: dict[int, str] | None = None):
    from brokers.services import broker_adapter_for
    from execution.brokers.dhan_data import DhanMarketData

    adapter = broker_adapter_for(account=broker_account(account_id, "dhan"))
    return DhanMarketData(
        adapter,
        scrip_master_url=settings.DHAN_SCRIP_MASTER_URL,
        instrument_names=instrument_names,
        requests_per_second=settings.DHAN_HISTORY_REQUESTS_PER_SECOND,
    )


def kite_market_data(account_id: int) -> KiteMarketData:
    from brokers.services import broker_adapter_for

    adapter = broker_adapter_for(account=kite_account(account_id))
    return KiteMarketData(adapter, requests_per_second=settings.KITE_HISTORY_REQUESTS_PER_SECOND)
