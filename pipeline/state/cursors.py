"""Incremental-sync state per (merchant, provider, stream), checkpointed after every page."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import redis

from pipeline import keys

__all__ = ["CursorState", "CursorStore", "MemoryCursorStore", "RedisCursorStore", "dump_state", "load_state"]


@dataclass(frozen=True, kw_only=True)
class CursorState:
    """Where a stream's sync stands.

    Args:
        watermark: ISO time; every record updated before it was handed to delivery.
        window_start: ISO lower bound of the sync in progress ("" for a full sync, None when idle).
        page_cursor: provider cursor of the next page of the sync in progress.
        max_seen: greatest ``updated_at`` handed over so far in the sync in progress.
        last_success_at: when a full window last completed.
    """

    watermark: str | None = None
    window_start: str | None = None
    page_cursor: str | None = None
    max_seen: str | None = None
    last_success_at: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.window_start is not None


class CursorStore(Protocol):
    def get(self, merchant: str, provider: str, stream: str) -> CursorState: ...

    def put(self, merchant: str, provider: str, stream: str, state: CursorState) -> None: ...


def dump_state(state: CursorState) -> str:
    """The stored form (JSON) of a cursor state."""
    return json.dumps(asdict(state), sort_keys=True)


def load_state(raw: Any) -> CursorState:
    """A stored cursor state (the empty state if there is none)."""
    return CursorState(**json.loads(raw)) if raw else CursorState()


_dump, _load = dump_state, load_state


class RedisCursorStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, merchant: str, provider: str, stream: str) -> CursorState:
        return _load(self._redis.get(keys.cursor(merchant, provider, stream)))

    def put(self, merchant: str, provider: str, stream: str, state: CursorState) -> None:
        self._redis.set(keys.cursor(merchant, provider, stream), _dump(state))


class MemoryCursorStore:
    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def get(self, merchant: str, provider: str, stream: str) -> CursorState:
        return _load(self._data.get(keys.cursor(merchant, provider, stream)))

    def put(self, merchant: str, provider: str, stream: str, state: CursorState) -> None:
        self._data[keys.cursor(merchant, provider, stream)] = _dump(state)
