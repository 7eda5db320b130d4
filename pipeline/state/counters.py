"""Per-merchant counters.

``pulled`` records read (``repulled``: of those, versions already handed over, e.g. in the
lookback overlap); ``transformed`` items made; ``enqueued`` deliveries handed to delivery.
Every enqueued delivery ends exactly once as ``delivered``, ``skipped``, ``unchanged`` (a
profile update with nothing new), ``dead_lettered`` or ``duplicates_dropped`` (already
acknowledged); ``retried`` counts failed attempts, ``deferred`` rate-limit or pause waits;
``rate_limited`` the deliveries a platform answered 429 (a subset of ``retried``).

``add`` with ``platform`` (delivery) or without (ingest) also feeds the windowed counters of
the console (``pipeline.state.activity``), in the same round trip.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Literal, Protocol, get_args

import redis

from pipeline import keys
from pipeline.clock import Clock
from pipeline.redistext import text
from pipeline.state import activity

__all__ = ["COUNTERS", "CounterName", "Counters", "MemoryCounters", "RedisCounters"]

CounterName = Literal[
    "pulled",
    "repulled",
    "quarantined",
    "transformed",
    "enqueued",
    "delivered",
    "skipped",
    "unchanged",
    "retried",
    "deferred",
    "dead_lettered",
    "duplicates_dropped",
    "resent_after_interruption",
    "syncs_completed",
    "rate_limited",
]
COUNTERS: tuple[CounterName, ...] = get_args(CounterName)  # one list of names, in their order


class Counters(Protocol):
    def add(self, merchant: str, counts: Mapping[CounterName, int], *, platform: str | None = None) -> None:
        """Add to the merchant's totals and to the windowed counters of ``platform`` (None: ingest)."""
        ...

    def get(self, merchant: str) -> dict[str, int]: ...


class RedisCounters:
    def __init__(self, client: redis.Redis, clock: Clock | None = None) -> None:
        self._redis = client
        self._clock = clock

    def add(self, merchant: str, counts: Mapping[CounterName, int], *, platform: str | None = None) -> None:
        nonzero: dict[str, int] = {k: v for k, v in counts.items() if v}
        if not nonzero:
            return
        pipe = self._redis.pipeline(transaction=False)
        for name, value in nonzero.items():
            pipe.hincrby(keys.stats(merchant), name, value)
        now_s = self._clock.now().timestamp() if self._clock else time.time()
        activity.add_to_pipeline(pipe, merchant, platform or activity.INGEST, nonzero, now_s)
        pipe.execute()

    def get(self, merchant: str) -> dict[str, int]:
        raw = self._redis.hgetall(keys.stats(merchant))
        values = {text(k): int(v) for k, v in raw.items()}
        return {name: values.get(name, 0) for name in COUNTERS}


class MemoryCounters:
    def __init__(self) -> None:
        self._data: dict[str, Counter[str]] = {}

    def add(self, merchant: str, counts: Mapping[CounterName, int], *, platform: str | None = None) -> None:
        self._data.setdefault(merchant, Counter()).update({k: v for k, v in counts.items() if v})

    def get(self, merchant: str) -> dict[str, int]:
        data = self._data.get(merchant, Counter())
        return {name: data.get(name, 0) for name in COUNTERS}
