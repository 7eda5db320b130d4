"""A keeper: one daemon thread per process that renews what the process's running work holds
(sync leases, webhook locks) while that work runs, so a lease can be short (it runs out soon
after its holder dies) even when the work under it is long."""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from pipeline.clock import Clock, SystemClock

__all__ = ["Keeper"]

log = logging.getLogger(__name__)


class Keeper:
    """``with keeper.keep(renew, every_s=5):`` calls ``renew()`` about every ``every_s`` until the
    block ends. A renewal that raises is logged and tried again at the next turn (the lease it
    renews is several turns long)."""

    def __init__(self, clock: Clock | None = None, tick_s: float = 0.5) -> None:
        self._clock = clock or SystemClock()
        self._tick_s = tick_s
        self._guard = threading.Lock()
        self._kept: dict[int, tuple[Callable[[], object], float, float]] = {}  # id → (renew, every_s, next at)
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def keep(self, renew: Callable[[], object], *, every_s: float) -> Iterator[None]:
        ident = next(self._ids)
        with self._guard:
            self._kept[ident] = (renew, every_s, self._clock.monotonic() + every_s)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._guard:
                self._kept.pop(ident, None)

    def turn(self) -> int:
        """Renew whatever is due now; how many were renewed (the thread calls it every tick)."""
        now = self._clock.monotonic()
        with self._guard:
            due = [(i, r, every) for i, (r, every, at) in self._kept.items() if at <= now]
            for i, r, every in due:
                self._kept[i] = (r, every, now + every)
        for _, renew, _ in due:
            try:
                renew()
            except Exception as exc:  # noqa: BLE001 (never let the keeper die; the lease outlives a miss)
                log.warning("could not renew a lease: %s", type(exc).__name__)
        return len(due)

    def _run(self) -> None:
        wake = threading.Event()  # real time between turns; the clock decides what is due
        while not wake.wait(self._tick_s):
            self.turn()
