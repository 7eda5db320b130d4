"""The two-phase replay marker, on real Redis and in memory: an attempt that gives up removes
only its own claim, so a later attempt's accepted body is never lost."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from pipeline import keys
from pipeline.clock import FrozenClock
from pipeline.webhooks.replay import Begin, MemoryReplayGuard, RedisReplayGuard

BODY = b'{"resourceType": "review"}'
ID = ("okendo", "acme", "msg_slow")


def _redis_guard(real_redis: redis.Redis) -> tuple[RedisReplayGuard, Callable[[], None]]:
    # the pending marker expiring is its key vanishing
    return RedisReplayGuard(real_redis), lambda: real_redis.delete(keys.webhook_seen(*ID))


def _memory_guard() -> tuple[MemoryReplayGuard, Callable[[], None]]:
    clock = FrozenClock()
    return MemoryReplayGuard(clock), lambda: clock.advance(31)


@pytest.mark.redis
def test_a_late_abandon_keeps_the_later_attempts_claim_on_redis(real_redis: redis.Redis) -> None:
    _late_abandon_keeps_the_later_claim(*_redis_guard(real_redis))


def test_a_late_abandon_keeps_the_later_attempts_claim_in_memory() -> None:
    _late_abandon_keeps_the_later_claim(*_memory_guard())


def _late_abandon_keeps_the_later_claim(guard: RedisReplayGuard | MemoryReplayGuard, expire: Callable[[], None]) -> None:
    # attempt A claims the id, then its enqueue hangs past the pending TTL
    assert guard.begin(*ID, BODY, None, attempt="a") is Begin.NEW
    expire()
    # the sender's retry B takes the id over and is queued
    assert guard.begin(*ID, BODY, None, attempt="b") is Begin.NEW
    # A's enqueue finally fails: it gives up its claim, which is no longer the marker's
    guard.abandon(*ID, attempt="a")
    assert guard.begin(*ID, BODY, None, attempt="c") is Begin.PENDING  # B still holds the id
    stored = guard.load(*ID)
    assert stored is not None and stored.body == BODY  # B's task will find its body
    guard.confirm(*ID)
    assert guard.is_done(*ID)


@pytest.mark.redis
def test_abandon_by_the_holder_frees_the_id_on_redis(real_redis: redis.Redis) -> None:
    guard, _ = _redis_guard(real_redis)
    assert guard.begin(*ID, BODY, None, attempt="a") is Begin.NEW
    guard.abandon(*ID, attempt="a")
    assert guard.load(*ID) is None
    assert guard.begin(*ID, BODY, None, attempt="b") is Begin.NEW


@pytest.mark.redis
def test_a_processed_body_is_deleted_and_the_id_stays_done_on_redis(real_redis: redis.Redis) -> None:
    _processed_body_is_deleted(_redis_guard(real_redis)[0])


def test_a_processed_body_is_deleted_and_the_id_stays_done_in_memory() -> None:
    _processed_body_is_deleted(_memory_guard()[0])


def _processed_body_is_deleted(guard: RedisReplayGuard | MemoryReplayGuard) -> None:
    assert guard.begin(*ID, BODY, None, attempt="a") is Begin.NEW
    guard.confirm(*ID)
    guard.finish(*ID)
    # a redelivered task message finds no body and a done id: already processed, nothing to redo
    assert guard.load(*ID) is None and guard.is_done(*ID)
    assert guard.begin(*ID, BODY, None, attempt="b") is Begin.DONE


@pytest.mark.redis
def test_abandon_leaves_a_tombstone_a_later_attempt_clears_on_redis(real_redis: redis.Redis) -> None:
    _abandon_leaves_a_tombstone(_redis_guard(real_redis)[0])
    assert real_redis.hgetall(keys.webhook_body(*ID)).keys() <= {b"body", b"event"}  # body back, no tombstone


def test_abandon_leaves_a_tombstone_a_later_attempt_clears_in_memory() -> None:
    _abandon_leaves_a_tombstone(_memory_guard()[0])


def _abandon_leaves_a_tombstone(guard: RedisReplayGuard | MemoryReplayGuard) -> None:
    assert guard.begin(*ID, BODY, None, attempt="a") is Begin.NEW
    assert not guard.was_abandoned(*ID)
    guard.abandon(*ID, attempt="a")
    assert guard.load(*ID) is None and guard.was_abandoned(*ID)  # the body (personal data) is gone, the fact is not
    assert guard.begin(*ID, BODY, None, attempt="b") is Begin.NEW  # the sender's retry is taken
    assert not guard.was_abandoned(*ID)
    stored = guard.load(*ID)
    assert stored is not None and stored.body == BODY


def _load_and_confirm(guard: RedisReplayGuard | MemoryReplayGuard) -> None:
    assert guard.load_and_confirm(*ID) is None  # nothing stored: nothing confirmed
    assert not guard.is_done(*ID)
    assert guard.begin(*ID, BODY, "review/create", attempt="a") is Begin.NEW
    stored = guard.load_and_confirm(*ID)
    assert stored is not None and stored.body == BODY and stored.event == "review/create"
    assert guard.is_done(*ID)  # confirmed with the load: a later attempt is a duplicate
    assert guard.begin(*ID, BODY, None, attempt="b") is Begin.DONE
    other = ("okendo", "acme", "msg_no_event")
    assert guard.begin(*other, BODY, None, attempt="a") is Begin.NEW
    assert guard.load_and_confirm(*other) == guard.load(*other)
    assert guard.load(*other) is not None and guard.load(*other).event is None  # type: ignore[union-attr]


@pytest.mark.redis
def test_load_and_confirm_confirms_only_a_stored_body_on_redis(real_redis: redis.Redis) -> None:
    real_redis.flushdb()
    _load_and_confirm(RedisReplayGuard(real_redis))


def test_load_and_confirm_confirms_only_a_stored_body_in_memory() -> None:
    _load_and_confirm(MemoryReplayGuard(FrozenClock()))
