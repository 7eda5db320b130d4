"""GCRA limiter: the memory version on a frozen clock, the Lua version on real Redis
(fakeredis is not used for shipped Lua)."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from pipeline.clock import FrozenClock, SystemClock
from pipeline.ratelimit.limiter import MemoryRateLimiter, RedisRateLimiter, wait


def test_memory_limiter_spaces_requests_at_the_rate() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    assert limiter.acquire("s", rate_per_s=10) == 0
    assert limiter.acquire("s", rate_per_s=10) == pytest.approx(0.1)
    clock.advance(0.1)
    assert limiter.acquire("s", rate_per_s=10) == 0
    assert limiter.acquire("other", rate_per_s=10) == 0  # scopes are independent


def test_memory_limiter_allows_a_burst_then_the_rate() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    assert [limiter.acquire("s", rate_per_s=5, burst=3) for _ in range(3)] == [0, 0, 0]
    assert limiter.acquire("s", rate_per_s=5, burst=3) == pytest.approx(0.2)


def test_wait_sleeps_on_the_injected_clock() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    waited = [wait(limiter, clock, "s", rate_per_s=4) for _ in range(5)]
    assert waited == pytest.approx([0, 0.25, 0.25, 0.25, 0.25])


@pytest.mark.redis
def test_redis_limiter_denies_without_recording(real_redis: redis.Redis) -> None:
    limiter = RedisRateLimiter(real_redis)
    assert limiter.acquire("s", rate_per_s=1) == 0
    first = limiter.acquire("s", rate_per_s=1)
    second = limiter.acquire("s", rate_per_s=1)
    assert 0.9 < first <= 1.0 and 0.9 < second <= first  # a denial does not push the next slot further


@pytest.mark.redis
def test_redis_limiter_holds_the_rate_across_threads(redis_url: str) -> None:
    """8 threads with their own connections share one 50/s scope for 1 s of grants."""
    rate, clock = 50.0, SystemClock()
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
        while True:
            wait(limiter, clock, "shared", rate_per_s=rate)
            now = time.monotonic()
            with lock:
                if len(grants) >= 51:
                    return
                grants.append(now)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    grants.sort()
    span = grants[-1] - grants[0]
    # 51 grants at 50/s need 1 s; the count is the assertion, not the timing of the machine
    assert len(grants) == 51 and span >= 0.95
