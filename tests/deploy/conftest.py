"""Fixtures of the deployment tests: a Redis database of their own, emptied around each test.

Redis db 9 (``DEPLOY_TEST_REDIS_DB``) serves the cache tests; the multi-process smoke test uses
db 10 (``DEPLOY_SMOKE_REDIS_DB``). Without a Redis server the tests skip locally and fail under
CI (``.ci/run`` starts one).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import redis

REDIS_HOST = os.environ.get("DEPLOY_TEST_REDIS_HOST", "127.0.0.1:6379")
CACHE_DB = int(os.environ.get("DEPLOY_TEST_REDIS_DB", "9"))


def redis_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must run the Redis tests (.ci/run starts redis-server)")
    pytest.skip(reason)


def flushed_redis(db: int) -> redis.Redis:
    """A client of ``db`` on the test Redis server, emptied; skips (fails in CI) without one."""
    client = redis.Redis.from_url(f"redis://{REDIS_HOST}/{db}", socket_connect_timeout=1)
    try:
        client.flushdb()
    except redis.exceptions.ConnectionError as e:
        redis_unavailable(f"no Redis on {REDIS_HOST}: {e}")
    return client


@pytest.fixture
def redis_cache(settings) -> Iterator[redis.Redis]:
    """Serve ``CACHES["default"]`` from Redis db ``CACHE_DB`` (as ``REDIS_URL`` does)."""
    client = flushed_redis(CACHE_DB)
    url = f"redis://{REDIS_HOST}/{CACHE_DB}"
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    }
    yield client
    client.flushdb()
    client.close()
