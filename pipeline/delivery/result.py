"""What a delivery batch came to, and the numbers that govern delivery."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.state.trail import TrailEntry
from pipeline.types import Customer, Delivery, Item

__all__ = [
    "AUTH_RECHECK_S",
    "BULK_MIN_EVENTS",
    "BULK_MIN_PROFILES",
    "BatchResult",
    "CONTENDED_RECHECK_S",
    "DLQ_GUARD_STREAK",
    "INFLIGHT_TTL_S",
    "PAUSE_RECHECK_S",
    "REPLAY",
    "identity",
]

#: Dead-letters in a row that pause a connection (arroyo's DlqLimit, by count).
DLQ_GUARD_STREAK = 50
#: A connection paused for a refused credential tries again after this long.
AUTH_RECHECK_S = 900
#: A paused connection's deliveries are looked at again this often.
PAUSE_RECHECK_S = 60.0
#: The attempt a replay starts with: attempts before it do not count against the limit again.
REPLAY = "replay"
#: Profile updates in one batch from which a platform with a bulk endpoint (Klaviyo) gets one job.
BULK_MIN_PROFILES = 50
#: Events in one batch from which a platform with a bulk endpoint (Klaviyo) gets them in one
#: request: Klaviyo allows 2.5 bulk requests/s against 58 single events/s (steady), so a bulk
#: request pays off from ~25 events.
BULK_MIN_EVENTS = 50
#: A delivery being sent is claimed this long, so a duplicate of it (a redelivered message, a
#: batch released twice) is not sent at the same time by another worker.
INFLIGHT_TTL_S = 45  # longer than one send can take (two requests at HTTP_TIMEOUT_S, plus pacing)
#: A delivery another batch is sending is looked at again after this long.
CONTENDED_RECHECK_S = INFLIGHT_TTL_S / 3


@dataclass
class BatchResult:
    delivered: int = 0
    skipped: int = 0
    unchanged: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    resumed: int = 0  # sends an earlier run of the batch died during: sent again (at-least-once)
    retry: list[Delivery] = field(default_factory=list)
    retry_in_s: float = 0.0
    deferred: list[Delivery] = field(default_factory=list)
    defer_s: float = 0.0
    trail: list[tuple[Customer, TrailEntry]] = field(default_factory=list)  # the customer trail's entries


def identity(item: Item) -> str:
    """The customer an item is about, as profile states are keyed."""
    c = item.customer
    return c.email or c.phone or f"{item.provider}:{c.provider_id}"
