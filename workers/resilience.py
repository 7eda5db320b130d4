"""Riding out a Redis outage inside a task.

Celery's own retry publishes a new message, which cannot work while the broker (the same
Redis) is down: the task is then rejected without requeueing and its message is lost. So a
task whose work must not be lost waits for Redis here, with backoff, holding its message
unacknowledged (the broker keeps it, and restores it if this worker dies); only after
``patience_s`` does it give up and let Celery's retry try.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from redis.exceptions import RedisError

__all__ = ["PATIENCE_S", "until_redis_answers"]

log = logging.getLogger(__name__)
T = TypeVar("T")
PATIENCE_S = 180.0


def until_redis_answers(
    work: Callable[[], T], *, patience_s: float = PATIENCE_S, sleep: Callable[[float], None] = time.sleep
) -> T:
    """Run ``work``; on a Redis error, wait (1, 2, 4 … 10 s) and run it again, up to ``patience_s``."""
    waited, delay = 0.0, 1.0
    while True:
        try:
            return work()
        except (RedisError, ConnectionError) as exc:
            if waited >= patience_s:
                raise
            log.warning("redis unavailable (%s); retrying in %.0fs", type(exc).__name__, delay)
            sleep(delay)
            waited += delay
            delay = min(10.0, delay * 2)
