"""Scheduled ingest: one task runs the incremental sync of one merchant's provider."""

from __future__ import annotations

import logging
from typing import Any

from pipeline import keys
from pipeline.bulk import BulkSync, RedisBulkProgress
from pipeline.errors import RetriableError
from pipeline.jobs import held, run_sync
from pipeline.observability.metrics import record_pulled, record_transformed
from pipeline.state.credentials import RedisCredentialStore
from pipeline.state.cursors import RedisCursorStore
from pipeline.state.ledger import RedisLedger
from pipeline.types import Delivery
from workers.app import app, runtime
from workers.config import BULK_QUEUE, INFRA_ERRORS, INGEST_QUEUE
from workers.schedule import BALANCE_INTERVAL_S, BALANCE_TASK, SYNC_TASK
from workers.tasks.deliver import publish

log = logging.getLogger(__name__)

@app.task(name=SYNC_TASK, bind=True, queue=INGEST_QUEUE, max_retries=5, autoretry_for=INFRA_ERRORS,
          retry_backoff=5, retry_backoff_max=300, retry_jitter=True)
def sync_connection(self: Any, merchant: str, scheduled: bool = True) -> dict[str, Any]:
    conn = runtime.connection(merchant)

    def enqueue(platform: str, batch: list[Delivery]) -> None:
        publish(merchant, platform, batch)

    try:
        outcome = run_sync(merchant=merchant, provider=conn.provider.kind, interval_s=conn.provider.sync_interval_s,
                           ingestor=lambda: runtime.ingestor(merchant, enqueue), ledger=RedisLedger(runtime.redis),
                           leases=runtime.leases, holder=f"{runtime.worker}:{self.request.id}",
                           credentials=RedisCredentialStore(runtime.redis), clock=runtime.clock,
                           scheduled=scheduled and self.request.retries == 0, keeper=runtime.keeper)
    except RetriableError as exc:
        log.warning("sync interrupted, will resume from checkpoint: %s", exc, extra={"merchant": merchant})
        raise self.retry(countdown=min(300, 15 * 2 ** self.request.retries)) from None
    report = outcome.report
    if report is not None:
        record_pulled(merchant, conn.provider.kind, report.pulled)
        record_transformed(merchant, conn.provider.kind, report.transformed)
        log.info("sync done: %d pulled, %d transformed, %d enqueued", report.pulled, report.transformed,
                 report.enqueued, extra={"merchant": merchant})
    else:
        log.info("sync not run: %s %s", outcome.status, outcome.reason, extra={"merchant": merchant})
    return {"status": outcome.status, "pulled": report.pulled if report else 0}


@app.task(name=BALANCE_TASK, bind=True, queue=INGEST_QUEUE, autoretry_for=INFRA_ERRORS, retry_backoff=30,
          retry_backoff_max=900, retry_jitter=True, max_retries=10)
def balance_sync(self: Any, merchant: str, resume: bool = False) -> dict[str, Any]:
    """Every customer's current balance and tier; the diff sync sends only what changed.
    Once per slot (two beats run it once), one at a time under a lease; resumed from its
    checkpoint (``resume``) by the dispatcher soon after a worker running it dies."""
    conn = runtime.connection(merchant)
    slot = int(runtime.clock.now().timestamp() // BALANCE_INTERVAL_S)
    ledger = RedisLedger(runtime.redis)
    if self.request.retries == 0 and not resume and not ledger.claim(keys.lock(f"slot:balances:{merchant}:{slot}"),
                                                                     ttl_s=2 * BALANCE_INTERVAL_S):
        return {"status": "duplicate_slot"}

    def enqueue(platform: str, batch: list[Delivery]) -> None:
        publish(merchant, platform, batch, queue=BULK_QUEUE)

    with held(runtime.leases, "balances", merchant, f"{runtime.worker}:{self.request.id}", clock=runtime.clock,
              keeper=runtime.keeper) as renew:
        if renew is None:
            return {"status": "already_running"}
        report = BulkSync(merchant=merchant, provider=runtime.provider(merchant),
                          platforms=[p.kind for p in conn.platforms], enqueue=enqueue, mapper=runtime.mapper,
                          cursors=RedisCursorStore(runtime.redis), progress=RedisBulkProgress(runtime.redis),
                          clock=runtime.clock, batch_size=runtime.settings.delivery_batch_size, name="balances").run()
    return {"status": "done", "customers": report.customers}
