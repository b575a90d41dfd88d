"""Writes to broker accounts: link, log in (Kite's redirect flow), mark expired, unlink.

Every status change of a ``BrokerAccount`` happens here, with ``update_fields`` and one
structured log line that names the account, never a secret.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from brokers import crypto
from brokers.models import BrokerAccount
from execution.brokers.base import BrokerError, SessionExpired

log = structlog.get_logger(__name__)
IST = ZoneInfo("Asia/Kolkata")
KITE_EXPIRY = time(6, 0)  # Kite logs every session out daily at about 06:00 IST


class BrokerLoginFailed(Exception):
    """Raised when the broker refuses the login (bad request token, checksum, secret)."""


def kite_token_expiry(login_at: datetime) -> datetime:
    """Return the first 06:00 IST after ``login_at``: when Kite's access token stops working."""
    local = login_at.astimezone(IST)
    expiry = datetime.combine(local.date(), KITE_EXPIRY, tzinfo=IST)
    if local >= expiry:
        expiry += timedelta(days=1)
    return expiry


@transaction.atomic
def broker_account_create(
    *, user: Any, vendor: str, api_key: str, api_secret: str, label: str = ""
) -> BrokerAccount:
    """Store a new account with its secret encrypted; it needs a login before any order."""
    try:
        with transaction.atomic():
            account = BrokerAccount.objects.create(
                user=user,
                vendor=vendor,
                label=label,
                api_key=api_key,
                api_secret_encrypted=crypto.encrypt(api_secret),
            )
    except IntegrityError as exc:
        raise ValidationError({"api_key": "You have already linked this API key."}) from exc
    log.info("broker_account_created", account_id=account.pk, vendor=vendor)
    return account


def broker_account_api_secret(*, account: BrokerAccount) -> str:
    """Return the decrypted API secret (only to sign a token exchange; never log it)."""
    return crypto.decrypt(account.api_secret_encrypted)


def broker_account_access_token(*, account: BrokerAccount) -> str:
    """Return the decrypted access token, or raise ``SessionExpired`` when there is none valid."""
    if account.current_status(timezone.now()) != BrokerAccount.Status.LINKED:
        raise SessionExpired(f"broker account {account.pk} needs a login")
    return crypto.decrypt(account.access_token_encrypted)


def broker_account_link(
    *, account: BrokerAccount, access_token: str, broker_user_id: str, login_at: datetime
) -> BrokerAccount:
    """Store a fresh access token: the account is linked until the next daily expiry."""
    account.access_token_encrypted = crypto.encrypt(access_token)
    account.status = BrokerAccount.Status.LINKED
    account.broker_user_id = broker_user_id[:32]
    account.last_error = ""
    account.linked_at = login_at
    account.token_expires_at = kite_token_expiry(login_at)
    account.save(
        update_fields=[
            "access_token_encrypted",
            "status",
            "broker_user_id",
            "last_error",
            "linked_at",
            "token_expires_at",
            "updated_at",
        ]
    )
    log.info("broker_account_linked", account_id=account.pk, vendor=account.vendor)
    return account


def broker_account_record_error(*, account: BrokerAccount, error: str) -> BrokerAccount:
    """Keep the broker's last error on the account for the dashboard."""
    account.last_error = error[:500]
    account.save(update_fields=["last_error", "updated_at"])
    log.warning("broker_account_error", account_id=account.pk, error=account.last_error)
    return account


def broker_account_mark_relogin(*, account: BrokerAccount, error: str) -> BrokerAccount:
    """The broker refused the session: forget the token, the user must log in again."""
    account.status = BrokerAccount.Status.RELOGIN_NEEDED
    account.access_token_encrypted = ""  # nosec B105 # forgetting the token, not a password
    account.last_error = error[:500]
    account.save(update_fields=["status", "access_token_encrypted", "last_error", "updated_at"])
    log.warning("broker_account_session_expired", account_id=account.pk)
    return account


def broker_account_delete(*, account: BrokerAccount) -> None:
    """Unlink: delete the account and its encrypted secrets."""
    account_id = account.pk
    account.delete()
    log.info("broker_account_deleted", account_id=account_id)


def broker_adapter_for(*, account: BrokerAccount, **options: Any) -> Any:
    """Build the account's broker adapter (Kite or Dhan) with its token and the shared limiter.

    A ``SessionExpired`` the adapter meets later marks the account "re-login needed".
    """
    from brokers.ratelimit import shared_limiter

    def expired(message: str) -> None:
        broker_account_mark_relogin(account=account, error=message)

    if account.vendor == BrokerAccount.Vendor.DHAN:
        from execution.brokers.dhan import DhanBroker
        from execution.services.dhan_market import dhan_security_lookup

        options.setdefault("security_lookup", dhan_security_lookup)  # our symbol -> securityId
        return DhanBroker(
            client_id=account.api_key,
            access_token=broker_account_access_token(account=account),
            account_key=str(account.pk),
            root=settings.DHAN_API_ROOT,
            timeout=settings.DHAN_TIMEOUT_SECONDS,
            limiter=shared_limiter(),
            on_session_expired=expired,
            **options,
        )
    from execution.brokers.kite import KiteBroker

    return KiteBroker(
        api_key=account.api_key,
        access_token=broker_account_access_token(account=account),
        account_key=str(account.pk),
        root=settings.KITE_API_ROOT,
        timeout=settings.KITE_TIMEOUT_SECONDS,
        limiter=shared_limiter(),
        on_session_expired=expired,
        **options,
    )


def broker_account_check(*, account: BrokerAccount) -> BrokerAccount:
    """Ask the broker for the profile: proves the session works, or records why not."""
    try:
        broker_adapter_for(account=account).profile()
    except SessionExpired:
        account.refresh_from_db()
    except BrokerError as exc:
        broker_account_record_error(account=account, error=str(exc))
    return account
