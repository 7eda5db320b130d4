"""Scheduled jobs' shared discipline: once per time slot, one at a time, paused on a refused
credential. The Celery tasks are thin shells around these functions.

"One at a time" is a lease (pipeline/state/leases.py), renewed before every page and by the
process's keeper meanwhile: a sync whose worker dies stops renewing it, the lease runs out
within ``SYNC_LEASE_S`` and the workers' dispatcher resumes the sync from its checkpoint
(workers/dispatch.py). A sync that finds its lease handed on stops at once."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

from pipeline import keys
from pipeline.clock import Clock
from pipeline.errors import AuthError, ScopeMissing
from pipeline.fanout import Fanout, Offer, parallel
from pipeline.ingest import Ingestor, SyncReport
from pipeline.state.counters import Counters
from pipeline.state.credentials import CredentialStore
from pipeline.state.keeper import Keeper
from pipeline.state.leases import Acquired, LeaseLost, Leases
from pipeline.state.ledger import Ledger
from pipeline.state.scopes import ScopeStore
from pipeline.state.windows import Windows

__all__ = [
    "LEASE_KINDS",
    "PAGE_KIND",
    "RECHECK_S",
    "STREAM_KIND",
    "SYNC_LEASE_S",
    "SyncOutcome",
    "held",
    "once_per_slot",
    "page_lease",
    "parse_lease",
    "run_page",
    "run_stream",
    "run_sync",
    "start_sync",
    "stream_lease",
]

log = logging.getLogger(__name__)

#: A paused connection tries its credential again after this long (someone may have fixed it).
RECHECK_S = 900
#: A sync's lease runs out this long after its holder last renewed it (it renews it before every
#: page and every ``SYNC_LEASE_S / 3`` meanwhile). Short: a killed sync is resumed soon after.
SYNC_LEASE_S = 6.0
#: A stream's fetcher (name ``merchant|stream``) and a page's hand-over (``merchant|stream|window|index``).
STREAM_KIND, PAGE_KIND = "stream", "page"
#: The kinds of lease whose work is resumed when its holder dies (workers/dispatch.py).
LEASE_KINDS = ("sync", "balances", STREAM_KIND, PAGE_KIND)


@dataclass(frozen=True)
class SyncOutcome:
    status: Literal[
        "done",
        "duplicate_slot",
        "already_running",
        "paused",
        "credential_refused",
        "lease_lost",
        "started",
        "fetched",
        "duplicate_page",
    ]
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


# --- parallel ingest: a sync run fans out one task per stream, and one per page of a parallel stream ------
#: A sync run is forgotten after this long whatever happens (its streams' windows are kept and resumed).
RUN_TTL_S = 3600
#: Starts a task for a stream (``stream``) of ``merchant``, or for a page (``stream``, window id, index).
OfferStream = Callable[[str], bool]


def stream_lease(merchant: str, stream: str) -> str:
    return f"{merchant}|{stream}"


def page_lease(merchant: str, stream: str, window_id: str, index: int) -> str:
    return f"{merchant}|{stream}|{window_id}|{index}"


def parse_lease(kind: str, name: str) -> tuple[str, str, str, int] | None:
    """(merchant, stream, window id, page index) of a stream or page lease ("" and -1 for a stream's)."""
    if kind == STREAM_KIND and name.count("|") >= 1:
        merchant, stream = name.rsplit("|", 1)
        return merchant, stream, "", -1
    if kind == PAGE_KIND and name.count("|") >= 3:
        merchant, stream, window_id, index = name.rsplit("|", 3)
        return (merchant, stream, window_id, int(index)) if index.isdigit() else None
    return None


def start_sync(
    *,
    merchant: str,
    provider: str,
    streams: Sequence[str],
    identity_streams: Sequence[str],
    interval_s: float,
    ledger: Ledger,
    credentials: CredentialStore,
    windows: Windows,
    clock: Clock,
    offer: OfferStream,
    scheduled: bool = True,
) -> SyncOutcome:
    """Start one merchant's sync run: its identity streams first (or, if it has none, its first
    declared stream), each in its own task; the others start together when those are done
    (``finish_stream``). Once per slot, one run at a time, not while
    the connection is paused."""
    now = clock.now()
    if scheduled and not once_per_slot(ledger, "sync", merchant, interval_s=interval_s, now_s=now.timestamp()):
        return SyncOutcome("duplicate_slot")
    state = credentials.get(merchant, "provider", provider)
    if state is not None and (now - state.last_attempt).total_seconds() < RECHECK_S:
        return SyncOutcome("paused", reason=state.reason)
    first = [s for s in streams if s in identity_streams] or list(streams[:1])  # else the first declared
    plan = {s: "first" if s in first else "then" for s in streams}
    if not windows.open_run(merchant, plan, ttl_s=RUN_TTL_S):
        # the run goes on; offer its started streams again: one whose task is gone (a page left
        # pending after its retries ran out) resumes, while a live task's lease turns the offer away
        for stream, step in windows.run(merchant).items():
            if step != "then":
                offer(stream)
        return SyncOutcome("already_running")
    for stream in first:
        offer(stream)
    return SyncOutcome("started")


def finish_stream(merchant: str, stream: str, *, windows: Windows, counters: Counters, offer: OfferStream) -> bool:
    """``stream``'s window closed (or it was skipped): start the streams that waited for it; True
    if the whole run is done (counted in ``syncs_completed``)."""
    done, then = windows.stream_done(merchant, stream)
    for name in then:
        offer(name)
    if done:
        counters.add(merchant, {"syncs_completed": 1})
    return done


def run_stream(
    *,
    merchant: str,
    stream: str,
    ingestor: Callable[[], Ingestor],
    windows: Windows,
    leases: Leases,
    holder: str,
    credentials: CredentialStore,
    scopes: ScopeStore,
    counters: Counters,
    clock: Clock,
    offer_page: Offer,
    offer_stream: OfferStream,
    keeper: Keeper | None = None,
) -> SyncOutcome:
    """One stream of a run, under its lease: a parallel stream is fetched and its pages offered to
    page tasks; any other stream is synced here, page by page, as ``Ingestor.sync_stream`` does."""
    with held(leases, STREAM_KIND, stream_lease(merchant, stream), holder, clock=clock, keeper=keeper) as renew:
        if renew is None:
            return SyncOutcome("already_running")
        job = ingestor()
        kind = job.provider.kind
        report = SyncReport()
        try:
            if parallel(job, stream):
                closed = Fanout(job, windows).fetch(stream, offer=offer_page, on_page=renew)
            else:
                job.sync_stream(stream, report, renew)
                closed = True
            scopes.granted(merchant, kind, stream)
        except ScopeMissing as exc:
            scopes.missing(merchant, kind, stream, scope=exc.scope, at=clock.now(), reason=str(exc))
            report.skipped[stream] = str(exc)
            closed = True
        except AuthError as exc:
            return _refused(merchant, kind, credentials, windows, clock, str(exc))
        except LeaseLost as exc:
            log.warning("stream sync stopped: %s", exc, extra={"merchant": merchant})
            return SyncOutcome("lease_lost", reason=str(exc))
    if not report.skipped and credentials.get(merchant, "provider", kind) is not None:
        credentials.ok(merchant, "provider", kind)
    if closed and finish_stream(merchant, stream, windows=windows, counters=counters, offer=offer_stream):
        # the run's last stream: every stream of this run has recorded its scope by now
        missing = {m.stream for m in scopes.get(merchant, kind)}
        if report.skipped and missing >= set(job.provider.streams):
            return _refused(
                merchant,
                kind,
                credentials,
                windows,
                clock,
                f"{kind}: the API key has none of the scopes its streams need",
            )
    return SyncOutcome("done" if closed else "fetched", report=report)


def run_page(
    *,
    merchant: str,
    stream: str,
    window_id: str,
    index: int,
    ingestor: Callable[[], Ingestor],
    windows: Windows,
    leases: Leases,
    holder: str,
    credentials: CredentialStore,
    counters: Counters,
    clock: Clock,
    offer_stream: OfferStream,
    keeper: Keeper | None = None,
) -> SyncOutcome:
    """Hand over one page of a parallel stream's window, under the page's lease."""
    name = page_lease(merchant, stream, window_id, index)
    with held(leases, PAGE_KIND, name, holder, clock=clock, keeper=keeper) as renew:
        if renew is None:
            return SyncOutcome("already_running")
        job = ingestor()
        try:
            outcome = Fanout(job, windows).hand_over(stream, window_id, index)
        except AuthError as exc:  # e.g. an identity lookup refused: the page stays pending for the next run
            return _refused(merchant, job.provider.kind, credentials, windows, clock, str(exc))
    if outcome.closed:
        finish_stream(merchant, stream, windows=windows, counters=counters, offer=offer_stream)
    if outcome.resume_fetch:
        # the paused fetcher has stopped (or is about to: it touches the window no more), whatever
        # its lease says: hand the stream to a new fetcher, which goes on from the checkpoint
        name = stream_lease(merchant, stream)
        current = leases.holder(STREAM_KIND, name)
        if current is not None:
            leases.release(STREAM_KIND, name, current[0])
        offer_stream(stream)
    return SyncOutcome("done" if outcome.handed_over else "duplicate_page", report=outcome.report)


def _refused(
    merchant: str, kind: str, credentials: CredentialStore, windows: Windows, clock: Clock, reason: str
) -> SyncOutcome:
    credentials.failed(merchant, "provider", kind, at=clock.now(), reason=reason)
    windows.end_run(merchant)
    log.error("credential refused; connection paused: %s", reason, extra={"merchant": merchant})
    return SyncOutcome("credential_refused", reason=reason)
