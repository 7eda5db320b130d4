"""The customer trail: what happened to each customer's deliveries, for "where is this
customer's event?" (the console's customer lookup).

Each entry is keyed by ``keys.identity_hash`` of the customer's email and of their phone (the
hash keys already use; a phone as ``+`` and its digits, ``identity``), so a lookup hashes what the
operator typed the same way; no email or phone is stored. An entry holds only the merchant,
platform, kind, event name, delivery id (the idempotency key the platform received), outcome,
time, dead-letter entry id, HTTP status and a masked reason.

Bounded: each identity keeps its newest ``max_entries`` entries, and entries and keys expire
with the acknowledgement ledger (``ttl_s``: ``DEDUP_TTL_S``). The deliverer writes a batch's
entries with ``record`` in one round trip (one Lua call).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast

import redis

from pipeline import keys
from pipeline.redact import mask
from pipeline.types import Customer, Delivery

__all__ = [
    "MAX_ENTRIES",
    "MemoryTrail",
    "RedisTrail",
    "Trail",
    "TrailEntry",
    "entry",
    "identities",
    "identity",
    "latest_per_delivery",
]

#: Entries kept per identity (the newest).
MAX_ENTRIES = 500


@dataclass(frozen=True)
class TrailEntry:
    at: str
    merchant: str
    platform: str
    kind: str  # event | profile
    name: str  # the event name, or "profile properties"
    delivery_id: str
    outcome: str  # delivered | skipped | unchanged | retrying | dead_lettered
    via: str = ""  # "bulk" when sent in a bulk request
    http_status: int | None = None
    detail: str = ""  # skip reason, error; masked
    dlq_id: str | None = None
    attempts: int = 0

    def to_json(self) -> str:
        return json.dumps(vars(self), sort_keys=True, separators=(",", ":"))  # fields are plain values


def identity(typed: str) -> str:
    """The hash an email or a phone is filed under: ``keys.identity_hash`` of the email (trimmed,
    lower-cased), or of the phone's digits with a leading ``+`` (so ``+1 (555) 555-0123`` and
    ``+15555550123`` are the same customer)."""
    text = typed.strip()
    if "@" not in text and (digits := re.sub(r"\D", "", text)):
        return keys.identity_hash(f"+{digits}")
    return keys.identity_hash(text)


def identities(customer: Customer) -> list[str]:
    """The identity hashes a customer is found under (email and phone)."""
    return [identity(v) for v in (customer.email, customer.phone) if v]


def entry(
    delivery: Delivery,
    outcome: str,
    at: datetime,
    *,
    via: str = "",
    http_status: int | None = None,
    detail: str = "",
    dlq_id: str | None = None,
) -> TrailEntry:
    item = delivery.item
    return TrailEntry(
        at=at.isoformat(),
        merchant=item.merchant,
        platform=delivery.platform,
        kind=item.kind,
        name=getattr(item, "name", "profile properties"),
        delivery_id=delivery.id,
        outcome=outcome,
        via=via,
        http_status=http_status,
        detail=mask(detail)[:300],
        dlq_id=dlq_id,
        attempts=len(delivery.attempts),
    )


class Trail(Protocol):
    def record(self, rows: Sequence[tuple[Customer, TrailEntry]]) -> None:
        """Add entries (one round trip for the whole batch)."""
        ...

    def lookup(self, identity: str, *, limit: int = MAX_ENTRIES) -> list[TrailEntry]:
        """Entries of one identity hash, newest first."""
        ...


_RECORD = """
local i = 4
while i <= #ARGV do
  redis.call('ZADD', KEYS[tonumber(ARGV[i])], ARGV[i + 1], ARGV[i + 2])
  i = i + 3
end
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[3])
  if redis.call('ZCARD', key) > tonumber(ARGV[2]) then
    redis.call('ZREMRANGEBYRANK', key, 0, -tonumber(ARGV[2]) - 1)
  end
  redis.call('EXPIRE', key, ARGV[1])
end
return #KEYS
"""


class RedisTrail:
    def __init__(self, client: redis.Redis, *, ttl_s: int, max_entries: int = MAX_ENTRIES) -> None:
        self._redis = client
        self._ttl_s = ttl_s
        self._max = max_entries
        self._record = client.register_script(_RECORD)

    def record(self, rows: Sequence[tuple[Customer, TrailEntry]]) -> None:
        if not rows:
            return
        index: dict[str, int] = {}
        args: list[str | int | float] = []
        newest = 0.0
        for customer, e in rows:
            score = datetime.fromisoformat(e.at).timestamp()
            newest = max(newest, score)
            member = e.to_json()
            for who in identities(customer):
                args += [index.setdefault(keys.trail(who), len(index) + 1), score, member]
        if index:  # one call: the adds, then each key trimmed (age, count) and its expiry renewed
            self._record(keys=list(index), args=[self._ttl_s, self._max, newest - self._ttl_s, *args])

    def lookup(self, identity: str, *, limit: int = MAX_ENTRIES) -> list[TrailEntry]:
        rows = cast("list[bytes]", self._redis.zrevrange(keys.trail(identity), 0, max(0, limit - 1)))  # no scores asked
        return [TrailEntry(**json.loads(r)) for r in rows]


class MemoryTrail:
    def __init__(self, *, max_entries: int = MAX_ENTRIES) -> None:
        self._data: dict[str, list[TrailEntry]] = {}
        self._max = max_entries

    def record(self, rows: Sequence[tuple[Customer, TrailEntry]]) -> None:
        for customer, e in rows:
            for identity in identities(customer):
                kept = self._data.setdefault(identity, [])
                kept.append(e)
                kept.sort(key=lambda x: x.at)
                del kept[: max(0, len(kept) - self._max)]

    def lookup(self, identity: str, *, limit: int = MAX_ENTRIES) -> list[TrailEntry]:
        return list(reversed(self._data.get(identity, [])))[:limit]


def latest_per_delivery(entries: Iterable[TrailEntry]) -> list[tuple[TrailEntry, list[TrailEntry]]]:
    """Group newest-first entries by delivery: (latest entry, its history newest first)."""
    groups: dict[tuple[str, str], list[TrailEntry]] = {}
    for e in entries:
        groups.setdefault((e.platform, e.delivery_id), []).append(e)
    return [(history[0], history) for history in groups.values()]
