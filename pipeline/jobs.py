"""Scheduled jobs' shared discipline: once per time slot, one at a time, paused on a refused
credential. The Celery tasks are thin shells around these functions.

"One at a time" is a lease (pipeline/state/leases.py), renewed before every page and by the
process's keeper meanwhile: a sync whose worker dies stops renewing it, the lease runs out
within ``SYNC_LEASE_S`` and the workers' dispatcher resumes the sync from its checkpoint
(workers/dispatch.py). A sync that finds its lease handed on stops at once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from pipeline import keys
from pipeline.clock import Clock
from pipeline.errors import AuthError
from pipeline.ingest import Ingestor, SyncReport
from pipeline.state.credentials import CredentialStore
from pipeline.state.keeper import Keeper
from pipeline.state.leases import Acquired, LeaseLost, Leases
from pipeline.state.ledger import Ledger

__all__ = ["LEASE_KINDS", "RECHECK_S", "SYNC_LEASE_S", "SyncOutcome", "held", "once_per_slot", "run_sync"]

log = logging.getLogger(__name__)

#: A paused connection tries its credential again after this long (someone may have fixed it).
RECHECK_S = 900
#: A sync's lease runs out this long after its holder last renewed it (it renews it before every
#: page and every ``SYNC_LEASE_S / 3`` meanwhile). Short: a killed sync is resumed soon after.
SYNC_LEASE_S = 6.0
#: The kinds of lease whose work is resumed when its holder dies (workers/dispatch.py).
LEASE_KINDS = ("sync", "balances")


@dataclass(frozen=True)
class SyncOutcome:
    status: Literal["done", "duplicate_slot", "already_running", "paused", "credential_refused", "lease_lost"]
    report: SyncReport | None = None
    reason: str = ""


def once_per_slot(ledger: Ledger, job: str, merchant: str, *, interval_s: float, now_s: float) -> bool:
    """True for the first run of ``job`` for ``merchant`` in its slot ``floor(now / interval)``;
    False for any other (a second beat fired it too)."""
    slot = int(now_s // interval_s)
    return ledger.claim(keys.job_slot(job, merchant, slot), ttl_s=int(interval_s * 2) + 60)


@contextmanager
def held(
    leases: Leases,
    kind: str,
    name: str,
    holder: str,
    *,
    clock: Clock,
    keeper: Keeper | None,
    ttl_s: float = SYNC_LEASE_S,
) -> Iterator[Callable[[], None] | None]:
    """Hold the ``kind`` lease on ``name`` while the block runs: yields ``renew`` (it raises
    LeaseLost once the lease was handed on), or None if another holder's lease runs."""
    state = leases.acquire(kind, name, holder, now_s=clock.now().timestamp(), ttl_s=ttl_s)
    if state is Acquired.BUSY:
        yield None
        return
    if state is Acquired.TAKEN_OVER:
        log.warning("%s lease of %s taken over: its holder stopped renewing it", kind, name)

    def renew() -> None:
        if not leases.renew(kind, name, holder, now_s=clock.now().timestamp(), ttl_s=ttl_s):
            raise LeaseLost(f"the {kind} lease of {name} ran out and was handed on")

    try:
        if keeper is None:
            yield renew
        else:
            with keeper.keep(renew, every_s=ttl_s / 3):
                yield renew
    finally:
        leases.release(kind, name, holder)


def run_sync(
    *,
    merchant: str,
    provider: str,
    interval_s: float,
    ingestor: Callable[[], Ingestor],
    ledger: Ledger,
    leases: Leases,
    holder: str,
    credentials: CredentialStore,
    clock: Clock,
    scheduled: bool = True,
    keeper: Keeper | None = None,
) -> SyncOutcome:
    """Run one merchant's sync unless another beat already ran this slot, a sync is running,
    or the connection is paused because its credential was refused.

    A job fired twice for the same slot (two beats) does its work once: the first claims
    ``slot = floor(now / interval)``. ``holder`` names this run (its task id) for the lease.
    """
    now = clock.now()
    if scheduled and not once_per_slot(ledger, "sync", merchant, interval_s=interval_s, now_s=now.timestamp()):
        return SyncOutcome("duplicate_slot")
    state = credentials.get(merchant, "provider", provider)
    if state is not None and (now - state.last_attempt).total_seconds() < RECHECK_S:
        return SyncOutcome("paused", reason=state.reason)
    with held(leases, "sync", merchant, holder, clock=clock, keeper=keeper) as renew:
        if renew is None:
            return SyncOutcome("already_running")
        try:
            report = ingestor().sync(on_page=renew)
        except AuthError as exc:
            credentials.failed(merchant, "provider", provider, at=now, reason=str(exc))
            log.error("credential refused; connection paused: %s", exc, extra={"merchant": merchant})
            return SyncOutcome("credential_refused", reason=str(exc))
        except LeaseLost as exc:
            log.warning("sync stopped: %s", exc, extra={"merchant": merchant})
            return SyncOutcome("lease_lost", reason=str(exc))
    if state is not None:
        credentials.ok(merchant, "provider", provider)
    return SyncOutcome("done", report=report)
