"""The last seen version of records whose changes are events (tier changed, enrolled)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

import redis

from pipeline import keys

__all__ = ["MemorySnapshotStore", "RedisSnapshotStore", "SnapshotStore"]


class SnapshotStore(Protocol):
    def get_many(self, merchant: str, provider: str, stream: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Known snapshots among ``ids`` (unknown ids are absent)."""
        ...

    def put_many(
        self, merchant: str, provider: str, stream: str, snapshots: Mapping[str, Mapping[str, Any]]
    ) -> None: ...

    def scan(
        self, merchant: str, provider: str, stream: str, *, cursor: str | None, count: int
    ) -> tuple[dict[str, dict[str, Any]], str | None]:
        """About ``count`` snapshots from ``cursor`` (None: the start) and the next cursor
        (None: done). Every snapshot present for the whole scan is returned at least once."""
        ...


class RedisSnapshotStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get_many(self, merchant: str, provider: str, stream: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not ids:
            return {}
        raw = self._redis.hmget(keys.snapshot(merchant, provider, stream), list(ids))
        return {i: json.loads(v) for i, v in zip(ids, raw, strict=True) if v is not None}

    def put_many(self, merchant: str, provider: str, stream: str, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
        if snapshots:
            self._redis.hset(
                keys.snapshot(merchant, provider, stream),
                mapping={i: json.dumps(s, default=str, sort_keys=True) for i, s in snapshots.items()},
            )

    def scan(
        self, merchant: str, provider: str, stream: str, *, cursor: str | None, count: int
    ) -> tuple[dict[str, dict[str, Any]], str | None]:
        next_cursor, page = self._redis.hscan(keys.snapshot(merchant, provider, stream), int(cursor or 0), count=count)
        found = cast("dict[bytes, bytes]", page)  # fields and values: HSCAN without NOVALUES
        rows = {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in found.items()}
        return rows, (str(next_cursor) if int(next_cursor) else None)


class MemorySnapshotStore:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    def get_many(self, merchant: str, provider: str, stream: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {
            i: self._data[merchant, provider, stream, i] for i in ids if (merchant, provider, stream, i) in self._data
        }

    def put_many(self, merchant: str, provider: str, stream: str, snapshots: Mapping[str, Mapping[str, Any]]) -> None:
        for i, s in snapshots.items():
            self._data[merchant, provider, stream, i] = json.loads(json.dumps(s, default=str))

    def scan(
        self, merchant: str, provider: str, stream: str, *, cursor: str | None, count: int
    ) -> tuple[dict[str, dict[str, Any]], str | None]:
        ids = sorted(i for (m, p, s, i) in self._data if (m, p, s) == (merchant, provider, stream))
        start = int(cursor or 0)
        chunk = ids[start : start + count]
        nxt = start + count
        return ({i: self._data[merchant, provider, stream, i] for i in chunk}, str(nxt) if nxt < len(ids) else None)
