"""Readiness checks of the process's dependencies: PostgreSQL, and Redis when configured.

``/healthz`` (liveness) answers from the process alone, so a database outage never gets every
web process restarted at once; ``/readyz`` (readiness) names each dependency and whether it
answered, so a load balancer stops routing to a process that cannot serve.
"""

from __future__ import annotations

from functools import cache

import redis
from django.conf import settings
from django.db import connection

REDIS_TIMEOUT_S = 1.0  # a probe must answer quickly; a hung Redis is as bad as a down one


@cache
def _redis_client(url: str) -> redis.Redis:
    """One client (and connection pool) per URL for the life of the process."""
    return redis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


def database_ok() -> bool:
    """Return whether the default database answers ``SELECT 1``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:  # any failure (refused, timed out, auth) means "not ready"
        return False
    return True


def redis_ok(url: str) -> bool:
    """Return whether the Redis server at ``url`` answers ``PING``."""
    try:
        return bool(_redis_client(url).ping())
    except Exception:  # refused, timed out, auth: not ready
        return False


def readiness() -> dict[str, str]:
    """Return ``{dependency: "ok" | "unavailable"}`` for every dependency this process uses."""
    checks = {"database": "ok" if database_ok() else "unavailable"}
    if settings.REDIS_URL:
        checks["redis"] = "ok" if redis_ok(settings.REDIS_URL) else "unavailable"
    return checks
