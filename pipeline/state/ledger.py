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

    def claim(self, name: str, *, ttl_s: int) -> bool:
        """Mark one key if it is not marked yet; True if this call marked it (atomic)."""
        ...

    def release(self, name: str) -> None:
        """Unmark one key."""
        ...


class RedisLedger:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

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

    def claim(self, name: str, *, ttl_s: int) -> bool:
        return bool(self._redis.set(name, b"1", ex=ttl_s, nx=True))

    def release(self, name: str) -> None:
        self._redis.delete(name)


class MemoryLedger:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}

    def which_exist(self, names: Sequence[str]) -> list[bool]:
        now = self._clock.monotonic()
        return [self._expiry.get(name, -1.0) > now for name in names]

    def mark(self, names: Sequence[str], *, ttl_s: int) -> None:
        until = self._clock.monotonic() + ttl_s
        for name in names:
            self._expiry[name] = until

    def claim(self, name: str, *, ttl_s: int) -> bool:
        if self.which_exist([name])[0]:
            return False
        self.mark([name], ttl_s=ttl_s)
        return True

    def release(self, name: str) -> None:
        self._expiry.pop(name, None)
