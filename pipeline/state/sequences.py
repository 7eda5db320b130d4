"""Highest webhook sequence number applied per record, so an older delivery of a stateful
resource (a loyalty member) never overwrites a newer one."""

from __future__ import annotations

from typing import Protocol

import redis

from pipeline import keys

__all__ = ["MemorySequenceStore", "RedisSequenceStore", "SequenceStore"]

_ADVANCE = """
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '-1')
local incoming = tonumber(ARGV[2])
if incoming <= current then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class SequenceStore(Protocol):
    def is_stale(self, merchant: str, provider: str, resource: str, record_id: str, sequence: int) -> bool:
        """Whether a sequence number as new or newer was already applied."""
        ...

    def advance(self, merchant: str, provider: str, resource: str, record_id: str, sequence: int) -> bool:
        """Record ``sequence`` if it is newer than the last one applied; False if it is stale."""
        ...


class RedisSequenceStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._script = client.register_script(_ADVANCE)

    def is_stale(self, merchant: str, provider: str, resource: str, record_id: str, sequence: int) -> bool:
        current = self._redis.hget(keys.sequence(merchant, provider, resource), record_id)
        return current is not None and sequence <= int(current)

    def advance(self, merchant: str, provider: str, resource: str, record_id: str, sequence: int) -> bool:
        return bool(self._script(keys=[keys.sequence(merchant, provider, resource)], args=[record_id, sequence]))


class MemorySequenceStore:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str, str], int] = {}

    def is_stale(self, merchant: str, provider: str, resource: str, record_id: str, sequence: int) -> bool:
        return sequence <= self._data.get((merchant, provider, resource, record_id), -1)

    def advance(self, merchant: str, provider: str, resource: str, record_id: str, sequence: int) -> bool:
        key = (merchant, provider, resource, record_id)
        if sequence <= self._data.get(key, -1):
            return False
        self._data[key] = sequence
        return True
