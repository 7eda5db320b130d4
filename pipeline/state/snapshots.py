"""The last seen version of records whose changes are events (tier changed, enrolled)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import redis

from pipeline import keys

__all__ = ["MemorySnapshotStore", "RedisSnapshotStore", "SnapshotStore"]


class SnapshotStore(Protocol):
    def get_many(self, merchant: str, provider: str, stream: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Known snapshots among ``ids`` (unknown ids are absent)."""
        ...

    def put_many(self, merchant: str, provider: str, stream: str, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
        ...


class RedisSnapshotStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get_many(self, merchant: str, provider: str, stream: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        raw = self._redis.hmget(keys.snapshot(merchant, provider, stream), list(ids))
        return {i: json.loads(v) for i, v in zip(ids, raw) if v is not None}

    def put_many(self, merchant: str, provider: str, stream: str, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
        if snapshots:
            self._redis.hset(keys.snapshot(merchant, provider, stream),
                             mapping={i: json.dumps(s, default=str, sort_keys=True) for i, s in snapshots.items()})


class MemorySnapshotStore:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    def get_many(self, merchant: str, provider: str, stream: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self._data[merchant, provider, stream, i] for i in ids if (merchant, provider, stream, i) in self._data}

    def put_many(self, merchant: str, provider: str, stream: str, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
        for i, s in snapshots.items():
            self._data[merchant, provider, stream, i] = json.loads(json.dumps(s, default=str))
