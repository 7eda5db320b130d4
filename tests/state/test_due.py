"""The due set on real Redis: release claims atomically (never twice at once), and a batch
whose releaser died comes back after its lease."""

from __future__ import annotations

import threading

import pytest
import redis

from pipeline.state.due import LEASE_S, MemoryDueStore, RedisDueStore
from pipeline.types import Delivery
from tests.factories import event

pytestmark = [pytest.mark.redis]


def deliveries(n: int, start: int = 0) -> list[Delivery]:
    return [Delivery(platform="postscript", item=event(id=f"e{i}")) for i in range(start, start + n)]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_due_batches_come_back_when_due_and_once_done_never(backend: str, real_redis: redis.Redis) -> None:
    due = MemoryDueStore() if backend == "memory" else RedisDueStore(real_redis)
    due.schedule("acme", "postscript", deliveries(2), due_at_s=100.0)
    due.schedule("acme", "postscript", deliveries(1, 5), due_at_s=170.0)
    assert due.release("postscript", now_s=99.0) == []
    (first,) = due.release("postscript", now_s=150.0)
    assert first.merchant == "acme" and [d.item.id for d in first.deliveries] == ["e0", "e1"]
    assert due.release("postscript", now_s=151.0) == []  # claimed: not handed out twice
    again = due.release("postscript", now_s=150.0 + LEASE_S + 1)  # the releaser died: it is due again
    assert sorted(b.deliveries[0].item.id for b in again) == ["e0", "e5"]
    for b in again:
        due.done("postscript", b)
    assert due.size("postscript") == 0


def test_concurrent_releasers_never_take_the_same_batch(real_redis: redis.Redis, redis_url: str) -> None:
    due = RedisDueStore(real_redis)
    for i in range(200):
        due.schedule("acme", "postscript", deliveries(1, i), due_at_s=1.0)
    taken: list[str] = []
    lock = threading.Lock()

    def releaser() -> None:
        mine = RedisDueStore(redis.Redis.from_url(redis_url))
        while batches := mine.release("postscript", now_s=10.0, limit=7):
            with lock:
                taken.extend(b.deliveries[0].item.id for b in batches)

    threads = [threading.Thread(target=releaser) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert sorted(taken) == sorted(f"e{i}" for i in range(200))  # each exactly once
