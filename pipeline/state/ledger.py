"""Markers with a time to live: "this record version was handed over", "this delivery was
acknowledged". Checked and set in batches (one round trip per page or batch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis

from pipeline.clock import Clock

__all__ = ["Ledger", "MemoryLedger", "RedisLedger"]


class Ledger(Protocol):
    def which_exist(self, names: Sequence[str]) -> list[bool]:
        """For each key, whether it is marked (and not expired)."""
        ...

    def mark(self, names: Sequence[str], *, ttl_s: int) -> None:
        """Mark every key for ``ttl_s`` seconds."""
        ...

    def claim(self, name: str, *, ttl_s: int, owner: str | None = None) -> bool:
        """Mark one key for ``ttl_s`` if it is not marked yet, or (with ``owner``) marked by the
        same owner; True if this call marked it (atomic)."""
        ...

    def release(self, name: str, *, owner: str | None = None) -> None:
        """Unmark one key (with ``owner``: only if that owner still holds it)."""
        ...


_CLAIM = """
local held = redis.call('GET', KEYS[1])
if held and held ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', tonumber(ARGV[2]))
return 1
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisLedger:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)

    def which_exist(self, names: Sequence[str]) -> list[bool]:
        if not names:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.exists(name)
        return [bool(n) for n in pipe.execute()]

    def mark(self, names: Sequence[str], *, ttl_s: int) -> None:
        if not names:
            return
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.set(name, b"1", ex=ttl_s)
        pipe.execute()

    def claim(self, name: str, *, ttl_s: int, owner: str | None = None) -> bool:
        if owner is None:
            return bool(self._redis.set(name, b"1", ex=ttl_s, nx=True))
        return bool(self._claim(keys=[name], args=[owner, ttl_s]))

    def release(self, name: str, *, owner: str | None = None) -> None:
        if owner is None:
            self._redis.delete(name)
        else:
            self._release(keys=[name], args=[owner])


class MemoryLedger:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._owner: dict[str, str] = {}

    def which_exist(self, names: Sequence[str]) -> list[bool]:
        now = self._clock.monotonic()
        return [self._expiry.get(name, -1.0) > now for name in names]

    def mark(self, names: Sequence[str], *, ttl_s: int) -> None:
        until = self._clock.monotonic() + ttl_s
        for name in names:
            self._expiry[name] = until

    def claim(self, name: str, *, ttl_s: int, owner: str | None = None) -> bool:
        if self.which_exist([name])[0] and (owner is None or self._owner.get(name) != owner):
            return False
        self.mark([name], ttl_s=ttl_s)
        self._owner[name] = owner or ""
        return True

    def release(self, name: str, *, owner: str | None = None) -> None:
        if owner is None or self._owner.get(name) == owner:
            self._expiry.pop(name, None)
            self._owner.pop(name, None)
