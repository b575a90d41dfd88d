"""Webhook signatures and the URL guard, in plain Python (no Django) so receivers can copy them.

The header is ``X-Algosaas-Signature: t=<unix seconds>,v1=<hex>`` where the hex is
HMAC-SHA256 keyed with the endpoint's secret over ``f"{t}.".encode() + body`` (the raw bytes).
Signing the timestamp with the body lets a receiver refuse replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import socket
import time
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Algosaas-Signature"
TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Return the header value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(
    secret: str, header: str, body: bytes, *, now: float | None = None, tolerance: int = 300
) -> bool:
    """The receiver's check: a valid v1 signature made within ``tolerance`` seconds."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - ts) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class UrlRefused(ValueError):
    """A webhook URL we will not call (scheme, or an internal address in production)."""


def check_url(url: str, *, allow_private: bool) -> None:
    """Refuse non-http(s) URLs and, unless ``allow_private``, hosts resolving to internal addresses.

    Every address the name resolves to is checked, so a public name pointing at 127.0.0.1 or
    the cloud metadata address (169.254.169.254) is refused as well.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("only http and https URLs are allowed")
    if not parts.hostname:
        raise UrlRefused("the URL has no host")
    if parts.username or parts.password:
        raise UrlRefused("credentials in the URL are not allowed; use the signing secret")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UrlRefused("the host does not resolve") from exc
    for info in infos:
        address = ipaddress.ip_address(info[4][0])
        if not address.is_global:
            raise UrlRefused("the host resolves to a private or loopback address")
