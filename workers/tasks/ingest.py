"""Scheduled ingest: one task runs the incremental sync of one merchant's provider."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from pipeline.errors import RetriableError
from pipeline.jobs import held, once_per_slot, run_sync
from pipeline.observability.metrics import record_pulled, record_transformed
from workers.config import BULK_QUEUE, INFRA_ERRORS, INGEST_QUEUE
from workers.current import runtime
from workers.schedule import BALANCE_INTERVAL_S, BALANCE_TASK, SYNC_TASK

log = logging.getLogger(__name__)


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
    rt = runtime()
    conn = rt.connection(merchant)
    try:
        outcome = run_sync(
            merchant=merchant,
            provider=conn.provider.kind,
            interval_s=conn.provider.sync_interval_s,
            ingestor=lambda: rt.ingestor(merchant, rt.enqueue_for(merchant)),
            ledger=rt.ledger,
            leases=rt.leases,
            holder=f"{rt.worker}:{self.request.id}",
            credentials=rt.credentials,
            clock=rt.clock,
            scheduled=scheduled and self.request.retries == 0,
            keeper=rt.keeper,
        )
    except RetriableError as exc:
        log.warning("sync interrupted, will resume from checkpoint: %s", exc, extra={"merchant": merchant})
        raise self.retry(countdown=min(300, 15 * 2**self.request.retries)) from None
    report = outcome.report
    if report is not None:
        record_pulled(merchant, conn.provider.kind, report.pulled)
        record_transformed(merchant, conn.provider.kind, report.transformed)
        log.info(
            "sync done: %d pulled, %d transformed, %d enqueued",
            report.pulled,
            report.transformed,
            report.enqueued,
            extra={"merchant": merchant},
        )
    else:
        log.info("sync not run: %s %s", outcome.status, outcome.reason, extra={"merchant": merchant})
    return {"status": outcome.status, "pulled": report.pulled if report else 0}


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
