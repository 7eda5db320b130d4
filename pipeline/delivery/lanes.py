"""Lanes: at most ``per_key`` batches of one (merchant, platform) sending at once in a process.

A batch keeps a window of requests in flight (pipeline/delivery/single.py), so one or two of a
connection's batches already use all its rate limit; more of them would only wait in the
limiter (or be deferred by it, and come back through the broker). The others wait for a lane
without running: a waiting thread costs no CPU, and the threads that do run are spread over
the merchants instead of piling onto the first merchants in the queue.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager

__all__ = ["Lanes"]


class Lanes:
    def __init__(self, per_key: int) -> None:
        if per_key < 1:
            raise ValueError("per_key must be at least 1")
        self._per_key = per_key
        self._lock = threading.Lock()
        self._lanes: dict[Hashable, threading.BoundedSemaphore] = {}

    @contextmanager
    def hold(self, key: Hashable) -> Iterator[None]:
        """Run the block in one of ``key``'s lanes, waiting for one to be free."""
        with self._lock:
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = threading.BoundedSemaphore(self._per_key)
        lane.acquire()
        try:
            yield
        finally:
            lane.release()
