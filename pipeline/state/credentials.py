"""Credential health per connection: a refused credential pauses that connection only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import redis

from pipeline import keys
from pipeline.redistext import text_map

__all__ = ["CredentialState", "CredentialStore", "MemoryCredentialStore", "RedisCredentialStore"]


@dataclass(frozen=True)
class CredentialState:
    failing_since: datetime
    last_attempt: datetime
    reason: str


class CredentialStore(Protocol):
    def get(self, merchant: str, role: str, kind: str) -> CredentialState | None:
        """The failure state, or None while the credential works."""
        ...

    def failed(self, merchant: str, role: str, kind: str, *, at: datetime, reason: str) -> None: ...

    def ok(self, merchant: str, role: str, kind: str) -> None: ...


class RedisCredentialStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, merchant: str, role: str, kind: str) -> CredentialState | None:
        raw = self._redis.hgetall(keys.credential(merchant, role, kind))
        if not raw:
            return None
        data = text_map(raw)
        return CredentialState(
            datetime.fromisoformat(data["failing_since"]), datetime.fromisoformat(data["last_attempt"]), data["reason"]
        )

    def failed(self, merchant: str, role: str, kind: str, *, at: datetime, reason: str) -> None:
        key = keys.credential(merchant, role, kind)
        self._redis.hsetnx(key, "failing_since", at.isoformat())
        self._redis.hset(key, mapping={"last_attempt": at.isoformat(), "reason": reason})

    def ok(self, merchant: str, role: str, kind: str) -> None:
        self._redis.delete(keys.credential(merchant, role, kind))


class MemoryCredentialStore:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], CredentialState] = {}

    def get(self, merchant: str, role: str, kind: str) -> CredentialState | None:
        return self._data.get((merchant, role, kind))

    def failed(self, merchant: str, role: str, kind: str, *, at: datetime, reason: str) -> None:
        old = self._data.get((merchant, role, kind))
        self._data[merchant, role, kind] = CredentialState(old.failing_since if old else at, at, reason)

    def ok(self, merchant: str, role: str, kind: str) -> None:
        self._data.pop((merchant, role, kind), None)
