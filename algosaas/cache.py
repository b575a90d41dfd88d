"""Read-through caching of hot shared reads, invalidated by namespace on write.

Each namespace (``instruments``, ``bars:<instrument id>``) has a generation token stored in the
cache; every entry's key embeds it. Invalidating a namespace replaces the token, so all of its
entries (every query string of the instrument list, say) become unreachable at once and expire
on their own: one write, no key scan. An evicted token is replaced by a fresh one, which can
only cause a miss, never a stale hit.

The cache is ``CACHES["default"]``: Redis when ``REDIS_URL`` is set (shared by every web and
worker process, so one process's write invalidates for all), local memory otherwise.
Invalidation runs at once and again after commit: a reader that re-cached the old rows while
the writing transaction was open loses them at the commit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import TypeVar

from django.core.cache import cache
from django.db import transaction

T = TypeVar("T")
PREFIX = "algosaas:hot"
DEFAULT_TIMEOUT_S = 300  # a bound on staleness should a write ever bypass the hooks
_MISSING = object()


def _token_key(namespace: str) -> str:
    return f"{PREFIX}:gen:{namespace}"


def _generation(namespace: str) -> str:
    key = _token_key(namespace)
    token = cache.get(key)
    if token is None:
        cache.add(key, uuid.uuid4().hex, timeout=None)
        token = cache.get(key)
    return token


def cached(
    namespace: str, key: str, build: Callable[[], T], *, timeout: int = DEFAULT_TIMEOUT_S
) -> T:
    """Return the cached value of ``key`` in ``namespace``, computing it with ``build`` once."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]  # any query string, a safe key
    full = f"{PREFIX}:{namespace}:{_generation(namespace)}:{digest}"
    value = cache.get(full, _MISSING)
    if value is _MISSING:
        value = build()
        cache.set(full, value, timeout=timeout)
    return value


def _renew(namespace: str) -> None:
    cache.set(_token_key(namespace), uuid.uuid4().hex, timeout=None)


def invalidate(namespace: str) -> None:
    """Drop every entry of ``namespace`` now, and again when the current transaction commits."""
    _renew(namespace)
    transaction.on_commit(lambda: _renew(namespace), robust=True)
