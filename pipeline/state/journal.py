"""Append-only, capped journals of JSON entries: quarantined records, skipped deliveries,
dead letters. Redis streams in production; lists in memory for tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol, cast

import redis

from pipeline.clock import Clock

__all__ = ["Journal", "MemoryJournal", "RedisJournal"]

#: Entries kept per journal key; older ones are trimmed (approximately, for speed).
DEFAULT_MAXLEN = 100_000


class Journal(Protocol):
    def append(self, key: str, entry: Mapping[str, Any]) -> str:
        """Append one entry; returns its id (ordered by time)."""
        ...

    def read(self, key: str, *, count: int = 100, after: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``count`` entries, oldest first, strictly after the id ``after``."""
        ...

    def delete(self, key: str, entry_id: str) -> bool: ...

    def length(self, key: str) -> int: ...


class RedisJournal:
    def __init__(self, client: redis.Redis, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self._redis = client
        self._maxlen = maxlen

    def append(self, key: str, entry: Mapping[str, Any]) -> str:
        entry_id = self._redis.xadd(
            key, {"json": json.dumps(entry, default=str)}, maxlen=self._maxlen, approximate=True
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def read(self, key: str, *, count: int = 100, after: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        start = f"({after}" if after else "-"
        # a stream this project writes: every entry has an id and fields (redis-py allows nil for XAUTOCLAIM)
        rows = cast("list[tuple[bytes, dict[bytes, bytes]]]", self._redis.xrange(key, min=start, max="+", count=count))
        return [(rid.decode() if isinstance(rid, bytes) else rid, json.loads(fields[b"json"])) for rid, fields in rows]

    def delete(self, key: str, entry_id: str) -> bool:
        return bool(self._redis.xdel(key, entry_id))

    def length(self, key: str) -> int:
        return int(self._redis.xlen(key))


class MemoryJournal:
    def __init__(self, clock: Clock, *, maxlen: int = DEFAULT_MAXLEN) -> None:
        self._clock = clock
        self._maxlen = maxlen
        self._data: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        self._seq = 0

    def append(self, key: str, entry: Mapping[str, Any]) -> str:
        self._seq += 1
        entry_id = f"{int(self._clock.now().timestamp() * 1000)}-{self._seq}"
        rows = self._data.setdefault(key, [])
        rows.append((entry_id, json.loads(json.dumps(entry, default=str))))
        del rows[: max(0, len(rows) - self._maxlen)]
        return entry_id

    def read(self, key: str, *, count: int = 100, after: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        rows = self._data.get(key, [])
        if after is not None:
            ids = [rid for rid, _ in rows]
            rows = rows[ids.index(after) + 1 :] if after in ids else [r for r in rows if _later(r[0], after)]
        return rows[:count]

    def delete(self, key: str, entry_id: str) -> bool:
        rows = self._data.get(key, [])
        before = len(rows)
        rows[:] = [r for r in rows if r[0] != entry_id]
        return len(rows) < before

    def length(self, key: str) -> int:
        return len(self._data.get(key, []))


def _later(a: str, b: str) -> bool:
    ams, aseq = (int(x) for x in a.split("-"))
    bms, bseq = (int(x) for x in b.split("-"))
    return (ams, aseq) > (bms, bseq)
