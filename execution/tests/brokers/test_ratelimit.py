"""The order rate limiter: never more than 10 a second or 200 a minute per account, none lost.

Time is a fake clock (the memory backend) or Redis's own (the shared backend, on a private db
and key prefix), so no test sleeps for real.
"""

from __future__ import annotations

import uuid

import pytest

from execution.brokers.ratelimit import (
    KITE_ORDER_LIMITS,
    Limit,
    MemoryRateLimiter,
    RedisRateLimiter,
    acquire,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def send_all(n: int, limiter, clock: Clock, key: str = "acct") -> list[float]:
    times = []
    for _ in range(n):
        acquire(limiter, key, KITE_ORDER_LIMITS, sleep=clock.sleep)
        times.append(clock.now)
    return times


def max_in_window(times: list[float], window: float) -> int:
    return max(sum(1 for t in times if start <= t < start + window) for start in times)


def test_a_burst_is_spread_to_ten_a_second_and_none_is_dropped():
    clock = Clock()
    times = send_all(35, MemoryRateLimiter(clock), clock)
    assert len(times) == 35
    assert max_in_window(times, 1.0) == 10
    assert times[9] == times[0] and times[10] == pytest.approx(times[0] + 1.0)


def test_the_minute_limit_holds_over_a_long_burst():
    clock = Clock()
    times = send_all(230, MemoryRateLimiter(clock), clock)
    assert max_in_window(times, 60.0) == 200
    assert max_in_window(times, 1.0) == 10
    assert times[200] >= times[0] + 60.0


def test_accounts_are_limited_separately():
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    a = send_all(10, limiter, clock, "a")
    b = send_all(10, limiter, clock, "b")
    assert a[-1] == b[-1] == 1000.0  # neither waited for the other


@pytest.fixture
def redis_client():
    redis = pytest.importorskip("redis")
    client = redis.Redis(host="127.0.0.1", port=6379, db=13)
    try:
        client.ping()
    except redis.exceptions.ConnectionError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    return client


def test_two_workers_share_one_window_through_redis(redis_client):
    prefix = f"test-brokers-{uuid.uuid4().hex}:"
    one = RedisRateLimiter(redis_client, prefix=prefix)
    two = RedisRateLimiter(redis_client, prefix=prefix)
    limits = [Limit(10, 5.0)]  # a long window: the test runs well inside it
    admitted = [w.try_acquire("acct", limits) == 0 for w in (one, two) * 6]
    assert admitted.count(True) == 10 and admitted[-2:] == [False, False]
    wait = two.try_acquire("acct", limits)
    assert 0 < wait <= 5.0
    assert one.try_acquire("other", limits) == 0  # another account has its own window
    for key in redis_client.scan_iter(f"{prefix}*"):
        redis_client.delete(key)
