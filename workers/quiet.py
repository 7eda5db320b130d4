"""Housekeeping stays out of the logs: Celery's INFO lines about housekeeping tasks (received,
succeeded, sent by beat) are counted, not written. Each process writes what it did in one INFO
line a minute at most (workers/dispatch.py in a worker, workers/beat.py in beat); warnings and
errors about these tasks are always written."""

from __future__ import annotations

import logging
import threading
from collections import Counter

__all__ = ["HOUSEKEEPING_TASKS", "HousekeepingFilter", "install", "quiet"]

#: Tasks that run every few seconds and say nothing worth a line each time.
HOUSEKEEPING_TASKS = ("lp.heartbeat", "lp.release_due")
#: The loggers that write a line per task: a worker's "Received task" and "succeeded", beat's "Sending due task".
CELERY_LOGGERS = ("celery.worker.strategy", "celery.app.trace", "celery.beat")


class HousekeepingFilter(logging.Filter):
    """Drops INFO (and lower) records that name a housekeeping task, counting them by task."""

    def __init__(self, tasks: tuple[str, ...] = HOUSEKEEPING_TASKS) -> None:
        super().__init__()
        self._tasks = tasks
        self._guard = threading.Lock()
        self._counts: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.INFO:
            return True
        data = getattr(record, "data", None)
        name = data.get("name") if isinstance(data, dict) else None
        if name is None:
            try:
                message = record.getMessage()
            except (TypeError, ValueError):
                return True
            name = next((t for t in self._tasks if t in message), None)
        if name not in self._tasks:
            return True
        with self._guard:
            self._counts[name] += 1
        return False

    def take(self) -> Counter[str]:
        """Lines dropped since the last call, by task (the minute's summary reports them)."""
        with self._guard:
            out, self._counts = self._counts, Counter()
        return out


quiet = HousekeepingFilter()


def install(f: HousekeepingFilter = quiet) -> None:
    """Attach the filter to Celery's per-task loggers (idempotent)."""
    for name in CELERY_LOGGERS:
        logger = logging.getLogger(name)
        if f not in logger.filters:
            logger.addFilter(f)
