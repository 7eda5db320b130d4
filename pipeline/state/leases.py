"""Leases on long-running work whose holder can die (a merchant's sync, its daily balance sync).

A lease is a name in a sorted set of its kind, scored by when it runs out, with its holder in a
hash. The holder renews it (after every page, and a keeper thread renews it meanwhile); when the
holder stops renewing (SIGKILL, a lost host), the lease runs out within ``ttl_s``. Unlike a key
with a TTL, a lease that ran out is still there to be seen: ``expired`` hands each one, once, to
a caller that resumes the work (workers/dispatch.py enqueues the sync again), so a killed sync
is resumed within seconds instead of waiting for its next slot.

Time is the caller's wall clock (seconds), as in pipeline/state/due.py: hosts keep it by NTP,
and a lease is many seconds long.
"""

from __future__ import annotations

import enum
from typing import Protocol

import redis

from pipeline import keys

__all__ = ["Acquired", "LeaseLost", "Leases", "MemoryLeases", "RedisLeases"]


class LeaseLost(Exception):
    """The lease ran out and was handed on: the work must stop (another run resumes it)."""


class Acquired(enum.Enum):
    TAKEN = "taken"  # free: the caller holds it now
    TAKEN_OVER = "taken_over"  # its holder stopped renewing it: the caller holds it now
    RENEWED = "renewed"  # the caller held it already
    BUSY = "busy"  # another holder's lease runs


class Leases(Protocol):
    def acquire(self, kind: str, name: str, holder: str, *, now_s: float, ttl_s: float) -> Acquired:
        """Hold ``name`` until ``now_s + ttl_s`` unless another holder's lease runs past ``now_s``."""
        ...

    def renew(self, kind: str, name: str, holder: str, *, now_s: float, ttl_s: float) -> bool:
        """Extend ``holder``'s lease to ``now_s + ttl_s``; False if it is no longer theirs."""
        ...

    def release(self, kind: str, name: str, holder: str) -> None:
        """Give the lease up, if ``holder`` still holds it."""
        ...

    def expired(self, kind: str, *, now_s: float, limit: int = 100) -> list[tuple[str, str]]:
        """Remove and return ``(name, holder)`` of the leases that ran out by ``now_s``: each
        is returned to one caller only (atomic)."""
        ...

    def holder(self, kind: str, name: str) -> tuple[str, float] | None:
        """(holder, runs out at) of ``name``, if anyone holds it."""
        ...


_ACQUIRE = """
local until_s = ARGV[4]
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
local held = redis.call('HGET', KEYS[2], ARGV[1])
if score and held then
  if held == ARGV[2] then
    redis.call('ZADD', KEYS[1], until_s, ARGV[1])
    return 3
  end
  if tonumber(score) > tonumber(ARGV[3]) then return 0 end
  redis.call('ZADD', KEYS[1], until_s, ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  return 2
end
redis.call('ZADD', KEYS[1], until_s, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""
_RENEW = """
if redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
return 1
"""
_RELEASE = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 0
"""
_EXPIRED = """
local out = {}
local names = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, name in ipairs(names) do
  out[#out + 1] = name
  out[#out + 1] = redis.call('HGET', KEYS[2], name) or ''
  redis.call('ZREM', KEYS[1], name)
  redis.call('HDEL', KEYS[2], name)
end
return out
"""
_ACQUIRED = {0: Acquired.BUSY, 1: Acquired.TAKEN, 2: Acquired.TAKEN_OVER, 3: Acquired.RENEWED}


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLeases:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._expired = client.register_script(_EXPIRED)

    @staticmethod
    def _keys(kind: str) -> list[str]:
        return [keys.leases(kind), keys.lease_holders(kind)]

    def acquire(self, kind: str, name: str, holder: str, *, now_s: float, ttl_s: float) -> Acquired:
        state = self._acquire(
            keys=self._keys(kind), args=[name, holder, repr(float(now_s)), repr(float(now_s + ttl_s))]
        )
        return _ACQUIRED[int(state)]

    def renew(self, kind: str, name: str, holder: str, *, now_s: float, ttl_s: float) -> bool:
        return bool(self._renew(keys=self._keys(kind), args=[name, holder, repr(float(now_s + ttl_s))]))

    def release(self, kind: str, name: str, holder: str) -> None:
        self._release(keys=self._keys(kind), args=[name, holder])

    def expired(self, kind: str, *, now_s: float, limit: int = 100) -> list[tuple[str, str]]:
        flat = self._expired(keys=self._keys(kind), args=[repr(float(now_s)), limit])
        return [(_s(n), _s(h)) for n, h in zip(flat[::2], flat[1::2], strict=True)]

    def holder(self, kind: str, name: str) -> tuple[str, float] | None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hget(keys.lease_holders(kind), name)
        pipe.zscore(keys.leases(kind), name)
        held, score = pipe.execute()
        return (_s(held), float(score)) if held is not None and score is not None else None


class MemoryLeases:
    def __init__(self) -> None:
        self._leases: dict[tuple[str, str], tuple[str, float]] = {}

    def acquire(self, kind: str, name: str, holder: str, *, now_s: float, ttl_s: float) -> Acquired:
        current = self._leases.get((kind, name))
        state = Acquired.TAKEN
        if current is not None:
            if current[0] == holder:
                state = Acquired.RENEWED
            elif current[1] > now_s:
                return Acquired.BUSY
            else:
                state = Acquired.TAKEN_OVER
        self._leases[(kind, name)] = (holder, now_s + ttl_s)
        return state

    def renew(self, kind: str, name: str, holder: str, *, now_s: float, ttl_s: float) -> bool:
        current = self._leases.get((kind, name))
        if current is None or current[0] != holder:
            return False
        self._leases[(kind, name)] = (holder, now_s + ttl_s)
        return True

    def release(self, kind: str, name: str, holder: str) -> None:
        if self._leases.get((kind, name), ("",))[0] == holder:
            del self._leases[(kind, name)]

    def expired(self, kind: str, *, now_s: float, limit: int = 100) -> list[tuple[str, str]]:
        due = sorted(
            (until, name, holder) for (k, name), (holder, until) in self._leases.items() if k == kind and until <= now_s
        )[:limit]
        for _, name, _ in due:
            del self._leases[(kind, name)]
        return [(name, holder) for _, name, holder in due]

    def holder(self, kind: str, name: str) -> tuple[str, float] | None:
        return self._leases.get((kind, name))
