"""The process's broker rate limiter: Redis-backed when configured, else in this process."""

from __future__ import annotations

from functools import cache

from django.conf import settings

from execution.brokers.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter


@cache
def shared_limiter() -> RateLimiter:
    """Return one limiter per process; with Redis every process shares the same windows."""
    url = settings.BROKER_RATE_LIMIT_REDIS_URL
    if url:
        import redis

        return RedisRateLimiter(redis.Redis.from_url(url), prefix="algosaas:broker-rate:")
    return MemoryRateLimiter()
