"""Delayed deliveries kept in Redis, not in Celery ETAs: a sorted set per platform scored by
the time they are due. They survive a worker or Redis restart (with AOF) and never meet the
broker's visibility timeout. ``release`` claims due batches atomically by pushing their score
``lease_s`` ahead (so two releasers never take the same batch, and a releaser that dies
before enqueueing loses nothing: the batch is due again when the lease ends); the caller
enqueues each, then ``done`` removes it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis

from pipeline import keys
from pipeline.types import Delivery

__all__ = ["DueBatch", "DueStore", "MemoryDueStore", "RedisDueStore"]


@dataclass(frozen=True)
class DueBatch:
    token: str
    merchant: str
    platform: str
    deliveries: list[Delivery]


def _encode(merchant: str, platform: str, deliveries: Sequence[Delivery]) -> str:
    return json.dumps({"id": uuid.uuid4().hex, "merchant": merchant, "platform": platform,
                       "deliveries": [d.to_dict() for d in deliveries]})


def _decode(token: str) -> DueBatch:
    raw: dict[str, Any] = json.loads(token)
    return DueBatch(token, raw["merchant"], raw["platform"], [Delivery.from_dict(d) for d in raw["deliveries"]])


class DueStore(Protocol):
    def schedule(self, merchant: str, platform: str, deliveries: Sequence[Delivery], *, due_at_s: float) -> None: ...

    def release(self, platform: str, *, now_s: float, limit: int = 50) -> list[DueBatch]:
        """Claim the batches due by ``now_s``, oldest first (each comes back after a lease
        unless ``done`` is called)."""
        ...

    def done(self, platform: str, batch: DueBatch) -> None: ...

    def size(self, platform: str) -> int: ...


_CLAIM = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, token in ipairs(due) do redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[3]), token) end
return due
"""
LEASE_S = 30.0


class RedisDueStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)

    def schedule(self, merchant: str, platform: str, deliveries: Sequence[Delivery], *, due_at_s: float) -> None:
        if deliveries:
            self._redis.zadd(keys.due(platform), {_encode(merchant, platform, deliveries): due_at_s})

    def release(self, platform: str, *, now_s: float, limit: int = 50) -> list[DueBatch]:
        tokens = self._claim(keys=[keys.due(platform)], args=[now_s, limit, LEASE_S])
        return [_decode(t.decode() if isinstance(t, bytes) else t) for t in tokens]

    def done(self, platform: str, batch: DueBatch) -> None:
        self._redis.zrem(keys.due(platform), batch.token)

    def size(self, platform: str) -> int:
        return int(self._redis.zcard(keys.due(platform)))


class MemoryDueStore:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, float]] = {}

    def schedule(self, merchant: str, platform: str, deliveries: Sequence[Delivery], *, due_at_s: float) -> None:
        if deliveries:
            self._data.setdefault(platform, {})[_encode(merchant, platform, deliveries)] = due_at_s

    def release(self, platform: str, *, now_s: float, limit: int = 50) -> list[DueBatch]:
        due = sorted((score, token) for token, score in self._data.get(platform, {}).items() if score <= now_s)
        for _, token in due[:limit]:
            self._data[platform][token] = now_s + LEASE_S
        return [_decode(token) for _, token in due[:limit]]

    def done(self, platform: str, batch: DueBatch) -> None:
        self._data.get(platform, {}).pop(batch.token, None)

    def size(self, platform: str) -> int:
        return len(self._data.get(platform, {}))
