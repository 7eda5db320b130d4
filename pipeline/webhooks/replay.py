"""Replay protection in two phases, and the accepted body kept for its task.

A delivery's message id goes through three states:

* absent: never seen (or its marker expired);
* ``pending`` (``PENDING_TTL_S``): an attempt is being enqueued right now. Its body is stored
  with it, in the same atomic step, under ``keys.webhook_body``. The marker names the attempt
  (``attempt``, a token per request), so an attempt that gives up removes only its own claim,
  never a later attempt's that took over after its marker expired;
* ``done`` (``REPLAY_TTL_S``): the task is durably queued (confirmed by the web process after
  the enqueue, and again by the task when it starts).

A retry that finds ``pending`` is answered 503 (try again later), never "duplicate": if the
enqueue failed and the marker could not be removed (Redis frozen), the marker expires in
``PENDING_TTL_S`` and the next retry is taken. Only ``done`` makes a retry a duplicate, so a
marker never outlives a failed enqueue as a "seen" id. The broker message carries only the
message id: the body (personal data) stays in the state Redis until the task has processed it;
``finish`` then deletes it. ``abandon`` leaves a tombstone in the body's place (no personal data)
so a task whose message was published although its enqueue raised can name what happened. A
redelivered or second task message for that id finds no body and a ``done`` marker: it was
processed, so it does nothing (no second hand-over).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

import redis

from pipeline import keys
from pipeline.clock import Clock

__all__ = ["Begin", "MemoryReplayGuard", "PENDING_TTL_S", "REPLAY_TTL_S", "RedisReplayGuard", "ReplayGuard", "Stored"]

#: Accepted ids are remembered this long: far beyond the timestamp tolerance and Svix's retry schedule (~28 h).
REPLAY_TTL_S = 7 * 24 * 3600
#: An attempt in flight blocks retries this long at most (an enqueue takes milliseconds; a retry sooner gets 503).
PENDING_TTL_S = 30
#: An accepted body waits this long for its task (queues are drained in minutes; a week covers an outage).
BODY_TTL_S = 7 * 24 * 3600


class Begin(enum.Enum):
    NEW = "new"  # this attempt holds the pending marker; its body is stored: enqueue it
    PENDING = "pending"  # another attempt is being enqueued (or failed and its marker has not expired): 503
    DONE = "done"  # already durably queued: a duplicate


@dataclass(frozen=True)
class Stored:
    body: bytes
    event: str | None


class ReplayGuard(Protocol):
    def begin(
        self, provider: str, merchant: str, message_id: str, body: bytes, event: str | None, *, attempt: str
    ) -> Begin:
        """Take the pending marker for ``attempt`` (a token unique to this request) and store the
        body, atomically, unless the id is pending or done."""
        ...

    def confirm(self, provider: str, merchant: str, message_id: str) -> None:
        """The task is queued: later attempts are duplicates."""
        ...

    def abandon(self, provider: str, merchant: str, message_id: str, *, attempt: str) -> None:
        """The enqueue failed: forget the pending marker and the body, so a retry is taken; only
        while the marker is still ``attempt``'s (a later attempt's claim and body are left alone)."""
        ...

    def load(self, provider: str, merchant: str, message_id: str) -> Stored | None:
        """The stored body (None if it expired or was never stored)."""
        ...

    def load_and_confirm(self, provider: str, merchant: str, message_id: str) -> Stored | None:
        """``load``, then ``confirm`` when there is a body, in one step (one round trip: it is on
        the way from a webhook to its delivery)."""
        ...

    def was_abandoned(self, provider: str, merchant: str, message_id: str) -> bool:
        """An attempt gave this id up (its enqueue raised) and no later attempt has stored the body
        again: a task that finds no body can say so (the message may have been published all the same)."""
        ...

    def is_done(self, provider: str, merchant: str, message_id: str) -> bool: ...

    def finish(self, provider: str, merchant: str, message_id: str) -> None:
        """The task processed the body: delete it (a later message for this id is already processed)."""
        ...


_BEGIN = """
local state = redis.call('GET', KEYS[1])
if state == 'done' then return 2 end
if state then return 1 end
redis.call('SET', KEYS[1], 'pending:' .. ARGV[5], 'EX', tonumber(ARGV[1]))
redis.call('DEL', KEYS[2])
redis.call('HSET', KEYS[2], 'body', ARGV[3], 'event', ARGV[4])
redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
return 0
"""
_ABANDON = """
if redis.call('GET', KEYS[1]) == 'pending:' .. ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HSET', KEYS[2], 'abandoned', '1')
  redis.call('EXPIRE', KEYS[2], tonumber(ARGV[2]))
end
return 0
"""
_LOAD_AND_CONFIRM = """
local stored = redis.call('HMGET', KEYS[2], 'body', 'event')
if not stored[1] then return false end
redis.call('SET', KEYS[1], 'done', 'EX', tonumber(ARGV[1]))
return {stored[1], stored[2] or ''}
"""
_BEGINS = {0: Begin.NEW, 1: Begin.PENDING, 2: Begin.DONE}


class RedisReplayGuard:
    def __init__(
        self,
        client: redis.Redis,
        *,
        pending_ttl_s: int = PENDING_TTL_S,
        replay_ttl_s: int = REPLAY_TTL_S,
        body_ttl_s: int = BODY_TTL_S,
    ) -> None:
        self._redis = client
        self._begin = client.register_script(_BEGIN)
        self._abandon = client.register_script(_ABANDON)
        self._load_and_confirm = client.register_script(_LOAD_AND_CONFIRM)
        self._pending_ttl_s, self._replay_ttl_s, self._body_ttl_s = pending_ttl_s, replay_ttl_s, body_ttl_s

    @staticmethod
    def _keys(provider: str, merchant: str, message_id: str) -> list[str]:
        return [keys.webhook_seen(provider, merchant, message_id), keys.webhook_body(provider, merchant, message_id)]

    def begin(
        self, provider: str, merchant: str, message_id: str, body: bytes, event: str | None, *, attempt: str
    ) -> Begin:
        state = self._begin(
            keys=self._keys(provider, merchant, message_id),
            args=[self._pending_ttl_s, self._body_ttl_s, body, event or "", attempt],
        )
        return _BEGINS[int(state)]

    def confirm(self, provider: str, merchant: str, message_id: str) -> None:
        self._redis.set(keys.webhook_seen(provider, merchant, message_id), b"done", ex=self._replay_ttl_s)

    def abandon(self, provider: str, merchant: str, message_id: str, *, attempt: str) -> None:
        self._abandon(keys=self._keys(provider, merchant, message_id), args=[attempt, self._body_ttl_s])

    def load(self, provider: str, merchant: str, message_id: str) -> Stored | None:
        body, event = self._redis.hmget(keys.webhook_body(provider, merchant, message_id), ["body", "event"])
        if body is None:
            return None
        text = event.decode() if isinstance(event, bytes) else event
        return Stored(body if isinstance(body, bytes) else body.encode(), text or None)

    def load_and_confirm(self, provider: str, merchant: str, message_id: str) -> Stored | None:
        found = self._load_and_confirm(keys=self._keys(provider, merchant, message_id), args=[self._replay_ttl_s])
        if not found:
            return None
        body, event = found
        text = event.decode() if isinstance(event, bytes) else event
        return Stored(body if isinstance(body, bytes) else body.encode(), text or None)

    def was_abandoned(self, provider: str, merchant: str, message_id: str) -> bool:
        return bool(self._redis.hexists(keys.webhook_body(provider, merchant, message_id), "abandoned"))

    def is_done(self, provider: str, merchant: str, message_id: str) -> bool:
        state = self._redis.get(keys.webhook_seen(provider, merchant, message_id))
        return state in (b"done", "done")

    def finish(self, provider: str, merchant: str, message_id: str) -> None:
        self._redis.delete(keys.webhook_body(provider, merchant, message_id))


class MemoryReplayGuard:
    """In-memory ``ReplayGuard`` for unit tests (TTL on the injected clock)."""

    def __init__(self, clock: Clock, *, pending_ttl_s: int = PENDING_TTL_S) -> None:
        self._clock = clock
        self._pending_ttl_s = pending_ttl_s
        self._state: dict[tuple[str, str, str], tuple[str, float]] = {}
        self.bodies: dict[tuple[str, str, str], Stored] = {}
        self.abandoned: set[tuple[str, str, str]] = set()

    def _get(self, key: tuple[str, str, str]) -> str | None:
        state, until = self._state.get(key, ("", 0.0))
        return state if until > self._clock.monotonic() else None

    def begin(
        self, provider: str, merchant: str, message_id: str, body: bytes, event: str | None, *, attempt: str
    ) -> Begin:
        key = (provider, merchant, message_id)
        state = self._get(key)
        if state is not None:
            return Begin.DONE if state == "done" else Begin.PENDING
        self._state[key] = (f"pending:{attempt}", self._clock.monotonic() + self._pending_ttl_s)
        self.bodies[key] = Stored(body, event)
        self.abandoned.discard(key)
        return Begin.NEW

    def confirm(self, provider: str, merchant: str, message_id: str) -> None:
        self._state[(provider, merchant, message_id)] = ("done", self._clock.monotonic() + REPLAY_TTL_S)

    def abandon(self, provider: str, merchant: str, message_id: str, *, attempt: str) -> None:
        key = (provider, merchant, message_id)
        if self._get(key) == f"pending:{attempt}":
            self._state.pop(key, None)
            self.bodies.pop(key, None)
            self.abandoned.add(key)

    def load(self, provider: str, merchant: str, message_id: str) -> Stored | None:
        return self.bodies.get((provider, merchant, message_id))

    def load_and_confirm(self, provider: str, merchant: str, message_id: str) -> Stored | None:
        stored = self.load(provider, merchant, message_id)
        if stored is not None:
            self.confirm(provider, merchant, message_id)
        return stored

    def was_abandoned(self, provider: str, merchant: str, message_id: str) -> bool:
        return (provider, merchant, message_id) in self.abandoned

    def is_done(self, provider: str, merchant: str, message_id: str) -> bool:
        return self._get((provider, merchant, message_id)) == "done"

    def finish(self, provider: str, merchant: str, message_id: str) -> None:
        self.bodies.pop((provider, merchant, message_id), None)
