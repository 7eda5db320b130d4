"""The beat schedule, generated from the connections file: one sync job per merchant."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pipeline.config import Connection
from workers.config import INGEST_QUEUE, queue_names

__all__ = ["PAGE_TASK", "STREAM_TASK", "SYNC_TASK", "build_schedule"]

SYNC_TASK = "lp.sync_connection"
#: A sync run's tasks: one per stream, one per page of a parallel stream (workers/tasks/ingest.py).
STREAM_TASK = "lp.sync_stream"
PAGE_TASK = "lp.ingest_page"


RELEASE_TASK = "lp.release_due"
BALANCE_TASK = "lp.balance_sync"
#: The scheduled balance sync reads every customer once a day; only changes are sent.
BALANCE_INTERVAL_S = 24 * 3600


def build_schedule(connections: Mapping[str, Connection]) -> dict[str, dict[str, Any]]:
    """Per merchant: the incremental sync and the daily balance sync; and the heartbeats. Due
    deliveries are handed out by the workers themselves (workers/dispatch.py), not by beat."""
    schedule: dict[str, dict[str, Any]] = {}
    # liveness that proves consumption: whichever worker consumes one records it (workers/observability.py)
    schedule |= {
        f"heartbeat:{queue}": {
            "task": "lp.heartbeat",
            "schedule": timedelta(seconds=10),
            "options": {"queue": queue, "expires": 10},
        }
        for queue in queue_names()
    }
    schedule |= {
        f"balances:{merchant}": {
            "task": BALANCE_TASK,
            "schedule": timedelta(seconds=BALANCE_INTERVAL_S),
            "args": (merchant,),
            "options": {"queue": INGEST_QUEUE, "expires": BALANCE_INTERVAL_S},
        }
        for merchant in sorted(connections)
    }
    return schedule | {
        f"sync:{merchant}": {
            "task": SYNC_TASK,
            "schedule": timedelta(seconds=conn.provider.sync_interval_s),
            "args": (merchant,),
            # a job still queued when the next one is due is superseded by it
            "options": {"queue": INGEST_QUEUE, "expires": conn.provider.sync_interval_s},
        }
        for merchant, conn in sorted(connections.items())
    }
