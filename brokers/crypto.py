"""Broker secrets encrypted at rest with Fernet; several keys at once for rotation (MultiFernet).

``BROKER_SECRET_KEYS`` lists Fernet keys, newest first: the first encrypts, all of them decrypt,
and ``rotate`` re-encrypts a token under the first. Nothing here logs or returns plain text
except ``decrypt``, whose only callers build a broker client with it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """Raised when no configured key decrypts a stored secret (a key was removed too early)."""


def _fernet() -> MultiFernet:
    keys = list(settings.BROKER_SECRET_KEYS)
    if not keys:
        digest = hashlib.sha256(b"algosaas.brokers:" + settings.SECRET_KEY.encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def encrypt(plain: str) -> str:
    """Return ``plain`` encrypted under the newest key ("" stays "": nothing to hide)."""
    return _fernet().encrypt(plain.encode()).decode() if plain else ""


def decrypt(token: str) -> str:
    """Return the plain text of a stored secret."""
    if not token:
        return ""
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretUnreadable("no configured key decrypts this secret") from exc


def rotate(token: str) -> str:
    """Return ``token`` re-encrypted under the newest key."""
    return _fernet().rotate(token.encode()).decode() if token else ""
