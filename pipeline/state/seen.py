"""Which record versions were already handed over: the ingest's dedup of the lookback overlap.

One sorted set per stream holds its versions (``keys.seen_versions``), each scored by when its
marker runs out, so a page is checked in one command (``ZMSCORE``) and marked in one script
(add the page's versions, drop the ones that ran out, keep the key alive): two round trips and
a handful of Redis commands per page, instead of one key and two commands per record.

Order matters and is the caller's: check, hand over, then mark. A sync killed between the hand
over and the mark hands the page over again on resume, which delivery's own ledger absorbs;
marking first could lose a page.

Time is the caller's wall clock (seconds), as in pipeline/state/leases.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import redis

from pipeline import keys
from pipeline.state.ledger import Ledger

__all__ = ["LedgerSeen", "MemorySeen", "RedisSeen", "Seen"]


class Seen(Protocol):
    def which_seen(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float
    ) -> list[bool]:
        """For each version, whether it was marked and its marker has not run out."""
        ...

    def mark(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float, ttl_s: int
    ) -> None:
        """Mark every version until ``now_s + ttl_s``."""
        ...


_MARK = """
local key, now_s, until_s, ttl_s = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now_s)
local batch = {}
for i = 4, #ARGV do
  batch[#batch + 1] = until_s
  batch[#batch + 1] = ARGV[i]
  if #batch >= 2000 then  -- 1,000 members per ZADD (unpack has a limit)
    redis.call('ZADD', key, unpack(batch))
    batch = {}
  end
end
if #batch > 0 then redis.call('ZADD', key, unpack(batch)) end
local ttl = redis.call('TTL', key)
if ttl < ttl_s then redis.call('EXPIRE', key, ttl_s) end
return 0
"""


class RedisSeen:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._mark = client.register_script(_MARK)

    def which_seen(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float
    ) -> list[bool]:
        if not versions:
            return []
        scores = self._redis.zmscore(keys.seen_versions(merchant, provider, stream), list(versions))
        return [s is not None and s > now_s for s in scores]

    def mark(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float, ttl_s: int
    ) -> None:
        if not versions:
            return
        self._mark(
            keys=[keys.seen_versions(merchant, provider, stream)],
            args=[repr(float(now_s)), repr(float(now_s + ttl_s)), int(ttl_s), *versions],
        )


class MemorySeen:
    def __init__(self) -> None:
        self._until: dict[tuple[str, str, str, str], float] = {}

    def which_seen(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float
    ) -> list[bool]:
        return [self._until.get((merchant, provider, stream, v), -1.0) > now_s for v in versions]

    def mark(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float, ttl_s: int
    ) -> None:
        for v in versions:
            self._until[merchant, provider, stream, v] = now_s + ttl_s


class LedgerSeen:
    """One ledger key per version (``keys.seen``): what an ``Ingestor`` given only a ledger uses."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def which_seen(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float
    ) -> list[bool]:
        return self._ledger.which_exist([keys.seen(merchant, provider, stream, v) for v in versions])

    def mark(
        self, merchant: str, provider: str, stream: str, versions: Sequence[str], *, now_s: float, ttl_s: int
    ) -> None:
        self._ledger.mark([keys.seen(merchant, provider, stream, v) for v in versions], ttl_s=ttl_s)
