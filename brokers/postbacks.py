"""Order updates the brokers post to us: verified, stored in the inbox, applied.

- **Kite** signs each postback: ``checksum = SHA-256(order_id + order_timestamp + api_secret)``.
  The account is the one whose Kite user (``user_id``) it is and whose secret verifies it
  (several of our users may link the same Kite app). A bad checksum is refused (403) and
  logged with the order id only, never the secret or the expected value.
- **Dhan** does not sign postbacks, so the URL we ask the user to register carries a random
  per-account token (``/api/brokers/dhan/postback/<token>/``, 256 bits); we store its SHA-256
  to find the account, and the body's ``dhanClientId`` must be that account's.

Each verified update is kept (``BrokerPostback``) and applied through ``order_sync``. One for
an order we cannot match yet (a postback racing the placement's answer, or an order placed
outside the platform) stays ``pending``: ``replay_pending`` applies it once the placement's
link is written, and the reconciliation job would find the change in the order book anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

import structlog
from django.db import transaction
from django.utils import timezone

from brokers import crypto
from brokers.models import BrokerAccount, BrokerPostback
from brokers.order_sync import APPLIED, STALE, UNCHANGED, apply_report, link_for
from brokers.reports import BrokerReport, report_from_dhan, report_from_kite
from brokers.services import broker_account_api_secret

log = structlog.get_logger(__name__)
KITE_POSTBACK_PATH = "/api/brokers/kite/postback/"


class PostbackRefused(Exception):
    """Raised when a postback cannot be attributed to an account (bad checksum or token)."""


def kite_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Kite's postback checksum (hex SHA-256 of the three strings joined)."""
    return hashlib.sha256(f"{order_id}{order_timestamp}{api_secret}".encode()).hexdigest()


def kite_account_for(body: dict[str, Any]) -> BrokerAccount:
    """The Kite account whose secret signs this postback, or ``PostbackRefused``."""
    order_id = str(body.get("order_id") or "")
    stamp = str(body.get("order_timestamp") or "")
    given = str(body.get("checksum") or "")
    user_id = str(body.get("user_id") or "")
    if not (order_id and given and user_id):
        raise PostbackRefused("order_id, user_id and checksum are required")
    candidates = BrokerAccount.objects.filter(
        vendor=BrokerAccount.Vendor.KITE, broker_user_id=user_id
    )
    for account in candidates:
        expected = kite_checksum(order_id, stamp, broker_account_api_secret(account=account))
        if hmac.compare_digest(expected, given):
            return account
    log.warning("broker_postback_refused", vendor="kite", order_id=order_id[:64], reason="checksum")
    raise PostbackRefused("checksum does not match")


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def dhan_postback_token(*, account: BrokerAccount) -> str:
    """The account's postback token, made on first use (the URL the user registers at Dhan)."""
    if account.postback_token_encrypted:
        return crypto.decrypt(account.postback_token_encrypted)
    token = secrets.token_urlsafe(32)
    account.postback_token_hash = _token_hash(token)
    account.postback_token_encrypted = crypto.encrypt(token)
    account.save(update_fields=["postback_token_hash", "postback_token_encrypted", "updated_at"])
    log.info("broker_postback_token_created", account_id=account.pk)
    return token


def dhan_postback_path(*, account: BrokerAccount) -> str:
    """The path of the account's Dhan postback URL (made with its token on first use)."""
    return f"/api/brokers/dhan/postback/{dhan_postback_token(account=account)}/"


def dhan_account_for(token: str, body: dict[str, Any]) -> BrokerAccount:
    """The Dhan account whose URL token this is (and whose client the body names)."""
    account = (
        BrokerAccount.objects.filter(
            vendor=BrokerAccount.Vendor.DHAN, postback_token_hash=_token_hash(token)
        ).first()
        if token
        else None
    )
    client = str(body.get("dhanClientId") or "")
    if account is None or (client and client != account.api_key):
        log.warning("broker_postback_refused", vendor="dhan", reason="token")
        raise PostbackRefused("unknown postback token")
    return account


def receive(*, account: BrokerAccount, body: dict[str, Any]) -> BrokerPostback:
    """Store one verified postback and apply it if its order is known (``BadReport`` if the
    body is not an order update)."""
    report = report_from_kite(body) if account.vendor == "kite" else report_from_dhan(body)
    row = BrokerPostback.objects.create(
        account=account,
        broker_order_id=report.broker_order_id,
        tag=report.tag,
        broker_status=report.raw_status,
        payload=report.payload,
        outcome=BrokerPostback.Outcome.PENDING,
        received_at=timezone.now(),
    )
    outcome = _apply(account, report, source="postback")
    if outcome is None:
        log.info(
            "broker_postback_unmatched",
            account_id=account.pk,
            broker_order_id=report.broker_order_id,
            status=report.raw_status,
        )
        return row
    row.outcome, row.applied_at = outcome, timezone.now()
    row.save(update_fields=["outcome", "applied_at"])
    return row


_OUTCOMES = {
    APPLIED: BrokerPostback.Outcome.APPLIED,
    UNCHANGED: BrokerPostback.Outcome.UNCHANGED,
    STALE: BrokerPostback.Outcome.STALE,
}


def _apply(account: BrokerAccount, report: BrokerReport, *, source: str) -> str | None:
    link = link_for(account.pk, report)
    if link is None:
        return None
    result = apply_report(link=link, report=report, vendor=account.vendor, source=source)
    return _OUTCOMES.get(result.outcome)


def replay_pending(*, account: BrokerAccount, broker_order_id: str = "") -> int:
    """Apply the account's pending postbacks (of one order, or all), oldest first.

    Called when a placement's link is written and by the reconciliation; returns how many
    found their order.
    """
    with transaction.atomic():
        rows = BrokerPostback.objects.select_for_update(skip_locked=True).filter(
            account=account, outcome=BrokerPostback.Outcome.PENDING
        )
        if broker_order_id:
            rows = rows.filter(broker_order_id=broker_order_id)
        done = 0
        for row in rows.order_by("received_at", "id"):
            body = row.payload
            report = report_from_kite(body) if account.vendor == "kite" else report_from_dhan(body)
            outcome = _apply(account, report, source="postback")
            if outcome is None:
                continue
            row.outcome, row.applied_at = outcome, timezone.now()
            row.save(update_fields=["outcome", "applied_at"])
            done += 1
        return done
