"""Per-customer contributions: set and remove by id, idempotent, the whole set returned."""

from __future__ import annotations

import pytest
import redis

from pipeline import keys
from pipeline.state.contributions import Contributions, MemoryContributions, RedisContributions


@pytest.fixture(params=["redis", "memory"])
def store(request: pytest.FixtureRequest, real_redis: redis.Redis) -> Contributions:
    return RedisContributions(real_redis) if request.param == "redis" else MemoryContributions()


def test_setting_or_removing_twice_changes_nothing(store: Contributions) -> None:
    who = keys.identity_hash("Jane@Example.test")

    def apply(*args: object) -> dict:
        members, _ = store.apply(*args)  # type: ignore[arg-type]
        return members

    assert apply("m", "okendo", "reviews", who, "r1", {"rating": 5}) == {"r1": {"rating": 5}}
    assert apply("m", "okendo", "reviews", who, "r1", {"rating": 5}) == {"r1": {"rating": 5}}
    assert apply("m", "okendo", "reviews", who, "r2", {"rating": 3}) == {"r1": {"rating": 5}, "r2": {"rating": 3}}
    assert apply("m", "okendo", "reviews", who, "r1", None) == {"r2": {"rating": 3}}
    assert apply("m", "okendo", "reviews", who, "r1", None) == {"r2": {"rating": 3}}
    # another customer, kind or merchant is another set
    assert apply("m", "okendo", "surveys", who, "s1", {"nps": 9}) == {"s1": {"nps": 9}}
    assert apply("other", "okendo", "reviews", who, "r9", {"rating": 1}) == {"r9": {"rating": 1}}


def test_each_change_is_later_than_the_one_before(store: Contributions) -> None:
    times = [store.apply("m", "okendo", "reviews", "who", f"r{i % 2}", {"rating": i})[1] for i in range(20)]
    assert times == sorted(times) and times[0].tzinfo is not None


def test_the_redis_key_holds_no_email(real_redis: redis.Redis) -> None:
    RedisContributions(real_redis).apply("m", "okendo", "reviews", keys.identity_hash("jane@example.test"), "r1",
                                         {"rating": 5})
    assert not [k for k in real_redis.keys("lp:contrib:*") if b"jane" in k]
