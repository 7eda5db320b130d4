"""What each platform last received of each customer's properties: per property, the source
time and a hash of the value. Last write wins (an update older than what was delivered is
dropped) and only changed properties are sent (``full`` resends everything)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

import redis

from pipeline import keys
from pipeline.types import Value

__all__ = ["MemoryProfileStates", "ProfilePlan", "ProfileStates", "RedisProfileStates", "plan", "value_hash"]

Entry = tuple[str, str]  # (source time ISO, value hash)


def value_hash(value: Value) -> str:
    return hashlib.sha256(json.dumps(value, default=str, sort_keys=True).encode()).hexdigest()[:16]


class ProfileStates(Protocol):
    def get(self, merchant: str, platform: str, identity: str) -> dict[str, Entry]: ...

    def put(self, merchant: str, platform: str, identity: str, entries: Mapping[str, Entry], *, ttl_s: int) -> None: ...

    def get_many(self, merchant: str, platform: str, identities: Sequence[str]) -> list[dict[str, Entry]]:
        """``get`` of each identity, in one round trip."""
        ...

    def put_many(self, merchant: str, platform: str, updates: Sequence[tuple[str, Mapping[str, Entry]]], *,
                 ttl_s: int) -> None:
        """``put`` of each (identity, entries), in one round trip."""
        ...


class ProfilePlan:
    """Which properties of an update to send, and which were left out and why."""

    def __init__(self, send: dict[str, Value], stale: list[str], unchanged: list[str], entries: dict[str, Entry]):
        self.send, self.stale, self.unchanged, self.entries = send, stale, unchanged, entries


def plan(properties: Mapping[str, Value], as_of: datetime, stored: Mapping[str, Entry], *, full: bool) -> ProfilePlan:
    send: dict[str, Value] = {}
    stale: list[str] = []
    unchanged: list[str] = []
    entries: dict[str, Entry] = {}
    for name, value in properties.items():
        digest = value_hash(value)
        previous = stored.get(name)
        if previous is not None and datetime.fromisoformat(previous[0]) > as_of:
            stale.append(name)
        elif previous is not None and previous[1] == digest and not full:
            unchanged.append(name)
        else:
            send[name] = value
            entries[name] = (as_of.isoformat(), digest)
    return ProfilePlan(send, stale, unchanged, entries)


class RedisProfileStates:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def get(self, merchant: str, platform: str, identity: str) -> dict[str, Entry]:
        return self.get_many(merchant, platform, [identity])[0]

    def put(self, merchant: str, platform: str, identity: str, entries: Mapping[str, Entry], *, ttl_s: int) -> None:
        self.put_many(merchant, platform, [(identity, entries)], ttl_s=ttl_s)

    def get_many(self, merchant: str, platform: str, identities: Sequence[str]) -> list[dict[str, Entry]]:
        pipe = self._redis.pipeline(transaction=False)
        for identity in identities:
            pipe.hgetall(keys.profile_state(merchant, platform, keys.identity_hash(identity)))
        return [{k.decode(): tuple(json.loads(v)) for k, v in raw.items()}  # type: ignore[misc]
                for raw in (pipe.execute() if identities else [])]

    def put_many(self, merchant: str, platform: str, updates: Sequence[tuple[str, Mapping[str, Entry]]], *,
                 ttl_s: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for identity, entries in updates:
            if entries:
                key = keys.profile_state(merchant, platform, keys.identity_hash(identity))
                pipe.hset(key, mapping={k: json.dumps(list(v)) for k, v in entries.items()})
                pipe.expire(key, ttl_s)
        if len(pipe):
            pipe.execute()


class MemoryProfileStates:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], dict[str, Entry]] = {}

    def get(self, merchant: str, platform: str, identity: str) -> dict[str, Entry]:
        return dict(self._data.get((merchant, platform, keys.identity_hash(identity)), {}))

    def put(self, merchant: str, platform: str, identity: str, entries: Mapping[str, Entry], *, ttl_s: int) -> None:
        self._data.setdefault((merchant, platform, keys.identity_hash(identity)), {}).update(entries)

    def get_many(self, merchant: str, platform: str, identities: Sequence[str]) -> list[dict[str, Entry]]:
        return [self.get(merchant, platform, i) for i in identities]

    def put_many(self, merchant: str, platform: str, updates: Sequence[tuple[str, Mapping[str, Entry]]], *,
                 ttl_s: int) -> None:
        for identity, entries in updates:
            self.put(merchant, platform, identity, entries, ttl_s=ttl_s)


