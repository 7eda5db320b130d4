"""The due set on real Redis (and in memory): a batch stays until it is finished; release
leases atomically (never twice at once); a holder that stops renewing loses the batch to the
next release; finish swaps a batch for its follow-ups in one step and remembers it."""

from __future__ import annotations

import threading

import pytest
import redis

from pipeline import keys
from pipeline.state.due import HANDOVER_LEASE_S, QUEUED_LEASE_S, RUN_LEASE_S, Hold, MemoryDueStore, RedisDueStore
from pipeline.types import Delivery
from tests.factories import event

pytestmark = [pytest.mark.redis]


def deliveries(n: int, start: int = 0) -> list[Delivery]:
    return [Delivery(platform="postscript", item=event(id=f"e{i}")) for i in range(start, start + n)]


def store(backend: str, client: redis.Redis) -> MemoryDueStore | RedisDueStore:
    return MemoryDueStore() if backend == "memory" else RedisDueStore(client)


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_batch_comes_back_until_it_is_finished(backend: str, real_redis: redis.Redis) -> None:
    due = store(backend, real_redis)
    due.add("acme", "postscript", deliveries(2), due_at_s=100.0, queue="bulk")
    due.add("acme", "postscript", deliveries(1, 5), due_at_s=170.0)
    assert due.add("acme", "postscript", [], due_at_s=1.0) is None
    assert due.release("postscript", now_s=99.0) == []
    (first,) = due.release("postscript", now_s=150.0)
    assert first.merchant == "acme" and first.queue == "bulk" and [d.item.id for d in first.deliveries] == ["e0", "e1"]
    assert due.release("postscript", now_s=151.0) == []  # leased: not handed out twice
    due.queued("postscript", [first.id], until_s=150.0 + QUEUED_LEASE_S)  # its message is on the broker
    assert due.release("postscript", now_s=150.0 + HANDOVER_LEASE_S + 1) == []
    again = due.release("postscript", now_s=150.0 + QUEUED_LEASE_S + 1)  # no one finished it: due again
    assert sorted(b.deliveries[0].item.id for b in again) == ["e0", "e5"]
    for b in again:
        due.finish("postscript", b.id, merchant="acme")
    assert due.size("postscript") == 0
    assert due.release("postscript", now_s=1e12) == []


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_holder_keeps_its_batch_only_while_it_renews(backend: str, real_redis: redis.Redis) -> None:
    due = store(backend, real_redis)
    batch = due.add("acme", "postscript", deliveries(3), due_at_s=0.0 + QUEUED_LEASE_S)
    assert batch is not None
    assert due.hold("postscript", [(batch.id, "task-1"), ("never-seen", "task-9")], now_s=10.0,
                    until_s=10.0 + RUN_LEASE_S) == [Hold.HELD, Hold.UNKNOWN]
    assert due.release("postscript", now_s=10.0 + RUN_LEASE_S - 1) == []  # held
    # a copy of the batch in another message is turned away while the lease runs
    assert due.hold("postscript", [(batch.id, "task-2")], now_s=15.0, until_s=15.0 + RUN_LEASE_S) == [Hold.BUSY]
    assert due.hold("postscript", [(batch.id, "task-1")], now_s=20.0, until_s=20.0 + RUN_LEASE_S) == [Hold.HELD]
    assert due.release("postscript", now_s=10.0 + RUN_LEASE_S + 1) == []  # renewed
    (lost,) = due.release("postscript", now_s=20.0 + RUN_LEASE_S + 1)  # the holder died: handed out again
    assert lost.id == batch.id and len(lost.deliveries) == 3
    t = 21.0 + RUN_LEASE_S
    assert due.hold("postscript", [(batch.id, "task-3")], now_s=t, until_s=t + RUN_LEASE_S) == [Hold.HELD]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_an_expired_lease_may_be_taken_over(backend: str, real_redis: redis.Redis) -> None:
    due = store(backend, real_redis)
    batch = due.add("acme", "postscript", deliveries(1), due_at_s=QUEUED_LEASE_S)
    assert batch is not None
    assert due.hold("postscript", [(batch.id, "task-1")], now_s=0.0, until_s=RUN_LEASE_S) == [Hold.HELD]
    # task-1's worker died; before any release, the broker redelivers a copy under another id
    assert due.hold("postscript", [(batch.id, "task-2")], now_s=RUN_LEASE_S + 1,
                    until_s=2 * RUN_LEASE_S + 1) == [Hold.HELD]


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_a_releaser_that_dies_before_publishing_loses_the_batch_for_seconds_only(backend: str,
                                                                                 real_redis: redis.Redis) -> None:
    due = store(backend, real_redis)
    due.add("acme", "postscript", deliveries(1), due_at_s=1.0)
    (taken,) = due.release("postscript", now_s=2.0)  # ... and the releaser dies before publishing
    (again,) = due.release("postscript", now_s=2.0 + HANDOVER_LEASE_S + 0.1)
    assert again.id == taken.id


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_queued_does_not_lengthen_the_lease_of_a_batch_a_worker_holds(backend: str, real_redis: redis.Redis) -> None:
    due = store(backend, real_redis)
    batch = due.add("acme", "postscript", deliveries(1), due_at_s=1.0 + HANDOVER_LEASE_S)
    assert batch is not None
    due.hold("postscript", [(batch.id, "t1")], now_s=1.0, until_s=1.0 + RUN_LEASE_S)  # taken before the publisher
    due.queued("postscript", [batch.id], until_s=1.0 + QUEUED_LEASE_S)                # confirmed its publish
    (back,) = due.release("postscript", now_s=2.0 + RUN_LEASE_S)  # the holder died: back within the run lease
    assert back.id == batch.id


@pytest.mark.parametrize("backend", ["memory", "redis"])
def test_finish_swaps_a_batch_for_its_follow_ups_and_remembers_it(backend: str, real_redis: redis.Redis) -> None:
    due = store(backend, real_redis)
    batch = due.add("acme", "postscript", deliveries(4), due_at_s=5.0)
    assert batch is not None
    due.finish("postscript", batch.id, merchant="acme", queue="deliver.postscript",
               then=[(deliveries(1, 1), 50.0), ([], 60.0), (deliveries(2, 2), 70.0)])
    assert due.size("postscript") == 2
    assert due.hold("postscript", [(batch.id, "t")], now_s=9.0, until_s=99.0) == [Hold.DONE]  # a late copy
    assert due.release("postscript", now_s=49.0) == []
    (retry,) = due.release("postscript", now_s=55.0)
    assert [d.item.id for d in retry.deliveries] == ["e1"] and retry.queue == "deliver.postscript"
    assert retry.id != batch.id
    due.queued("postscript", [retry.id], until_s=55.0 + QUEUED_LEASE_S)
    (deferred,) = due.release("postscript", now_s=75.0)
    assert [d.item.id for d in deferred.deliveries] == ["e2", "e3"]


def test_finish_is_one_transaction_and_leaves_no_body_behind(real_redis: redis.Redis) -> None:
    due = RedisDueStore(real_redis)
    batch = due.add("acme", "postscript", deliveries(2), due_at_s=5.0)
    assert batch is not None and real_redis.hexists(keys.due_bodies("postscript"), batch.id)
    due.finish("postscript", batch.id, merchant="acme")
    assert not real_redis.hexists(keys.due_bodies("postscript"), batch.id)
    assert real_redis.ttl(keys.batch_done("postscript", batch.id)) > 0


def test_an_id_without_a_body_is_dropped_not_handed_out(real_redis: redis.Redis) -> None:
    real_redis.zadd(keys.due("postscript"), {"orphan": 1.0})
    assert RedisDueStore(real_redis).release("postscript", now_s=10.0) == []
    assert real_redis.zcard(keys.due("postscript")) == 0


def test_concurrent_releasers_never_take_the_same_batch(real_redis: redis.Redis, redis_url: str) -> None:
    due = RedisDueStore(real_redis)
    for i in range(200):
        due.add("acme", "postscript", deliveries(1, i), due_at_s=1.0)
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
