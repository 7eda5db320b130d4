from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from workers.resilience import until_redis_answers


def test_waits_for_redis_then_succeeds() -> None:
    calls, slept = {"n": 0}, []

    def work() -> str:
        calls["n"] += 1
        if calls["n"] < 4:
            raise RedisConnectionError("refused")
        return "done"

    assert until_redis_answers(work, sleep=slept.append) == "done"
    assert slept == [1.0, 2.0, 4.0]


def test_gives_up_after_its_patience() -> None:
    slept: list[float] = []

    def work() -> None:
        raise RedisConnectionError("refused")

    with pytest.raises(RedisConnectionError):
        until_redis_answers(work, patience_s=20, sleep=slept.append)
    assert sum(slept) >= 20 and max(slept) == 10.0
