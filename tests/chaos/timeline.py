"""Progress over time for the chaos table: a counter sampled every 0.2 s in a thread, from which the
longest stall and the time to recover are read (figures for tests/chaos/report.py, never asserted)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class Timeline:
    """Postscript's distinct-event count sampled every 0.2 s in a thread: stalls and recovery from it."""

    def __init__(self, count: Callable[[], int]) -> None:
        self.samples: list[tuple[float, int]] = []
        self._count = count
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._count()))
            self._stop.wait(0.2)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def changes(self) -> list[float]:
        """When the count went up."""
        return [t for (t, n), (_, prev) in zip(self.samples[1:], self.samples, strict=False) if n > prev]

    def longest_stall_s(self, until: int) -> float:
        """Longest time without progress, from the first event until the count reached ``until``."""
        ups = self.changes()
        end = next((t for t, n in self.samples if n >= until), self.samples[-1][0])
        ups = [t for t in ups if t <= end]
        return max((b - a for a, b in zip(ups, ups[1:], strict=False)), default=0.0)

    def first_progress_after(self, t0: float) -> float | None:
        return next((t - t0 for t in self.changes() if t > t0), None)
