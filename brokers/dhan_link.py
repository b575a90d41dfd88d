"""Linking a DhanHQ account: a client id and an access token the user generates on web.dhan.co.

Dhan has no redirect flow for a self-generated token: the user pastes it. The token is a JWT;
we read (without verifying: the key is Dhan's) its ``exp`` to show until when it works and
``dhanClientId`` to refuse a token pasted for another account, store it encrypted, and the
account is *Linked* until ``exp``, then *Re-login needed* (paste a fresh token).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from brokers import crypto
from brokers.models import BrokerAccount
from execution.brokers.dhan_mapping import token_claims

log = structlog.get_logger(__name__)


def _token_error(message: str) -> ValidationError:
    return ValidationError({"access_token": message})


def dhan_token_expiry(*, client_id: str, access_token: str) -> datetime:
    """Return when the token stops working, or raise ``ValidationError`` naming the field."""
    try:
        claims = token_claims(access_token)
    except ValueError as exc:
        raise _token_error("This is not a Dhan access token (a JWT with an expiry).") from exc
    owner = claims.get("dhanClientId")
    if owner is not None and str(owner) != client_id:
        raise _token_error("This token belongs to another Dhan client id.")
    expiry = datetime.fromtimestamp(claims["exp"], tz=UTC)
    if expiry <= timezone.now():
        raise _token_error("This token has already expired.")
    return expiry


def _store_token(account: BrokerAccount, access_token: str, expiry: datetime) -> None:
    account.access_token_encrypted = crypto.encrypt(access_token)
    account.status = BrokerAccount.Status.LINKED
    account.broker_user_id = account.api_key[:32]
    account.last_error = ""
    account.linked_at = timezone.now()
    account.token_expires_at = expiry


@transaction.atomic
def dhan_account_create(
    *, user: Any, client_id: str, access_token: str, label: str = ""
) -> BrokerAccount:
    """Store a new Dhan account, linked until its token's ``exp``."""
    expiry = dhan_token_expiry(client_id=client_id, access_token=access_token)
    account = BrokerAccount(
        user=user, vendor=BrokerAccount.Vendor.DHAN, label=label, api_key=client_id
    )
    account.api_secret_encrypted = ""  # nosec B105 # Dhan has no API secret
    _store_token(account, access_token, expiry)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError as exc:
        raise ValidationError(
            {"client_id": "You have already linked this Dhan client id."}
        ) from exc
    log.info("broker_account_created", account_id=account.pk, vendor="dhan")
    return account


def dhan_account_relink(*, account: BrokerAccount, access_token: str) -> BrokerAccount:
    """Replace the account's token with a fresh one (Dhan's "re-login")."""
    if account.vendor != BrokerAccount.Vendor.DHAN:
        raise _token_error("Only a Dhan account takes a pasted token.")
    expiry = dhan_token_expiry(client_id=account.api_key, access_token=access_token)
    _store_token(account, access_token, expiry)
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
    log.info("broker_account_linked", account_id=account.pk, vendor="dhan")
    return account
