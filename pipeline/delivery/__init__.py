"""Delivering a batch to one platform connection: ``Deliverer`` (deliverer.py) routes a batch
to bulk sends (bulk.py) and single sends (single.py); what an error means is one table
(outcomes.py), and what became of each delivery is written by ``Books`` (books.py); what a batch
came to is a ``BatchResult`` (result.py)."""

from pipeline.delivery.deliverer import Deliverer
from pipeline.delivery.result import (
    AUTH_RECHECK_S,
    BULK_MIN_EVENTS,
    BULK_MIN_PROFILES,
    CONTENDED_RECHECK_S,
    DLQ_GUARD_STREAK,
    INFLIGHT_TTL_S,
    PAUSE_RECHECK_S,
    REPLAY,
    BatchResult,
)

__all__ = [
    "AUTH_RECHECK_S",
    "BULK_MIN_EVENTS",
    "BULK_MIN_PROFILES",
    "BatchResult",
    "CONTENDED_RECHECK_S",
    "DLQ_GUARD_STREAK",
    "Deliverer",
    "INFLIGHT_TTL_S",
    "PAUSE_RECHECK_S",
    "REPLAY",
]
