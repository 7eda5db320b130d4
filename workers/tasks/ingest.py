"""Scheduled ingest, in parallel tasks.

``lp.sync_connection`` (beat, once per slot) starts a merchant's sync run: one ``lp.sync_stream``
task per identity stream, the other streams once those are done (pipeline/jobs.py). A stream
task fetches its stream under the stream's lease; a parallel stream's pages are each handed over
by an ``lp.ingest_page`` task, under the page's lease, while the fetch goes on (pipeline/fanout.py).

Every stream and page task is offered under its lease before its message is sent (``offer``):
short while the message is being sent, then long while it waits in the queue, then short and
renewed from the moment a worker takes the message (``hold_reserved``, as workers/leases.py does
for delivery batches) and while it runs. A task whose worker dies stops renewing it, and the
workers' dispatcher offers the work again (``resume_ingest``) within seconds; it resumes from the
stream's checkpoint, or hands the page over (pages are kept in Redis until they are).
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from celery import shared_task
from celery.signals import task_received, worker_ready
from redis.exceptions import RedisError

from pipeline.errors import RetriableError
from pipeline.jobs import (
    PAGE_KIND,
    STREAM_KIND,
    SYNC_LEASE_S,
    SyncOutcome,
    held,
    once_per_slot,
    page_lease,
    parse_lease,
    run_page,
    run_stream,
    start_sync,
    stream_lease,
)
from pipeline.observability.metrics import record_pulled, record_transformed
from pipeline.providers.registry import PROVIDERS
from pipeline.state.due import HANDOVER_LEASE_S, QUEUED_LEASE_S
from pipeline.state.leases import Acquired
from workers.config import BULK_QUEUE, INFRA_ERRORS, INGEST_QUEUE
from workers.current import runtime
from workers.schedule import BALANCE_INTERVAL_S, BALANCE_TASK, PAGE_TASK, STREAM_TASK, SYNC_TASK

log = logging.getLogger(__name__)


def offer(kind: str, name: str, task: Any, args: tuple[Any, ...]) -> bool:
    """Send ``task`` under a lease of ``kind`` on ``name``, unless a live holder has it (False).
    If this process dies before the message is sent, the short first lease runs out and the
    dispatcher offers it again."""
    rt = runtime()
    task_id = uuid.uuid4().hex
    holder = f"task:{task_id}"
    if rt.leases.acquire(kind, name, holder, now_s=rt.clock.now().timestamp(), ttl_s=HANDOVER_LEASE_S) is Acquired.BUSY:
        return False
    task.apply_async(args, task_id=task_id, queue=INGEST_QUEUE)
    rt.leases.renew(kind, name, holder, now_s=rt.clock.now().timestamp(), ttl_s=QUEUED_LEASE_S)
    return True


def offer_stream(merchant: str, stream: str) -> bool:
    return offer(STREAM_KIND, stream_lease(merchant, stream), sync_stream, (merchant, stream))


def offer_page(merchant: str, stream: str, window_id: str, index: int) -> bool:
    return offer(
        PAGE_KIND, page_lease(merchant, stream, window_id, index), ingest_page, (merchant, stream, window_id, index)
    )


def resume_ingest(kind: str, name: str) -> bool:
    """Offer again the stream or page whose lease ran out (its holder died): workers/dispatch.py."""
    parsed = parse_lease(kind, name)
    if parsed is None or parsed[0] not in runtime().connections:
        return False
    merchant, stream, window_id, index = parsed
    if kind == STREAM_KIND:
        return offer_stream(merchant, stream)
    return offer_page(merchant, stream, window_id, index)


def _reserved_lease(request: Any) -> tuple[str, str] | None:
    """(kind, name) of the lease of a stream or page task's message (a Celery ``Request``)."""
    args = tuple(getattr(request, "args", None) or ())
    name = getattr(request, "name", None)
    if name == STREAM_TASK and len(args) >= 2:
        return STREAM_KIND, stream_lease(args[0], args[1])
    if name == PAGE_TASK and len(args) >= 4:
        return PAGE_KIND, page_lease(args[0], args[1], args[2], int(args[3]))
    return None


def hold_reserved(requests: Any) -> int:
    """Renew the leases of the stream and page tasks among ``requests`` (prefetched or running in
    this process) for ``SYNC_LEASE_S``: a message taken by a worker that then dies is offered
    again within seconds, not when the broker gives it back. How many were renewed."""
    rt = runtime()
    n = 0
    for request in requests:
        lease = _reserved_lease(request)
        if lease is not None:
            n += rt.leases.renew(*lease, f"task:{request.id}", now_s=rt.clock.now().timestamp(), ttl_s=SYNC_LEASE_S)
    return n


@task_received.connect
def _hold_on_receipt(request: Any = None, **_: Any) -> None:
    try:
        hold_reserved([request])
    except RedisError as exc:  # the keeper tries again; the queued lease still runs
        log.warning("could not lease a received ingest task: %s", type(exc).__name__)


def _keep_reserved(stop: threading.Event) -> None:
    from celery.worker import state

    while not stop.wait(SYNC_LEASE_S / 3):
        try:
            hold_reserved(list(state.reserved_requests))
        except RedisError as exc:
            log.warning("could not renew ingest leases: %s", type(exc).__name__)
        except Exception:  # never let the keeper die quietly
            log.exception("ingest lease keeper failed; trying again")


@worker_ready.connect
def _start_reserved_keeper(**_: Any) -> None:
    threading.Thread(target=_keep_reserved, args=(threading.Event(),), name="ingest-lease-keeper", daemon=True).start()


def _log_outcome(merchant: str, what: str, outcome: SyncOutcome) -> None:
    report = outcome.report
    if report is not None and report.pulled:
        kind = runtime().connection(merchant).provider.kind
        record_pulled(merchant, kind, report.pulled)
        record_transformed(merchant, kind, report.transformed)
    log.debug("%s: %s %s", what, outcome.status, outcome.reason, extra={"merchant": merchant})


@shared_task(
    name=SYNC_TASK,
    bind=True,
    queue=INGEST_QUEUE,
    max_retries=5,
    autoretry_for=INFRA_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
)
def sync_connection(self: Any, merchant: str, scheduled: bool = True) -> dict[str, Any]:
    """Start the merchant's sync run (its streams and pages run in their own tasks)."""
    rt = runtime()
    conn = rt.connection(merchant)
    cls = PROVIDERS[conn.provider.kind]
    outcome = start_sync(
        merchant=merchant,
        provider=conn.provider.kind,
        streams=cls.streams,
        identity_streams=getattr(cls, "identity_streams", ()),
        interval_s=conn.provider.sync_interval_s,
        ledger=rt.ledger,
        credentials=rt.credentials,
        windows=rt.windows,
        clock=rt.clock,
        offer=lambda stream: offer_stream(merchant, stream),
        scheduled=scheduled and self.request.retries == 0,
    )
    log.info("sync %s %s", outcome.status, outcome.reason, extra={"merchant": merchant})
    return {"status": outcome.status}


@shared_task(
    name=STREAM_TASK,
    bind=True,
    queue=INGEST_QUEUE,
    max_retries=5,
    autoretry_for=INFRA_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
)
def sync_stream(self: Any, merchant: str, stream: str) -> dict[str, Any]:
    """Fetch one stream of a run (a parallel stream's pages go to ``ingest_page`` tasks)."""
    rt = runtime()
    try:
        outcome = run_stream(
            merchant=merchant,
            stream=stream,
            ingestor=lambda: rt.ingestor(merchant, rt.enqueue_for(merchant)),
            windows=rt.windows,
            leases=rt.leases,
            holder=f"task:{self.request.id}",
            credentials=rt.credentials,
            scopes=rt.scopes,
            counters=rt.counters,
            clock=rt.clock,
            offer_page=lambda window_id, index: offer_page(merchant, stream, window_id, index),
            offer_stream=lambda name: offer_stream(merchant, name),
            keeper=rt.keeper,
        )
    except RetriableError as exc:
        log.warning("stream %s interrupted, will resume from checkpoint: %s", stream, exc, extra={"merchant": merchant})
        raise self.retry(countdown=min(300, 15 * 2**self.request.retries)) from None
    _log_outcome(merchant, f"stream {stream}", outcome)
    return {"status": outcome.status, "pulled": outcome.report.pulled if outcome.report else 0}


@shared_task(
    name=PAGE_TASK,
    bind=True,
    queue=INGEST_QUEUE,
    max_retries=5,
    autoretry_for=INFRA_ERRORS,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
)
def ingest_page(self: Any, merchant: str, stream: str, window_id: str, index: int) -> dict[str, Any]:
    """Hand over one kept page of a parallel stream's window."""
    rt = runtime()
    try:
        outcome = run_page(
            merchant=merchant,
            stream=stream,
            window_id=window_id,
            index=index,
            ingestor=lambda: rt.ingestor(merchant, rt.enqueue_for(merchant)),
            windows=rt.windows,
            leases=rt.leases,
            holder=f"task:{self.request.id}",
            credentials=rt.credentials,
            counters=rt.counters,
            clock=rt.clock,
            offer_stream=lambda name: offer_stream(merchant, name),
            keeper=rt.keeper,
        )
    except RetriableError as exc:
        log.warning("page %s/%d interrupted, will be retried: %s", stream, index, exc, extra={"merchant": merchant})
        raise self.retry(countdown=min(300, 15 * 2**self.request.retries)) from None
    _log_outcome(merchant, f"page {stream}/{index}", outcome)
    return {"status": outcome.status, "pulled": outcome.report.pulled if outcome.report else 0}


@shared_task(
    name=BALANCE_TASK,
    bind=True,
    queue=INGEST_QUEUE,
    autoretry_for=INFRA_ERRORS,
    retry_backoff=30,
    retry_backoff_max=900,
    retry_jitter=True,
    max_retries=10,
)
def balance_sync(self: Any, merchant: str, resume: bool = False) -> dict[str, Any]:
    """Every customer's current balance and tier; the diff sync sends only what changed.
    Once per slot (two beats run it once), one at a time under a lease; resumed from its
    checkpoint (``resume``) by the dispatcher soon after a worker running it dies."""
    runtime().connection(merchant)  # an unknown merchant fails before anything is claimed
    if (
        self.request.retries == 0
        and not resume
        and not once_per_slot(
            runtime().ledger,
            "balances",
            merchant,
            interval_s=BALANCE_INTERVAL_S,
            now_s=runtime().clock.now().timestamp(),
        )
    ):
        return {"status": "duplicate_slot"}
    with held(
        runtime().leases,
        "balances",
        merchant,
        f"{runtime().worker}:{self.request.id}",
        clock=runtime().clock,
        keeper=runtime().keeper,
    ) as renew:
        if renew is None:
            return {"status": "already_running"}
        report = runtime().bulk_sync(merchant, BULK_QUEUE, name="balances").run()
    return {"status": "done", "customers": report.customers}
