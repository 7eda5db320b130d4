"""Per-token rate limiters for the simulators: fixed one-second windows and a token bucket.

Both expose ``allow(token) -> bool`` and ``reset()``, so ``SimServer.limiter`` may be either.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

__all__ = ["TokenBucket", "WindowLimiter"]


class WindowLimiter:
    """Per-token fixed one-second windows, as Smile and Postscript document them.

    A window opens at a token's first request; within it the first ``rate_per_s`` requests pass
    and every further one is refused until the window's second has passed.
    """

    def __init__(self, rate_per_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate_per_s = rate_per_s
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def allow(self, token: str) -> bool:
        """Count one request for ``token``; False if it is over the limit."""
        with self._lock:
            now = self._clock()
            start, count = self._windows.get(token, (now, 0))
            if now - start >= 1.0:
                start, count = now, 0
            count += 1
            self._windows[token] = (start, count)
            return count <= self.rate_per_s

    def reset(self) -> None:
        """Forget all windows."""
        with self._lock:
            self._windows.clear()


class TokenBucket:
    """Per-token bucket: ``rate_per_s`` steady rate, up to ``burst`` requests at once (Okendo).

    Each token's bucket starts full; a request takes one token, refused (False) when empty.
    """

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # token -> (level, last refill time)
        self._lock = threading.Lock()

    def allow(self, token: str) -> bool:
        """Take one token from ``token``'s bucket; False if it is empty."""
        with self._lock:
            now = self._clock()
            level, last = self._buckets.get(token, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.rate_per_s)
            allowed = level >= 1.0
            self._buckets[token] = (level - 1.0 if allowed else level, now)
            return allowed

    def reset(self) -> None:
        """Refill every bucket."""
        with self._lock:
            self._buckets.clear()
