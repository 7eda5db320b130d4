"""Windowed counters for the console's overview: what each (merchant, platform) did in the
last hour and the last day, with rates.

``RedisCounters.add`` writes them in the same pipeline as the totals: each counter goes into
the current minute bucket (kept 2 h) and the current hour bucket (kept 26 h) of its scope,
a platform kind or ``ingest`` (pulled, transformed, quarantined). ``windows`` sums the last
60 minute buckets and the last 24 hour buckets (the current, partial one included), one
pipelined read for every scope asked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from pipeline import keys

__all__ = ["INGEST", "WINDOWS", "Window", "add_to_pipeline", "buckets", "summed", "windows"]

#: The scope of provider-side counters (pulled, transformed, quarantined).
INGEST = "ingest"


@dataclass(frozen=True)
class Window:
    name: str
    granularity: str
    bucket_s: int
    count: int
    ttl_s: int

    @property
    def span_s(self) -> int:
        return self.bucket_s * self.count


WINDOWS = (Window("hour", "m", 60, 60, 2 * 3600), Window("day", "h", 3600, 24, 26 * 3600))


def buckets(window: Window, now_s: float) -> list[int]:
    """Starts of the buckets ``window`` sums at ``now_s``, newest first."""
    current = int(now_s // window.bucket_s) * window.bucket_s
    return [current - i * window.bucket_s for i in range(window.count)]


def add_to_pipeline(pipe: Any, merchant: str, scope: str, counts: Mapping[str, int], now_s: float) -> None:
    """Queue the bucket increments of ``counts`` on ``pipe`` (a Redis pipeline)."""
    for window in WINDOWS:
        key = keys.activity(merchant, scope, window.granularity, buckets(window, now_s)[0])
        for name, value in counts.items():
            pipe.hincrby(key, name, value)
        pipe.expire(key, window.ttl_s)


def windows(
    client: redis.Redis, scopes: Sequence[tuple[str, str]], now_s: float
) -> dict[tuple[str, str], dict[str, dict[str, int]]]:
    """``{(merchant, scope): {"hour": {counter: n}, "day": {...}}}`` for each scope, one round trip."""
    pipe = client.pipeline(transaction=False)
    plan: list[tuple[tuple[str, str], str]] = []
    for merchant, scope in scopes:
        for window in WINDOWS:
            for start in buckets(window, now_s):
                pipe.hgetall(keys.activity(merchant, scope, window.granularity, start))
                plan.append(((merchant, scope), window.name))
    out: dict[tuple[str, str], dict[str, Counter[str]]] = {s: {w.name: Counter() for w in WINDOWS} for s in scopes}
    for (pair, window_name), raw in zip(plan, pipe.execute(), strict=True):
        out[pair][window_name].update({_text(k): int(v) for k, v in raw.items()})
    return {s: {w: dict(c) for w, c in per.items()} for s, per in out.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def summed(rows: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for row in rows:
        total.update(row)
    return dict(total)
