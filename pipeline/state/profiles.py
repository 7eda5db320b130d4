"""What each platform last received of each customer's properties: per property, the source
time and a hash of the value. Last write wins (an update older than what was delivered is
dropped) and only changed properties are sent (``full`` resends everything)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
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

    def put_many(
        self, merchant: str, platform: str, updates: Sequence[tuple[str, Mapping[str, Entry]]], *, ttl_s: int
    ) -> None:
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


def _utc(at: str) -> str:
    """A source time in one fixed UTC form, so that text order is time order (compared in Lua)."""
    return datetime.fromisoformat(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


#: per property (ARGV: ttl, then name, UTC time, entry JSON [time, hash, UTC time]): write
#: unless the stored entry is later
_PUT_NEWER = """
for i = 2, #ARGV, 3 do
  local stored = redis.call('HGET', KEYS[1], ARGV[i])
  if not stored or (cjson.decode(stored)[3] or '') <= ARGV[i + 1] then
    redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 2])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


class RedisProfileStates:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._put_newer = client.register_script(_PUT_NEWER)

    def get(self, merchant: str, platform: str, identity: str) -> dict[str, Entry]:
        return self.get_many(merchant, platform, [identity])[0]

    def put(self, merchant: str, platform: str, identity: str, entries: Mapping[str, Entry], *, ttl_s: int) -> None:
        self.put_many(merchant, platform, [(identity, entries)], ttl_s=ttl_s)

    def get_many(self, merchant: str, platform: str, identities: Sequence[str]) -> list[dict[str, Entry]]:
        pipe = self._redis.pipeline(transaction=False)
        for identity in identities:
            pipe.hgetall(keys.profile_state(merchant, platform, keys.identity_hash(identity)))
        return [
            {k.decode(): tuple(json.loads(v)[:2]) for k, v in raw.items()}
            for raw in (pipe.execute() if identities else [])
        ]

    def put_many(
        self, merchant: str, platform: str, updates: Sequence[tuple[str, Mapping[str, Entry]]], *, ttl_s: int
    ) -> None:
        """Keeps, per property, the entry with the later source time: two workers that sent
        updates of one customer concurrently can record them in either order."""
        pipe = self._redis.pipeline(transaction=False)
        for identity, entries in updates:
            if entries:
                key = keys.profile_state(merchant, platform, keys.identity_hash(identity))
                args: list[str] = [str(ttl_s)]
                for name, (at, digest) in entries.items():
                    args += [name, _utc(at), json.dumps([at, digest, _utc(at)])]
                self._put_newer(keys=[key], args=args, client=pipe)
        if len(pipe):
            pipe.execute()


class MemoryProfileStates:
    def __init__(self) -> None:
        self._data: dict[tuple[str, str, str], dict[str, Entry]] = {}

    def get(self, merchant: str, platform: str, identity: str) -> dict[str, Entry]:
        return dict(self._data.get((merchant, platform, keys.identity_hash(identity)), {}))

    def put(self, merchant: str, platform: str, identity: str, entries: Mapping[str, Entry], *, ttl_s: int) -> None:
        stored = self._data.setdefault((merchant, platform, keys.identity_hash(identity)), {})
        for name, entry in entries.items():
            if name not in stored or _utc(stored[name][0]) <= _utc(entry[0]):
                stored[name] = entry

    def get_many(self, merchant: str, platform: str, identities: Sequence[str]) -> list[dict[str, Entry]]:
        return [self.get(merchant, platform, i) for i in identities]

    def put_many(
        self, merchant: str, platform: str, updates: Sequence[tuple[str, Mapping[str, Entry]]], *, ttl_s: int
    ) -> None:
        for identity, entries in updates:
            self.put(merchant, platform, identity, entries, ttl_s=ttl_s)
