"""A rate limiter shared by every worker process (GCRA).

``acquire(scope, rate_per_s)`` either records the request and returns 0, or records
nothing and returns how long to wait. ``wait(...)`` loops on it with the injected clock.
"""

from __future__ import annotations

from importlib import resources
from typing import Protocol

import redis

from pipeline import keys
from pipeline.clock import Clock

__all__ = ["MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "wait"]


class RateLimiter(Protocol):
    """Admission control for one scope (e.g. ``"postscript:<merchant>"``)."""

    def acquire(self, scope: str, *, rate_per_s: float, burst: int = 1, cost: int = 1) -> float:
        """Take ``cost`` slots now if allowed.

        Returns:
            0.0 when granted; otherwise the seconds to wait before asking again
            (nothing was taken).
        """
        ...


class RedisRateLimiter:
    """GCRA in one Lua call against the server's clock: workers' clock skew cannot matter."""

    _script_source = resources.files("pipeline.ratelimit").joinpath("gcra.lua").read_text()

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._script = client.register_script(self._script_source)
        self._loaded = False

    def acquire(self, scope: str, *, rate_per_s: float, burst: int = 1, cost: int = 1) -> float:
        if not self._loaded:
            # Load once up front so the hot path never takes the NOSCRIPT round trip (redis-py
            # still recovers from NOSCRIPT if the server restarts and loses its script cache).
            self._client.script_load(self._script_source)
            self._loaded = True
        interval_us = int(1_000_000 / rate_per_s)
        wait_us = self._script(keys=[keys.rate_limit(scope)], args=[interval_us, max(1, burst), cost])
        return int(wait_us) / 1_000_000


class MemoryRateLimiter:
    """The same algorithm in process memory, on an injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}

    def acquire(self, scope: str, *, rate_per_s: float, burst: int = 1, cost: int = 1) -> float:
        now = self._clock.monotonic()
        interval = 1.0 / rate_per_s
        tat = max(self._tat.get(scope, now), now)
        new_tat = tat + interval * cost
        allow_at = new_tat - max(1, burst) * interval
        if allow_at > now + 1e-9:
            return allow_at - now
        self._tat[scope] = new_tat
        return 0.0


def wait(limiter: RateLimiter, clock: Clock, scope: str, *, rate_per_s: float, burst: int = 1) -> float:
    """Block until a slot is granted; returns the seconds spent waiting."""
    waited = 0.0
    while (delay := limiter.acquire(scope, rate_per_s=rate_per_s, burst=burst)) > 0:
        clock.sleep(delay)
        waited += delay
    return waited
