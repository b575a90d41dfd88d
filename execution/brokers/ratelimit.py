"""Client-side rate limits per broker account, shared by every process when Redis is configured.

Brokers publish order-rate limits (Kite: 10 orders a second and 200 a minute per account; SEBI's
retail algo framework makes "never more than 10 a second" the platform's duty). A fixed window
would let 20 orders through across a second boundary, so each limit is a *sliding* window: an
order is admitted only if fewer than ``limit`` orders were admitted in the last ``window``
seconds. ``acquire`` blocks (sleeps) until the order fits; it never drops one.

Two backends with one interface: ``MemoryRateLimiter`` (one process: tests, a single worker) and
``RedisRateLimiter`` (a sorted set per key and window, updated by one Lua script so two workers
cannot both take the last slot). Pure Python; the Django side chooses and builds one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``count`` events in any ``window`` seconds."""

    count: int
    window: float


KITE_ORDER_LIMITS: tuple[Limit, ...] = (Limit(10, 1.0), Limit(200, 60.0))
# DhanHQ v2: 25 orders a second, 250 a minute, 1000 an hour, 7000 a day per account.
DHAN_ORDER_LIMITS: tuple[Limit, ...] = (
    Limit(25, 1.0),
    Limit(250, 60.0),
    Limit(1000, 3600.0),
    Limit(7000, 86400.0),
)
# DhanHQ: at most 25 modifications of one order (keyed by the order; refused, not waited for).
DHAN_MODIFY_LIMIT: tuple[Limit, ...] = (Limit(25, 86400.0),)


class RateLimiter(Protocol):
    def try_acquire(self, key: str, limits: Sequence[Limit]) -> float:
        """Take a slot now and return 0, or take nothing and return the seconds to wait."""
        ...


def acquire(
    limiter: RateLimiter,
    key: str,
    limits: Sequence[Limit],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> float:
    """Block until ``key`` may send one more request; return the total time waited."""
    waited = 0.0
    while (delay := limiter.try_acquire(key, limits)) > 0:
        sleep(delay)
        waited += delay
    return waited


class MemoryRateLimiter:
    """Sliding windows in this process's memory (thread-safe)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._events: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def try_acquire(self, key: str, limits: Sequence[Limit]) -> float:
        with self._lock:
            now = self._clock()
            events = self._events[key]
            longest = max(limit.window for limit in limits)
            while events and events[0] <= now - longest:
                events.popleft()
            delay = 0.0
            for limit in limits:
                recent = [t for t in events if t > now - limit.window]
                if len(recent) >= limit.count:
                    # The slot frees when the oldest event that fills the window leaves it.
                    delay = max(delay, recent[-limit.count] + limit.window - now)
            if delay > 0:
                return delay
            events.append(now)
            return 0.0


# KEYS: one sorted set per limit. ARGV: now, member, then (count, window) per key.
# Returns 0 (admitted, the member is added to every set) or the milliseconds to wait.
_LUA = """
local now = tonumber(ARGV[1])
local wait = 0
for i, key in ipairs(KEYS) do
  local count = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  if redis.call('ZCARD', key) >= count then
    local oldest = redis.call('ZRANGE', key, -count, -count, 'WITHSCORES')
    local free_at = tonumber(oldest[2]) + window
    if free_at - now > wait then wait = free_at - now end
  end
end
if wait > 0 then return wait end
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 + 2 * i])
  redis.call('ZADD', key, now, ARGV[2])
  redis.call('PEXPIRE', key, window + 1000)
end
return 0
"""


class RedisRateLimiter:
    """Sliding windows in Redis, shared by every worker (times from the Redis server's clock)."""

    def __init__(self, client: Any, *, prefix: str = "algosaas:ratelimit:"):
        self._client = client
        self._prefix = prefix
        self._script = client.register_script(_LUA)

    def try_acquire(self, key: str, limits: Sequence[Limit]) -> float:
        seconds, micros = self._client.time()
        now_ms = seconds * 1000 + micros // 1000
        keys = [f"{self._prefix}{key}:{limit.count}/{limit.window:g}" for limit in limits]
        args: list[Any] = [now_ms, f"{now_ms}:{uuid.uuid4().hex}"]
        for limit in limits:
            args += [limit.count, int(limit.window * 1000)]
        wait_ms = int(self._script(keys=keys, args=args))
        return wait_ms / 1000.0
