"""Platform subscriber ids by customer identity, so a profile update costs one request, not two.

Identities are hashed before they become keys. A miss ("not a subscriber") is cached too,
for a shorter time, so unknown customers are not looked up on every update.
"""

from __future__ import annotations

from typing import Protocol

import redis

from pipeline import keys
from pipeline.clock import Clock
from pipeline.redistext import text

__all__ = ["ABSENT", "MemorySubscriberCache", "RedisSubscriberCache", "SubscriberCache"]

#: Cached answer meaning "the platform has no such subscriber".
ABSENT = ""


class SubscriberCache(Protocol):
    def get(self, merchant: str, platform: str, identity: str) -> str | None:
        """The cached subscriber id, ``ABSENT`` for a cached miss, None if unknown."""
        ...

    def put(self, merchant: str, platform: str, identity: str, subscriber_id: str, *, ttl_s: int) -> None: ...

    def forget(self, merchant: str, platform: str, identity: str) -> None:
        """Drop the cached answer (e.g. the id went stale)."""
        ...


class RedisSubscriberCache:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, merchant: str, platform: str, identity: str) -> str | None:
        raw = self._redis.get(keys.subscriber(merchant, platform, keys.identity_hash(identity)))
        return None if raw is None else text(raw)

    def put(self, merchant: str, platform: str, identity: str, subscriber_id: str, *, ttl_s: int) -> None:
        self._redis.set(keys.subscriber(merchant, platform, keys.identity_hash(identity)), subscriber_id, ex=ttl_s)

    def forget(self, merchant: str, platform: str, identity: str) -> None:
        self._redis.delete(keys.subscriber(merchant, platform, keys.identity_hash(identity)))


class MemorySubscriberCache:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._data: dict[str, tuple[str, float]] = {}

    def get(self, merchant: str, platform: str, identity: str) -> str | None:
        key = keys.subscriber(merchant, platform, keys.identity_hash(identity))
        hit = self._data.get(key)
        return hit[0] if hit and hit[1] > self._clock.monotonic() else None

    def put(self, merchant: str, platform: str, identity: str, subscriber_id: str, *, ttl_s: int) -> None:
        key = keys.subscriber(merchant, platform, keys.identity_hash(identity))
        self._data[key] = (subscriber_id, self._clock.monotonic() + ttl_s)

    def forget(self, merchant: str, platform: str, identity: str) -> None:
        self._data.pop(keys.subscriber(merchant, platform, keys.identity_hash(identity)), None)
