"""Markers with a time to live: "this record version was handed over", "this delivery was
acknowledged". Checked and set in batches (one round trip per page or batch)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Protocol

import redis

from pipeline.clock import Clock

__all__ = ["Claim", "Ledger", "MemoryLedger", "RedisLedger"]


class Claim(enum.Enum):
    TAKEN = "taken"  # the caller holds it now
    RESUMED = "resumed"  # the caller holds it now, and held it already (an earlier run died holding it)
    BUSY = "busy"  # another owner holds it
    DONE = "done"  # its ``unless`` key is marked: nothing to claim


class Ledger(Protocol):
    def which_exist(self, names: Sequence[str]) -> list[bool]:
        """For each key, whether it is marked (and not expired)."""
        ...

    def mark(self, names: Sequence[str], *, ttl_s: int) -> None:
        """Mark every key for ``ttl_s`` seconds."""
        ...

    def claim(self, name: str, *, ttl_s: int, owner: str | None = None) -> bool:
        """Mark one key for ``ttl_s`` if it is not marked yet, or (with ``owner``) marked by the
        same owner; True if this call marked it (atomic)."""
        ...

    def release(self, name: str, *, owner: str | None = None) -> None:
        """Unmark one key (with ``owner``: only if that owner still holds it)."""
        ...

    def claim_many(
        self, names: Sequence[str], *, ttl_s: int, owner: str, unless: Sequence[str] | None = None
    ) -> list[Claim]:
        """``claim`` of each key as ``owner``, in one round trip; with ``unless`` (one key per
        name), a name whose ``unless`` key is marked is not claimed but reported DONE."""
        ...

    def release_many(self, names: Sequence[str], *, owner: str) -> None:
        """``release`` of each key held by ``owner``, in one round trip."""
        ...

    def settle(
        self,
        marks: Sequence[str],
        *,
        ttl_s: int,
        owner: str,
        release: Sequence[str] = (),
        extend: Sequence[tuple[str, str]] = (),
        extend_ttl_s: int = 0,
    ) -> list[bool]:
        """One round trip after a send: ``mark`` ``marks``, ``release_many`` ``release``, and
        for each (claim, unless) of ``extend``: if ``unless`` is marked (acknowledged elsewhere
        meanwhile) release the claim and report True, else give the claim, if ``owner`` still
        holds it, ``extend_ttl_s`` again and report False."""
        ...


_CLAIM = """
local out = {}
local n = tonumber(ARGV[3])
for i = 1, n do
  local key = KEYS[i]
  local held = redis.call('GET', key)
  if #KEYS > n and redis.call('EXISTS', KEYS[n + i]) == 1 then
    out[i] = 2
  elseif held and held ~= ARGV[1] then
    out[i] = 0
  else
    redis.call('SET', key, ARGV[1], 'EX', tonumber(ARGV[2]))
    if held then out[i] = 3 else out[i] = 1 end
  end
end
return out
"""
_SETTLE = """
local marks, releases = tonumber(ARGV[2]), tonumber(ARGV[3])
for i = 1, marks do redis.call('SET', KEYS[i], '1', 'EX', tonumber(ARGV[1])) end
for i = marks + 1, marks + releases do
  if redis.call('GET', KEYS[i]) == ARGV[4] then redis.call('DEL', KEYS[i]) end
end
local done = {}
for i = marks + releases + 1, #KEYS, 2 do
  local held = redis.call('GET', KEYS[i]) == ARGV[4]
  if redis.call('EXISTS', KEYS[i + 1]) == 1 then
    if held then redis.call('DEL', KEYS[i]) end
    done[#done + 1] = 1
  else
    if held then redis.call('EXPIRE', KEYS[i], tonumber(ARGV[5])) end
    done[#done + 1] = 0
  end
end
return done
"""
_CLAIMS = {0: Claim.BUSY, 1: Claim.TAKEN, 2: Claim.DONE, 3: Claim.RESUMED}
_RELEASE = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 0
"""


class RedisLedger:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)
        self._release = client.register_script(_RELEASE)
        self._settle = client.register_script(_SETTLE)

    def which_exist(self, names: Sequence[str]) -> list[bool]:
        if not names:
            return []
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.exists(name)
        return [bool(n) for n in pipe.execute()]

    def mark(self, names: Sequence[str], *, ttl_s: int) -> None:
        if not names:
            return
        pipe = self._redis.pipeline(transaction=False)
        for name in names:
            pipe.set(name, b"1", ex=ttl_s)
        pipe.execute()

    def claim(self, name: str, *, ttl_s: int, owner: str | None = None) -> bool:
        if owner is None:
            return bool(self._redis.set(name, b"1", ex=ttl_s, nx=True))
        return self.claim_many([name], ttl_s=ttl_s, owner=owner)[0] in (Claim.TAKEN, Claim.RESUMED)

    def release(self, name: str, *, owner: str | None = None) -> None:
        if owner is None:
            self._redis.delete(name)
        else:
            self.release_many([name], owner=owner)

    def claim_many(
        self, names: Sequence[str], *, ttl_s: int, owner: str, unless: Sequence[str] | None = None
    ) -> list[Claim]:
        if not names:
            return []
        states = self._claim(keys=[*names, *(unless or ())], args=[owner, ttl_s, len(names)])
        return [_CLAIMS[int(n)] for n in states]

    def release_many(self, names: Sequence[str], *, owner: str) -> None:
        if names:
            self._release(keys=list(names), args=[owner])

    def settle(
        self,
        marks: Sequence[str],
        *,
        ttl_s: int,
        owner: str,
        release: Sequence[str] = (),
        extend: Sequence[tuple[str, str]] = (),
        extend_ttl_s: int = 0,
    ) -> list[bool]:
        if not (marks or release or extend):
            return []
        pairs = [key for pair in extend for key in pair]
        done = self._settle(
            keys=[*marks, *release, *pairs], args=[ttl_s, len(marks), len(release), owner, extend_ttl_s or 1]
        )
        return [bool(int(d)) for d in done]


class MemoryLedger:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._owner: dict[str, str] = {}

    def which_exist(self, names: Sequence[str]) -> list[bool]:
        now = self._clock.monotonic()
        return [self._expiry.get(name, -1.0) > now for name in names]

    def mark(self, names: Sequence[str], *, ttl_s: int) -> None:
        until = self._clock.monotonic() + ttl_s
        for name in names:
            self._expiry[name] = until

    def claim(self, name: str, *, ttl_s: int, owner: str | None = None) -> bool:
        if self.which_exist([name])[0] and (owner is None or self._owner.get(name) != owner):
            return False
        self.mark([name], ttl_s=ttl_s)
        self._owner[name] = owner or ""
        return True

    def release(self, name: str, *, owner: str | None = None) -> None:
        if owner is None or self._owner.get(name) == owner:
            self._expiry.pop(name, None)
            self._owner.pop(name, None)

    def claim_many(
        self, names: Sequence[str], *, ttl_s: int, owner: str, unless: Sequence[str] | None = None
    ) -> list[Claim]:
        done = self.which_exist(unless) if unless else [False] * len(names)
        out = []
        for n, d in zip(names, done, strict=True):
            held = self.which_exist([n])[0]
            out.append(
                Claim.DONE
                if d
                else Claim.BUSY
                if not self.claim(n, ttl_s=ttl_s, owner=owner)
                else Claim.RESUMED
                if held
                else Claim.TAKEN
            )
        return out

    def release_many(self, names: Sequence[str], *, owner: str) -> None:
        for n in names:
            self.release(n, owner=owner)

    def settle(
        self,
        marks: Sequence[str],
        *,
        ttl_s: int,
        owner: str,
        release: Sequence[str] = (),
        extend: Sequence[tuple[str, str]] = (),
        extend_ttl_s: int = 0,
    ) -> list[bool]:
        self.mark(marks, ttl_s=ttl_s)
        self.release_many(release, owner=owner)
        until, done = self._clock.monotonic() + extend_ttl_s, []
        for claim, unless in extend:
            done.append(self.which_exist([unless])[0])
            if done[-1]:
                self.release(claim, owner=owner)
            elif self._owner.get(claim) == owner and self.which_exist([claim])[0]:
                self._expiry[claim] = until
        return done
