"""Leases (pipeline/state/leases.py), the keeper and the short webhook locks: one contract, run
against the in-memory version and against real Redis (the Lua scripts are never run on fakeredis)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import redis

from pipeline import keys
from pipeline.clock import FrozenClock
from pipeline.state.keeper import Keeper
from pipeline.state.leases import Acquired, MemoryLeases, RedisLeases
from pipeline.state.locks import LockTimeout, RedisLocks

T = 1_800_000_000.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def leases(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemoryLeases()
    return RedisLeases(request.getfixturevalue("real_redis"))


def test_one_holder_at_a_time_until_its_lease_runs_out(leases: Any) -> None:
    assert leases.acquire("sync", "m1", "a", now_s=T, ttl_s=15) is Acquired.TAKEN
    assert leases.acquire("sync", "m1", "b", now_s=T + 14.9, ttl_s=15) is Acquired.BUSY
    assert leases.acquire("sync", "m2", "b", now_s=T, ttl_s=15) is Acquired.TAKEN  # names are independent
    assert leases.acquire("balances", "m1", "b", now_s=T, ttl_s=15) is Acquired.TAKEN  # so are kinds
    assert leases.acquire("sync", "m1", "a", now_s=T + 1, ttl_s=15) is Acquired.RENEWED
    assert leases.holder("sync", "m1") == ("a", T + 16)
    assert leases.acquire("sync", "m1", "b", now_s=T + 16.5, ttl_s=15) is Acquired.TAKEN_OVER
    assert leases.holder("sync", "m1") == ("b", T + 31.5)


def test_renewal_keeps_the_lease_and_fails_once_it_was_handed_on(leases: Any) -> None:
    leases.acquire("sync", "m1", "a", now_s=T, ttl_s=15)
    for step in range(1, 6):  # renewed every 10 s for 50 s: never free for another
        assert leases.renew("sync", "m1", "a", now_s=T + 10 * step, ttl_s=15)
        assert leases.acquire("sync", "m1", "b", now_s=T + 10 * step + 5, ttl_s=15) is Acquired.BUSY
    assert leases.acquire("sync", "m1", "b", now_s=T + 66, ttl_s=15) is Acquired.TAKEN_OVER
    assert not leases.renew("sync", "m1", "a", now_s=T + 67, ttl_s=15)
    assert leases.holder("sync", "m1") == ("b", T + 81)  # the failed renewal changed nothing


def test_release_only_by_its_holder(leases: Any) -> None:
    leases.acquire("sync", "m1", "a", now_s=T, ttl_s=15)
    leases.release("sync", "m1", "b")
    assert leases.holder("sync", "m1") == ("a", T + 15)
    leases.release("sync", "m1", "a")
    assert leases.holder("sync", "m1") is None
    assert leases.acquire("sync", "m1", "b", now_s=T, ttl_s=15) is Acquired.TAKEN
    assert not leases.renew("sync", "m1", "a", now_s=T, ttl_s=15)


def test_expired_leases_are_handed_out_once_and_leave_the_set(leases: Any) -> None:
    leases.acquire("sync", "m1", "a", now_s=T, ttl_s=15)
    leases.acquire("sync", "m2", "b", now_s=T + 5, ttl_s=15)
    leases.acquire("sync", "m3", "c", now_s=T, ttl_s=15)
    leases.release("sync", "m3", "c")  # released: finished work is never resumed
    assert leases.expired("sync", now_s=T + 14) == []
    assert leases.expired("sync", now_s=T + 30) == [("m1", "a"), ("m2", "b")]
    assert leases.expired("sync", now_s=T + 30) == []
    assert leases.holder("sync", "m1") is None
    assert not leases.renew("sync", "m1", "a", now_s=T + 31, ttl_s=15)  # its holder learns it lost it


@pytest.mark.redis
def test_concurrent_reapers_hand_each_expired_lease_to_exactly_one(real_redis: redis.Redis, redis_url: str) -> None:
    setup = RedisLeases(real_redis)
    for n in range(200):
        setup.acquire("sync", f"m{n}", f"h{n}", now_s=T, ttl_s=15)
    got: list[list[tuple[str, str]]] = []

    def reap() -> None:
        client = redis.Redis.from_url(redis_url)
        mine: list[tuple[str, str]] = []
        while batch := RedisLeases(client).expired("sync", now_s=T + 20, limit=7):
            mine += batch
        got.append(mine)
        client.close()

    threads = [threading.Thread(target=reap) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [x for mine in got for x in mine]
    assert sorted(flat) == sorted((f"m{n}", f"h{n}") for n in range(200))
    assert not real_redis.exists(keys.leases("sync"), keys.lease_holders("sync"))


@pytest.mark.redis
def test_concurrent_acquirers_of_a_free_lease_leave_one_holder(real_redis: redis.Redis, redis_url: str) -> None:
    results: list[Acquired] = []
    start = threading.Barrier(8)

    def take(n: int) -> None:
        client = redis.Redis.from_url(redis_url)
        start.wait()
        results.append(RedisLeases(client).acquire("beat", "leader", f"beat-{n}", now_s=T, ttl_s=15))
        client.close()

    threads = [threading.Thread(target=take, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.value for r in results) == sorted(["taken"] + ["busy"] * 7)


def test_the_keeper_renews_while_the_block_runs_and_stops_after() -> None:
    clock = FrozenClock()
    keeper = Keeper(clock, tick_s=3600)  # its thread sleeps on the frozen clock: turns are driven here
    calls: list[int] = []
    with keeper.keep(lambda: calls.append(1), every_s=5):
        clock.advance(4)
        assert keeper.turn() == 0
        clock.advance(1)
        assert keeper.turn() == 1
        clock.advance(5)
        assert keeper.turn() == 1
    clock.advance(60)
    assert keeper.turn() == 0 and len(calls) == 2


def test_a_failing_renewal_does_not_stop_the_keeper() -> None:
    clock = FrozenClock()
    keeper = Keeper(clock, tick_s=3600)
    calls: list[str] = []

    def flaky() -> None:
        calls.append("x")
        if len(calls) == 1:
            raise redis.ConnectionError("gone")

    with keeper.keep(flaky, every_s=1):
        for _ in range(3):
            clock.advance(1)
            keeper.turn()
    assert calls == ["x", "x", "x"]


@pytest.mark.redis
def test_a_webhook_lock_outlives_its_ttl_while_held_and_frees_soon_after_its_holder_dies(
        real_redis: redis.Redis) -> None:
    locks = RedisLocks(real_redis, keeper=Keeper(tick_s=0.05))
    with locks.hold("webhook:m:okendo:members:1", ttl_s=0.6, wait_s=0.1):
        time.sleep(1.5)  # well past the TTL: the keeper renews it
        with pytest.raises(LockTimeout):
            with RedisLocks(real_redis).hold("webhook:m:okendo:members:1", ttl_s=0.6, wait_s=0.1):
                pass
    # a holder that dies (no keeper, no release) blocks the name only for its short TTL
    dead = real_redis.lock(keys.lock("webhook:m:okendo:members:2"), timeout=0.5)
    assert dead.acquire(blocking=False)
    with RedisLocks(real_redis).hold("webhook:m:okendo:members:2", ttl_s=0.6, wait_s=5):
        pass
