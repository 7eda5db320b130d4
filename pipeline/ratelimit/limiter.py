"""A rate limiter shared by every worker process: several windows at once (Klaviyo's burst
and steady), adaptive on 429 (multiplicative decrease, additive increase), GCRA in one Lua
call per request against the Redis server's clock.

``acquire(scope, windows)`` either records the request in every window and returns 0, or
records nothing and returns how long to wait. ``penalize(scope, hold_s)`` answers a 429:
it halves the scope's rate and holds all its requests for ``hold_s`` (the ``Retry-After``
when the remote sent one).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Protocol

import redis

from pipeline import keys
from pipeline.clock import Clock
from pipeline.ratelimit.limits import Window

__all__ = ["DECREASE", "FLOOR", "INCREASE", "MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "wait"]

#: AIMD: a 429 multiplies the rate by DECREASE (not below FLOOR); each granted request adds INCREASE.
DECREASE, FLOOR, INCREASE = 0.5, 0.05, 0.01


class RateLimiter(Protocol):
    def acquire(self, scope: str, windows: Sequence[Window]) -> float:
        """0.0 when granted (recorded in every window); else seconds to wait (nothing taken)."""
        ...

    def penalize(self, scope: str, hold_s: float) -> float:
        """A 429 was answered: slow the scope down and hold it for ``hold_s``; returns the new factor."""
        ...


def _read(name: str) -> str:
    return resources.files("pipeline.ratelimit").joinpath(name).read_text()


class RedisRateLimiter:
    _acquire_src = _read("gcra.lua")
    _penalize_src = _read("penalize.lua")

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self._acquire = client.register_script(self._acquire_src)
        self._penalize = client.register_script(self._penalize_src)
        self._loaded = False

    def _load(self) -> None:
        # Load up front so the hot path never takes the NOSCRIPT round trip (redis-py still
        # recovers from NOSCRIPT if the server restarts and loses its script cache).
        if not self._loaded:
            self._client.script_load(self._acquire_src)
            self._client.script_load(self._penalize_src)
            self._loaded = True

    def acquire(self, scope: str, windows: Sequence[Window]) -> float:
        self._load()
        state = keys.rate_limit(scope)
        tats = [f"{state}:w{w.limit}/{w.period_s:g}" for w in windows]
        wait_us, _factor = self._acquire(keys=[state, *tats],
                                         args=[len(windows), *(w.interval_us for w in windows), INCREASE])
        return float(wait_us) / 1_000_000

    def penalize(self, scope: str, hold_s: float) -> float:
        self._load()
        return float(self._penalize(keys=[keys.rate_limit(scope)], args=[int(hold_s * 1_000_000), DECREASE, FLOOR]))


class MemoryRateLimiter:
    """The same algorithm in process memory, on an injected clock."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._factor: dict[str, float] = {}
        self._blocked: dict[str, float] = {}

    def acquire(self, scope: str, windows: Sequence[Window]) -> float:
        now = self._clock.monotonic()
        if self._blocked.get(scope, 0.0) > now:
            return self._blocked[scope] - now
        factor = self._factor.get(scope, 1.0)
        names = [f"{scope}:w{w.limit}/{w.period_s:g}" for w in windows]
        tats = [max(self._tat.get(n, now), now) for n in names]
        wait = max((t - now for t in tats), default=0.0)
        if wait > 1e-9:
            return wait
        for name, tat, w in zip(names, tats, windows):
            self._tat[name] = tat + w.interval_us / 1_000_000 / factor
        if factor < 1:
            self._factor[scope] = min(1.0, factor + INCREASE)
        return 0.0

    def penalize(self, scope: str, hold_s: float) -> float:
        factor = max(FLOOR, self._factor.get(scope, 1.0) * DECREASE)
        self._factor[scope] = factor
        self._blocked[scope] = max(self._blocked.get(scope, 0.0), self._clock.monotonic() + hold_s)
        return factor


def wait(limiter: RateLimiter, clock: Clock, scope: str, windows: Sequence[Window], *,
         max_wait_s: float | None = None) -> float:
    """Block until a slot is granted; returns the seconds waited.

    Raises:
        Throttled: the next slot is further away than ``max_wait_s`` (nothing was taken).
    """
    from pipeline.errors import Throttled

    waited = 0.0
    while (delay := limiter.acquire(scope, windows)) > 0:
        if max_wait_s is not None and waited + delay > max_wait_s:
            raise Throttled(f"rate limit of {scope} busy for {delay:.2f}s", retry_after_s=delay)
        clock.sleep(delay)
        waited += delay
    return waited
