"""The due set: every batch of deliveries from the moment it is handed over until a worker
has finished it, kept in Redis rather than in the broker or in Celery ETAs.

Per platform, a sorted set of batch ids scored by when to look at the batch next, and a hash
of their bodies. ``add`` puts a batch in, due at once or later (a retry, a rate-limit
deferral, a paced replay). ``release`` hands due batches out under a lease: their score moves
a few seconds ahead, atomically, so two releasers never take the same batch; once their
messages are published, ``queued`` makes that lease long (a message may wait in the queue). A worker that
``hold``\\ s a batch shortens the lease to a few seconds and keeps renewing it while it works;
while that lease runs, no other message may hold the batch (a copy of it is turned away). A
batch leaves only by ``finish``, which removes it and adds its follow-ups (retries, deferrals)
in one transaction, and leaves a marker so that a late copy of its message does nothing.

So a worker SIGKILLed mid-batch, a message the broker holds back until its visibility
timeout, a publish that failed, or a releaser that died all end the same way: the lease runs
out and the batch is handed out again; the ledger and the in-flight claims make that harmless.
"""

from __future__ import annotations

import enum
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis

from pipeline import keys
from pipeline.types import Delivery

__all__ = [
    "DONE_TTL_S",
    "HANDOVER_LEASE_S",
    "DueBatch",
    "DueStore",
    "Hold",
    "MemoryDueStore",
    "QUEUED_LEASE_S",
    "RUN_LEASE_S",
    "RedisDueStore",
]

#: A batch being handed to the broker is handed out again after this long unless ``queued``
#: confirms the publish (so a publisher that dies between the two loses nothing for long).
HANDOVER_LEASE_S = 10.0
#: A batch handed to the broker is handed out again after this long if no worker has taken it.
QUEUED_LEASE_S = 1800.0
#: A batch a worker holds is handed out again this long after the worker stops renewing it.
RUN_LEASE_S = 12.0
#: How long a finished batch is remembered (longer than any broker redelivery).
DONE_TTL_S = 86_400


class Hold(enum.Enum):
    HELD = "held"  # in the due set: now leased to the caller
    BUSY = "busy"  # another message holds its lease: leave it to that one
    DONE = "done"  # finished already: a late or duplicate message
    UNKNOWN = "unknown"  # never seen, or its state was lost: deliver anyway (the ledger dedups)


@dataclass(frozen=True)
class DueBatch:
    id: str
    merchant: str
    platform: str
    deliveries: list[Delivery]
    queue: str | None = None
    #: ``deliveries`` as ``Delivery.to_dict`` writes them (what the body holds and a message carries),
    #: kept so that handing the batch to the broker does not encode them again
    encoded: list[dict[str, Any]] = field(default_factory=list, repr=False, compare=False)


def _new(merchant: str, platform: str, deliveries: Sequence[Delivery], queue: str | None) -> tuple[DueBatch, str]:
    encoded = [d.to_dict() for d in deliveries]
    batch = DueBatch(uuid.uuid4().hex, merchant, platform, list(deliveries), queue, encoded)
    body = json.dumps({"merchant": merchant, "platform": platform, "queue": queue, "deliveries": encoded})
    return batch, body


def _decode(batch_id: str, body: str | bytes) -> DueBatch:
    raw: dict[str, Any] = json.loads(body)
    encoded = raw["deliveries"]
    deliveries = [Delivery.from_dict(d) for d in encoded]
    return DueBatch(batch_id, raw["merchant"], raw["platform"], deliveries, raw.get("queue"), encoded)


class DueStore(Protocol):
    def add(
        self, merchant: str, platform: str, deliveries: Sequence[Delivery], *, due_at_s: float, queue: str | None = None
    ) -> DueBatch | None:
        """Keep ``deliveries`` as one batch, due at ``due_at_s`` (None when there are none)."""
        ...

    def release(
        self, platform: str, *, now_s: float, limit: int = 50, lease_s: float = HANDOVER_LEASE_S
    ) -> list[DueBatch]:
        """Lease the batches due by ``now_s`` for ``lease_s``, oldest first (then ``queued``)."""
        ...

    def queued(self, platform: str, batch_ids: Sequence[str], *, until_s: float) -> None:
        """The batches' messages are on the broker: lease them until ``until_s``, unless a
        worker holds them already."""
        ...

    def hold(self, platform: str, holds: Sequence[tuple[str, str]], *, now_s: float, until_s: float) -> list[Hold]:
        """Lease each ``(batch id, holder)`` until ``until_s`` unless another holder's lease runs
        past ``now_s``; what each one is. ``holder`` names the message (its Celery task id)."""
        ...

    def finish(
        self,
        platform: str,
        batch_id: str,
        *,
        merchant: str,
        then: Sequence[tuple[Sequence[Delivery], float]] = (),
        queue: str | None = None,
    ) -> None:
        """Remove the batch and add its follow-ups ``(deliveries, due_at_s)``, atomically."""
        ...

    def size(self, platform: str) -> int: ...


_RELEASE = """
local out = {}
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  local body = redis.call('HGET', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  if body then
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    out[#out + 1] = id
    out[#out + 1] = body
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
"""

_HOLD = """
local out = {}
local now = tonumber(ARGV[1])
for i = 1, (#ARGV - 2) / 2 do
  local id, holder = ARGV[1 + 2 * i], ARGV[2 + 2 * i]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score then
    local current = redis.call('HGET', KEYS[2], id)
    if current and current ~= holder and tonumber(score) > now then
      out[i] = 2
    else
      redis.call('ZADD', KEYS[1], ARGV[2], id)
      redis.call('HSET', KEYS[2], id, holder)
      out[i] = 1
    end
  elseif redis.call('EXISTS', KEYS[2 + i]) == 1 then
    out[i] = 0
  else
    out[i] = -1
  end
end
return out
"""
_QUEUED = """
for i = 2, #ARGV do
  if redis.call('HEXISTS', KEYS[2], ARGV[i]) == 0 then
    redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[i])
  end
end
return 0
"""
_HOLDS = {1: Hold.HELD, 2: Hold.BUSY, 0: Hold.DONE, -1: Hold.UNKNOWN}


def _score(s: float) -> str:
    return repr(float(s))


class RedisDueStore:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._release = client.register_script(_RELEASE)
        self._hold = client.register_script(_HOLD)
        self._queued = client.register_script(_QUEUED)

    def add(
        self, merchant: str, platform: str, deliveries: Sequence[Delivery], *, due_at_s: float, queue: str | None = None
    ) -> DueBatch | None:
        if not deliveries:
            return None
        batch, body = _new(merchant, platform, deliveries, queue)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.due_bodies(platform), batch.id, body)
        pipe.zadd(keys.due(platform), {batch.id: due_at_s})
        pipe.execute()
        return batch

    def release(
        self, platform: str, *, now_s: float, limit: int = 50, lease_s: float = HANDOVER_LEASE_S
    ) -> list[DueBatch]:
        flat = self._release(
            keys=[keys.due(platform), keys.due_bodies(platform), keys.due_holders(platform)],
            args=[_score(now_s), limit, _score(now_s + lease_s)],
        )
        pairs = zip(flat[::2], flat[1::2], strict=True)
        return [_decode(i.decode() if isinstance(i, bytes) else i, body) for i, body in pairs]

    def queued(self, platform: str, batch_ids: Sequence[str], *, until_s: float) -> None:
        if batch_ids:
            self._queued(keys=[keys.due(platform), keys.due_holders(platform)], args=[_score(until_s), *batch_ids])

    def hold(self, platform: str, holds: Sequence[tuple[str, str]], *, now_s: float, until_s: float) -> list[Hold]:
        if not holds:
            return []
        states = self._hold(
            keys=[keys.due(platform), keys.due_holders(platform), *(keys.batch_done(platform, b) for b, _ in holds)],
            args=[_score(now_s), _score(until_s), *(x for pair in holds for x in pair)],
        )
        return [_HOLDS[int(s)] for s in states]

    def finish(
        self,
        platform: str,
        batch_id: str,
        *,
        merchant: str,
        then: Sequence[tuple[Sequence[Delivery], float]] = (),
        queue: str | None = None,
    ) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.zrem(keys.due(platform), batch_id)
        pipe.hdel(keys.due_bodies(platform), batch_id)
        pipe.hdel(keys.due_holders(platform), batch_id)
        pipe.set(keys.batch_done(platform, batch_id), b"1", ex=DONE_TTL_S)
        for deliveries, due_at_s in then:
            if deliveries:
                follow_up, body = _new(merchant, platform, deliveries, queue)
                pipe.hset(keys.due_bodies(platform), follow_up.id, body)
                pipe.zadd(keys.due(platform), {follow_up.id: due_at_s})
        pipe.execute()

    def size(self, platform: str) -> int:
        return int(self._redis.zcard(keys.due(platform)))


class MemoryDueStore:
    def __init__(self) -> None:
        self._score: dict[str, dict[str, float]] = {}
        self._body: dict[str, DueBatch] = {}
        self._holder: dict[str, str] = {}
        self._done: set[str] = set()

    def add(
        self, merchant: str, platform: str, deliveries: Sequence[Delivery], *, due_at_s: float, queue: str | None = None
    ) -> DueBatch | None:
        if not deliveries:
            return None
        batch, _ = _new(merchant, platform, deliveries, queue)
        self._body[batch.id] = batch
        self._score.setdefault(platform, {})[batch.id] = due_at_s
        return batch

    def release(
        self, platform: str, *, now_s: float, limit: int = 50, lease_s: float = HANDOVER_LEASE_S
    ) -> list[DueBatch]:
        scores = self._score.get(platform, {})
        due = sorted((score, i) for i, score in scores.items() if score <= now_s)[:limit]
        for _, i in due:
            scores[i] = now_s + lease_s
            self._holder.pop(i, None)
        return [self._body[i] for _, i in due]

    def queued(self, platform: str, batch_ids: Sequence[str], *, until_s: float) -> None:
        scores = self._score.get(platform, {})
        for i in batch_ids:
            if i in scores and i not in self._holder:
                scores[i] = until_s

    def hold(self, platform: str, holds: Sequence[tuple[str, str]], *, now_s: float, until_s: float) -> list[Hold]:
        scores, out = self._score.get(platform, {}), []
        for i, holder in holds:
            if i in scores:
                if self._holder.get(i, holder) != holder and scores[i] > now_s:
                    out.append(Hold.BUSY)
                    continue
                scores[i], self._holder[i] = until_s, holder
                out.append(Hold.HELD)
            else:
                out.append(Hold.DONE if i in self._done else Hold.UNKNOWN)
        return out

    def finish(
        self,
        platform: str,
        batch_id: str,
        *,
        merchant: str,
        then: Sequence[tuple[Sequence[Delivery], float]] = (),
        queue: str | None = None,
    ) -> None:
        self._score.get(platform, {}).pop(batch_id, None)
        self._body.pop(batch_id, None)
        self._holder.pop(batch_id, None)
        self._done.add(batch_id)
        for deliveries, due_at_s in then:
            self.add(merchant, platform, deliveries, due_at_s=due_at_s, queue=queue)

    def size(self, platform: str) -> int:
        return len(self._score.get(platform, {}))
