"""A window with a burst: that many requests back to back after a pause, yet never more than
the window's limit in any period (Postscript counts 15 per second, however spaced)."""

from __future__ import annotations

import random
import time

import pytest
import redis

from pipeline.clock import FrozenClock
from pipeline.ratelimit.limiter import MemoryRateLimiter, RedisRateLimiter, wait
from pipeline.ratelimit.limits import HEADROOM, Window

PS = (Window(15, 1.0, burst=3),)
INTERVAL = 1.0 / (15 * HEADROOM)


def _most_in_any_period(slots: list[float], period_s: float) -> int:
    slots = sorted(slots)
    j, most = 0, 0
    for i, s in enumerate(slots):
        while s - slots[j] >= period_s - 1e-9:  # float sums of the frozen clock
            j += 1
        most = max(most, i - j + 1)
    return most


def test_a_burst_goes_back_to_back_after_a_pause_then_paces() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    waits = [wait(limiter, clock, "s", PS) for _ in range(5)]
    # the first three at once, the fourth and fifth one interval after each other
    assert waits[:3] == pytest.approx([0, 0, 0], abs=1e-9)
    assert waits[3:] == pytest.approx([INTERVAL, INTERVAL], rel=1e-3)
    clock.advance(3 * INTERVAL)  # a pause refills the burst
    assert [wait(limiter, clock, "s", PS) for _ in range(3)] == pytest.approx([0, 0, 0], abs=1e-9)


def test_without_a_burst_every_request_waits_an_interval() -> None:
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    waits = [wait(limiter, clock, "s", (Window(15, 1.0),)) for _ in range(3)]
    assert waits == pytest.approx([0, INTERVAL, INTERVAL], rel=1e-3)


@pytest.mark.parametrize("seed", range(5))
def test_no_period_ever_holds_more_than_the_limit_and_a_saturated_scope_keeps_the_rate(seed: int) -> None:
    """Random arrivals (pauses, then floods): the slots granted never put 16 requests in any second
    (nor in the period with headroom), and under a flood the rate stays at the steady one."""
    rnd = random.Random(seed)
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    slots: list[float] = []
    for _ in range(600):
        if rnd.random() < 0.1:
            clock.advance(rnd.uniform(0, 0.5))
        r = limiter.reserve("s", PS, max_wait_s=60.0)
        assert r.granted
        slots.append(clock.monotonic() + r.wait_s)
    assert _most_in_any_period(slots, PS[0].log_period_us / 1e6) <= 15  # the period with headroom
    assert _most_in_any_period(slots, 1.0) <= 15
    flood_clock = FrozenClock()
    flood = MemoryRateLimiter(flood_clock)
    granted = [flood.reserve("f", PS, max_wait_s=1e6).wait_s for _ in range(301)]
    assert granted[-1] == pytest.approx(300 / (15 * HEADROOM), rel=0.02)  # 14.55/s, as without a burst


def test_a_burst_larger_than_the_limit_is_refused() -> None:
    with pytest.raises(ValueError):
        Window(2, 1.0, burst=3)


@pytest.mark.redis
def test_redis_limiter_bursts_and_keeps_every_period_under_the_limit(real_redis: redis.Redis) -> None:
    limiter = RedisRateLimiter(real_redis)
    t0 = time.monotonic()
    slots = []
    for _ in range(40):  # reserve ahead, without sleeping: the slot times are what is checked
        r = limiter.reserve("ps", PS, max_wait_s=10.0)
        assert r.granted
        slots.append(time.monotonic() - t0 + r.wait_s)
    # three back to back, then the pace; slack for the real time between calls on a loaded machine
    assert max(slots[:3]) < INTERVAL / 2
    assert slots[3] >= INTERVAL / 2
    # the 16th slot after any slot is at least the period (with headroom) later: never 16 in a second
    assert min(b - a for a, b in zip(slots, slots[15:], strict=False)) >= 1.0
    assert real_redis.llen(next(iter(real_redis.scan_iter("*ps*:log")))) == 15  # the log keeps the last 15


@pytest.mark.parametrize("seed", range(3))
def test_postscript_slots_never_trip_a_fixed_one_second_window_even_when_sent_late(seed: int) -> None:
    """The simulator counts Postscript's 15/s in fixed one-second windows opened by a token's first
    request. Slots from the spec's windows, each sent up to 25 ms late (a thread waking late), in
    floods and trickles: not one request is over the limit."""
    from pipeline.ratelimit.limits import windows_for
    from sandbox.sim.limiters import WindowLimiter

    rnd = random.Random(seed)
    clock = FrozenClock()
    limiter = MemoryRateLimiter(clock)
    windows = windows_for("postscript", "default")
    assert windows[0].burst > 1  # the case this guards
    sent: list[float] = []
    for _ in range(1000):
        if rnd.random() < 0.2:
            clock.advance(rnd.choice([0.01, 0.1, 0.4, 1.5]))
        r = limiter.reserve("shop", windows, max_wait_s=60.0)
        sent.append(clock.monotonic() + r.wait_s + rnd.uniform(0, 0.025))
    now = [0.0]
    remote = WindowLimiter(15, clock=lambda: now[0])
    refused = 0
    for t in sorted(sent):
        now[0] = t
        refused += not remote.allow("sk_shop")
    assert refused == 0
