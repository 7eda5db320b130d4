"""The shared limiter: one contract for the memory version (frozen clock) and the Lua one
(real Redis; fakeredis is not used for Lua we ship). Multi-window, AIMD on 429."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from pipeline.clock import FrozenClock, SystemClock
from pipeline.errors import Throttled
from pipeline.destinations.postscript.adapter import BURST
from pipeline.ratelimit.limiter import DECREASE, MemoryRateLimiter, RedisRateLimiter, Reservation, wait
from pipeline.ratelimit.limits import HEADROOM, Window, endpoint_class, windows_for

TEN = (Window(10, 1.0),)


def test_memory_limiter_spaces_requests_at_the_rate_with_headroom() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    assert limiter.acquire("s", TEN) == 0
    assert limiter.acquire("s", TEN) == pytest.approx(0.1 / HEADROOM, rel=1e-3)
    clock.advance(0.1 / HEADROOM)
    assert limiter.acquire("s", TEN) == 0
    assert limiter.acquire("other", TEN) == 0  # scopes are independent


def test_every_window_must_allow() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    burst_and_steady = (Window(10, 1.0), Window(60, 60.0))  # the steady window binds: 1/s
    assert limiter.acquire("k", burst_and_steady) == 0
    assert limiter.acquire("k", burst_and_steady) == pytest.approx(1 / HEADROOM, rel=1e-3)


def test_a_429_halves_the_rate_holds_the_scope_and_it_recovers() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    assert limiter.penalize("s", 2.0) == DECREASE
    assert limiter.acquire("s", TEN) == pytest.approx(2.0)
    clock.advance(2.0)
    assert limiter.acquire("s", TEN) == 0
    assert limiter.acquire("s", TEN) == pytest.approx(0.2 / HEADROOM, rel=0.05)  # half the rate
    for _ in range(100):
        clock.advance(1)
        limiter.acquire("s", TEN)
    clock.advance(1)
    limiter.acquire("s", TEN)
    assert limiter.acquire("s", TEN) == pytest.approx(0.1 / HEADROOM, rel=1e-3)  # back to full rate


def test_wait_paces_on_the_injected_clock_or_raises_throttled_beyond_the_bound() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    four = (Window(4, 1.0),)
    waited = [wait(limiter, clock, "s", four) for _ in range(3)]
    assert waited == pytest.approx([0, 0.25 / HEADROOM, 0.25 / HEADROOM], rel=1e-3)
    limiter.penalize("s", 5.0)
    with pytest.raises(Throttled) as info:
        wait(limiter, clock, "s", four, max_wait_s=0.5)
    assert info.value.retry_after_s == pytest.approx(5.0, rel=0.05)


def test_limits_table() -> None:
    assert windows_for("postscript", "default") == (Window(15, 1.0, burst=BURST),)
    assert [w.limit for w in windows_for("klaviyo", "events")] == [350, 3500]
    assert endpoint_class("klaviyo", "/api/profile-import") == "profiles"
    assert endpoint_class("klaviyo", "/api/profile-bulk-import-jobs") == "bulk"
    assert endpoint_class("attentive", "/v1/events/custom") == "default"
    assert windows_for("postscript", "default", rate_per_s=50) == (Window(50, 1.0, burst=BURST),)
    assert windows_for("klaviyo", "events", rate_per_s=20) == (Window(20, 1.0), Window(3500, 60.0))


def test_klaviyo_bulk_create_events_has_its_own_class() -> None:
    assert endpoint_class("klaviyo", "/api/event-bulk-create-jobs") == "events_bulk"
    assert endpoint_class("klaviyo", "/api/events") == "events"  # create_event keeps its class
    assert endpoint_class("klaviyo", "/api/events/") == "events"
    assert windows_for("klaviyo", "events_bulk") == (Window(10, 1.0), Window(150, 60.0))  # burst 10/s, steady 150/m


@pytest.mark.redis
def test_redis_limiter_matches_the_memory_contract(real_redis: redis.Redis) -> None:
    limiter = RedisRateLimiter(real_redis)
    one = (Window(1, 1.0),)
    assert limiter.acquire("s", one) == 0
    first = limiter.acquire("s", one)
    second = limiter.acquire("s", one)
    assert 0.9 < first <= 1 / HEADROOM and second <= first  # a denial does not push the next slot
    assert limiter.acquire("k", (Window(100, 1.0), Window(60, 60.0))) == 0
    assert 0.9 < limiter.acquire("k", (Window(100, 1.0), Window(60, 60.0))) <= 1 / HEADROOM
    assert limiter.penalize("p", 1.5) == pytest.approx(DECREASE)
    assert 1.3 < limiter.acquire("p", TEN) <= 1.5


@pytest.mark.redis
def test_redis_limiter_holds_the_rate_across_threads(redis_url: str) -> None:
    """8 threads with their own connections share one 50/s scope for 51 grants."""
    clock, windows = SystemClock(), (Window(50, 1.0),)
    grants: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        limiter = RedisRateLimiter(redis.Redis.from_url(redis_url))
        while True:
            wait(limiter, clock, "shared", windows)
            with lock:
                if len(grants) >= 51:
                    return
                grants.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    grants.sort()
    # 51 grants at 50/s (with headroom) need at least a second: a property of the limiter, not of the machine
    assert len(grants) == 51 and grants[-1] - grants[0] >= 0.99


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_reservations_queue_back_to_back_and_one_beyond_the_bound_takes_nothing(
        backend: str, request: pytest.FixtureRequest) -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock) if backend == "memory" else RedisRateLimiter(request.getfixturevalue("real_redis"))
    # One a second, so the Redis variant (which reads Redis's own clock) keeps a tenth of an
    # interval for the real time that passes between the calls on a loaded machine.
    one = (Window(1, 1.0),)
    i = 1.0 / HEADROOM
    got = [limiter.reserve("s", one, max_wait_s=3.5) for _ in range(5)]
    assert [r.granted for r in got] == [True, True, True, True, False]
    assert [r.wait_s for r in got] == pytest.approx([0, i, 2 * i, 3 * i, 4 * i], abs=0.1)
    if backend == "memory":
        clock.advance(4 * i)
        assert limiter.reserve("s", one, max_wait_s=0.0) == Reservation(True, 0.0)  # the refused one took nothing


def test_a_scale_multiplies_every_window_and_rate_per_s_still_replaces_the_second() -> None:
    assert windows_for("klaviyo", "events_bulk", scale=100) == (Window(1000, 1.0), Window(15000, 60.0))
    assert windows_for("klaviyo", "events", scale=2, rate_per_s=50) == (Window(50, 1.0), Window(7000, 60.0))
    assert windows_for("postscript", "default", scale=0.5) == (Window(8, 1.0, burst=BURST),)
    assert windows_for("postscript", "default", rate_per_s=2) == (Window(2, 1.0, burst=2),)  # burst ≤ limit


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_429s_during_a_hold_extend_it_but_cut_the_rate_once(backend: str, request: pytest.FixtureRequest) -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock) if backend == "memory" else RedisRateLimiter(request.getfixturevalue("real_redis"))
    assert limiter.penalize("burst", 1.0) == pytest.approx(DECREASE)
    assert limiter.penalize("burst", 1.0) == pytest.approx(DECREASE)  # in flight when the first came
    assert limiter.penalize("burst", 2.0) == pytest.approx(DECREASE)
    assert limiter.acquire("burst", TEN) > 1.5  # the longest hold counts
