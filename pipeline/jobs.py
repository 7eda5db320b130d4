"""Scheduled jobs' shared discipline: once per time slot, one at a time, paused on a refused
credential. The Celery tasks are thin shells around these functions."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pipeline import keys
from pipeline.clock import Clock
from pipeline.errors import AuthError
from pipeline.ingest import Ingestor, SyncReport
from pipeline.state.credentials import CredentialStore
from pipeline.state.ledger import Ledger

__all__ = ["RECHECK_S", "SyncOutcome", "run_sync"]

log = logging.getLogger(__name__)

#: A paused connection tries its credential again after this long (someone may have fixed it).
RECHECK_S = 900
#: A sync holding the lock longer than this is presumed dead and the lock expires.
SYNC_LOCK_TIMEOUT_S = 1600  # above the task time limit (1500 s): a running sync never loses it


@dataclass(frozen=True)
class SyncOutcome:
    status: Literal["done", "duplicate_slot", "already_running", "paused", "credential_refused"]
    report: SyncReport | None = None
    reason: str = ""


def run_sync(*, merchant: str, provider: str, interval_s: float, ingestor: Callable[[], Ingestor], ledger: Ledger,
             credentials: CredentialStore, clock: Clock, scheduled: bool = True) -> SyncOutcome:
    """Run one merchant's sync unless another beat already ran this slot, a sync is running,
    or the connection is paused because its credential was refused.

    A job fired twice for the same slot (two beats) does its work once: the first claims
    ``slot = floor(now / interval)``.
    """
    now = clock.now()
    if scheduled:
        slot = int(now.timestamp() // interval_s)
        if not ledger.claim(keys.lock(f"slot:sync:{merchant}:{slot}"), ttl_s=int(interval_s * 2) + 60):
            return SyncOutcome("duplicate_slot")
    state = credentials.get(merchant, "provider", provider)
    if state is not None and (now - state.last_attempt).total_seconds() < RECHECK_S:
        return SyncOutcome("paused", reason=state.reason)
    lock = keys.lock(f"sync:{merchant}")
    if not ledger.claim(lock, ttl_s=SYNC_LOCK_TIMEOUT_S):
        return SyncOutcome("already_running")
    try:
        report = ingestor().sync()
    except AuthError as exc:
        credentials.failed(merchant, "provider", provider, at=now, reason=str(exc))
        log.error("credential refused; connection paused: %s", exc, extra={"merchant": merchant})
        return SyncOutcome("credential_refused", reason=str(exc))
    finally:
        ledger.release(lock)
    if state is not None:
        credentials.ok(merchant, "provider", provider)
    return SyncOutcome("done", report=report)
