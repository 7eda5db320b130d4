"""Streams a provider key may not read: the scope each one lacks, for ``status``.

A key without a stream's scope (Smile: ``points_transaction:read``) is not a refused
credential: the sync skips that stream, records why here, and keeps reading the others. The
entry goes away as soon as the stream is read again (the merchant added the scope)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import redis

from pipeline import keys
from pipeline.redistext import text, text_map

__all__ = ["MemoryScopeStore", "MissingScope", "RedisScopeStore", "ScopeStore"]


@dataclass(frozen=True)
class MissingScope:
    stream: str
    scope: str
    since: datetime
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"stream": self.stream, "scope": self.scope, "since": self.since.isoformat(), "reason": self.reason}


class ScopeStore(Protocol):
    def missing(self, merchant: str, provider: str, stream: str, *, scope: str, at: datetime, reason: str) -> None:
        """Record that ``stream`` was skipped for lack of ``scope`` (keeps the first ``since``)."""
        ...

    def granted(self, merchant: str, provider: str, stream: str) -> None:
        """``stream`` was read: forget any missing scope recorded for it."""
        ...

    def get(self, merchant: str, provider: str) -> list[MissingScope]:
        """What is missing now, by stream name."""
        ...


def _decode(stream: str, raw: str) -> MissingScope:
    data = json.loads(raw)
    return MissingScope(stream, data["scope"], datetime.fromisoformat(data["since"]), data["reason"])


class RedisScopeStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def missing(self, merchant: str, provider: str, stream: str, *, scope: str, at: datetime, reason: str) -> None:
        key = keys.missing_scopes(merchant, provider)
        old = self._redis.hget(key, stream)
        since = _decode(stream, text(old)).since if old else at
        self._redis.hset(key, stream, json.dumps({"scope": scope, "since": since.isoformat(), "reason": reason}))

    def granted(self, merchant: str, provider: str, stream: str) -> None:
        self._redis.hdel(keys.missing_scopes(merchant, provider), stream)

    def get(self, merchant: str, provider: str) -> list[MissingScope]:
        raw = self._redis.hgetall(keys.missing_scopes(merchant, provider))
        return sorted((_decode(k, v) for k, v in text_map(raw).items()), key=lambda m: m.stream)


class MemoryScopeStore:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str], dict[str, MissingScope]] = {}

    def missing(self, merchant: str, provider: str, stream: str, *, scope: str, at: datetime, reason: str) -> None:
        streams = self._data.setdefault((merchant, provider), {})
        since = streams[stream].since if stream in streams else at
        streams[stream] = MissingScope(stream, scope, since, reason)

    def granted(self, merchant: str, provider: str, stream: str) -> None:
        self._data.get((merchant, provider), {}).pop(stream, None)

    def get(self, merchant: str, provider: str) -> list[MissingScope]:
        return sorted(self._data.get((merchant, provider), {}).values(), key=lambda m: m.stream)
