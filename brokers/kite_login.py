"""Kite Connect's login redirect flow, on our side.

1. ``kite_login_start`` signs a short-lived state (account, user, a nonce also kept in the
   user's session) and returns Kite's login URL: ``/connect/login?api_key=…&v=3`` with the state
   in ``redirect_params`` (Kite sends those back on the redirect).
2. Kite redirects the browser to our callback with ``request_token`` and the state.
3. ``kite_login_complete`` checks the state against the session (so nobody can make a victim's
   browser finish a login into *their* account), exchanges the token through the SDK's
   ``generate_session`` (``POST /session/token`` with SHA-256(api_key + request_token +
   api_secret)) and stores the access token encrypted.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.utils import timezone
from kiteconnect import KiteConnect

from brokers.models import BrokerAccount
from brokers.services import (
    BrokerLoginFailed,
    broker_account_api_secret,
    broker_account_link,
    broker_account_record_error,
)
from execution.brokers.kite_mapping import translate_error

STATE_SALT = "brokers.kite.login"
STATE_MAX_AGE = 15 * 60  # seconds between leaving for Kite and coming back
SESSION_KEY = "broker_login_nonces"


def kite_login_start(*, account: BrokerAccount, session: Any) -> str:
    """Return the Kite login URL for ``account``; remember the nonce in ``session``."""
    nonce = secrets.token_urlsafe(16)
    nonces = session.get(SESSION_KEY, {})
    nonces[nonce] = account.pk
    session[SESSION_KEY] = dict(list(nonces.items())[-5:])  # a few tabs at most
    state = signing.dumps({"a": account.pk, "u": account.user_id, "n": nonce}, salt=STATE_SALT)
    query = {"api_key": account.api_key, "v": "3", "redirect_params": urlencode({"state": state})}
    return f"{settings.KITE_LOGIN_URL}?{urlencode(query)}"


def kite_login_account(*, state: str, user: Any, session: Any) -> BrokerAccount:
    """Return the account a callback's state names, if this user's session started it.

    ``BrokerLoginFailed`` for a forged, expired, replayed or someone else's state.
    """
    try:
        data = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.BadSignature as exc:  # SignatureExpired is a subclass
        raise BrokerLoginFailed("The login link is invalid or has expired; start again.") from exc
    nonces = session.get(SESSION_KEY, {})
    if data.get("u") != user.pk or nonces.get(data.get("n")) != data.get("a"):
        raise BrokerLoginFailed("This login was not started from your session; start again.")
    nonces.pop(data["n"])
    session[SESSION_KEY] = nonces
    account = BrokerAccount.objects.filter(pk=data["a"], user=user).first()
    if account is None:
        raise BrokerLoginFailed("That broker account no longer exists.")
    return account


def kite_login_complete(*, account: BrokerAccount, request_token: str) -> BrokerAccount:
    """Exchange ``request_token`` for an access token and store it; record any refusal."""
    kite = KiteConnect(
        api_key=account.api_key,
        root=settings.KITE_API_ROOT,
        timeout=settings.KITE_TIMEOUT_SECONDS,
    )
    try:
        session = kite.generate_session(
            request_token, api_secret=broker_account_api_secret(account=account)
        )
    except Exception as exc:  # the SDK's and the transport's errors, translated
        err = translate_error(exc)
        broker_account_record_error(account=account, error=f"Login failed: {err}")
        raise BrokerLoginFailed(f"Kite refused the login: {err}") from exc
    return broker_account_link(
        account=account,
        access_token=session["access_token"],
        broker_user_id=str(session.get("user_id") or ""),
        login_at=timezone.now(),
    )
