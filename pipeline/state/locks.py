"""Short mutual-exclusion locks shared by every worker process (e.g. one member's webhook
deliveries are applied one at a time, so a change is diffed against the right snapshot).

A lock is short-lived (``LOCK_TTL_S``) and, with a keeper, renewed while its holder works: a
holder that dies blocks the name for at most ``LOCK_TTL_S``, however long held work may take."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from typing import Protocol

import redis

from pipeline import keys
from pipeline.state.keeper import Keeper

__all__ = ["LOCK_TTL_S", "LockTimeout", "Locks", "MemoryLocks", "RedisLocks"]

#: A lock runs out this long after its holder last renewed it.
LOCK_TTL_S = 10.0


class LockTimeout(Exception):
    """The lock stayed taken longer than the caller would wait (the work is retried later)."""


class Locks(Protocol):
    def hold(self, name: str, *, ttl_s: float = LOCK_TTL_S, wait_s: float = 10.0) -> AbstractContextManager[None]:
        """Context manager holding ``name``; raises LockTimeout after ``wait_s``. The lock
        expires after ``ttl_s`` should its holder die."""
        ...


class RedisLocks:
    def __init__(self, client: redis.Redis, keeper: Keeper | None = None) -> None:
        self._redis = client
        self._keeper = keeper

    @contextmanager
    def hold(self, name: str, *, ttl_s: float = LOCK_TTL_S, wait_s: float = 10.0) -> Iterator[None]:
        lock = self._redis.lock(
            keys.lock(name), timeout=ttl_s, blocking_timeout=wait_s, sleep=0.01, thread_local=False
        )  # the keeper's thread renews it
        if not lock.acquire():
            raise LockTimeout(name)
        try:
            if self._keeper is None:
                yield
            else:
                with self._keeper.keep(lock.reacquire, every_s=ttl_s / 3):
                    yield
        finally:
            # expired while held: the work was slow, and another holder may follow
            with suppress(redis.exceptions.LockError):
                lock.release()


class MemoryLocks:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    @contextmanager
    def hold(self, name: str, *, ttl_s: float = LOCK_TTL_S, wait_s: float = 10.0) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(name, threading.Lock())
        if not lock.acquire(timeout=wait_s):
            raise LockTimeout(name)
        try:
            yield
        finally:
            lock.release()
