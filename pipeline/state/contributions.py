"""Per-customer contributions (a review, a survey response, a referral), kept by id.

Aggregate profile properties (number of reviews, average rating, latest NPS...) are computed
from the whole set, never by incrementing counters: setting an id twice (a redelivered
webhook, a REST backfill of a review already seen) or removing it twice changes nothing, so
a delivery can never count twice.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

import redis

from pipeline import keys

__all__ = ["Contributions", "MemoryContributions", "RedisContributions"]


class Contributions(Protocol):
    def apply(self, merchant: str, provider: str, kind: str, identity: str, member: str,
              value: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        """Set ``member`` to ``value`` (remove it when None) and return every member, atomically.
        ``identity`` is an ``keys.identity_hash``, never an email."""
        ...


class RedisContributions:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def apply(self, merchant: str, provider: str, kind: str, identity: str, member: str,
              value: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        key = keys.contributions(merchant, provider, kind, identity)
        pipe = self._redis.pipeline(transaction=True)
        if value is None:
            pipe.hdel(key, member)
        else:
            pipe.hset(key, member, json.dumps(value, default=str, sort_keys=True))
        pipe.hgetall(key)
        rows = pipe.execute()[-1]
        return {(k.decode() if isinstance(k, bytes) else k): json.loads(v) for k, v in rows.items()}


class MemoryContributions:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str, str], dict[str, dict[str, Any]]] = {}

    def apply(self, merchant: str, provider: str, kind: str, identity: str, member: str,
              value: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
        members = self._data.setdefault((merchant, provider, kind, identity), {})
        if value is None:
            members.pop(member, None)
        else:
            members[member] = json.loads(json.dumps(value, default=str))
        return {k: dict(v) for k, v in members.items()}
