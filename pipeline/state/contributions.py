"""Per-customer contributions (a review, a survey response, a referral), kept by id.

Aggregate profile properties (number of reviews, average rating, latest NPS...) are computed
from the whole set, never by incrementing counters: setting an id twice (a redelivered
webhook, a REST backfill of a review already seen) or removing it twice changes nothing, so
a delivery can never count twice. ``apply`` also answers *when* (Redis server time, read in the
same transaction), so of two concurrent changes the later one always carries the later time and
wins the diff sync's last-write-wins, whichever worker sends first.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import redis

from pipeline import keys

__all__ = ["Contributions", "MemoryContributions", "RedisContributions"]


class Contributions(Protocol):
    def apply(
        self, merchant: str, provider: str, kind: str, identity: str, member: str, value: Mapping[str, Any] | None
    ) -> tuple[dict[str, dict[str, Any]], datetime]:
        """Set ``member`` to ``value`` (remove it when None); return every member and the time of
        the change, atomically. ``identity`` is a ``keys.identity_hash``, never an email."""
        ...


class RedisContributions:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def apply(
        self, merchant: str, provider: str, kind: str, identity: str, member: str, value: Mapping[str, Any] | None
    ) -> tuple[dict[str, dict[str, Any]], datetime]:
        key = keys.contributions(merchant, provider, kind, identity)
        pipe = self._redis.pipeline(transaction=True)
        if value is None:
            pipe.hdel(key, member)
        else:
            pipe.hset(key, member, json.dumps(value, default=str, sort_keys=True))
        pipe.hgetall(key)
        pipe.time()
        *_, rows, (seconds, micros) = pipe.execute()
        at = datetime.fromtimestamp(seconds, UTC) + timedelta(microseconds=micros)
        return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in rows.items()}, at


class MemoryContributions:
    """In-process; times are wall-clock, strictly increasing."""

    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = {}
        self._last = datetime.min.replace(tzinfo=UTC)

    def apply(
        self, merchant: str, provider: str, kind: str, identity: str, member: str, value: Mapping[str, Any] | None
    ) -> tuple[dict[str, dict[str, Any]], datetime]:
        members = self._data.setdefault((merchant, provider, kind, identity), {})
        if value is None:
            members.pop(member, None)
        else:
            members[member] = json.loads(json.dumps(value, default=str))
        self._last = max(datetime.now(UTC), self._last + timedelta(microseconds=1))
        return {k: dict(v) for k, v in members.items()}, self._last
