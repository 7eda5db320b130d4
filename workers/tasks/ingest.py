"""Scheduled ingest: one task runs the incremental sync of one merchant's provider."""

from __future__ import annotations

import logging
from typing import Any

from redis.exceptions import LockError

from pipeline import keys
from pipeline.errors import RetriableError
from pipeline.types import Delivery
from workers.app import app, runtime
from workers.config import INFRA_ERRORS, INGEST_QUEUE, delivery_queue
from workers.schedule import SYNC_TASK
from workers.tasks.deliver import deliver_batch

log = logging.getLogger(__name__)

#: A sync holding the lock longer than this is presumed dead and the lock expires.
SYNC_LOCK_TIMEOUT_S = 900


@app.task(name=SYNC_TASK, bind=True, queue=INGEST_QUEUE, max_retries=5, autoretry_for=INFRA_ERRORS,
          retry_backoff=5, retry_backoff_max=300, retry_jitter=True)
def sync_connection(self: Any, merchant: str) -> dict[str, Any] | None:
    lock = runtime.redis.lock(keys.lock(f"sync:{merchant}"), timeout=SYNC_LOCK_TIMEOUT_S, blocking=False)
    if not lock.acquire():
        log.info("sync already running, skipped", extra={"merchant": merchant})
        return None

    def enqueue(platform: str, batch: list[Delivery]) -> None:
        deliver_batch.apply_async((merchant, platform, [d.to_dict() for d in batch]), queue=delivery_queue(platform))

    try:
        report = runtime.ingestor(merchant, enqueue).sync()
    except RetriableError as exc:
        log.warning("sync interrupted, will resume from checkpoint: %s", exc, extra={"merchant": merchant})
        raise self.retry(countdown=min(300, 15 * 2 ** self.request.retries)) from None
    finally:
        try:
            lock.release()
        except LockError:  # expired while we ran; the next sync takes a fresh one
            pass
    log.info("sync done: %d pulled, %d transformed, %d enqueued", report.pulled, report.transformed,
             report.enqueued, extra={"merchant": merchant})
    return {"pulled": report.pulled, "enqueued": report.enqueued}
