"""Delivery: one task sends a batch of deliveries to one platform of one merchant.

Platform failures are handled per delivery inside the batch (retry, skip, dead-letter).
Deliveries to retry or deferred by the rate limiter go to the due set in Redis (never a
Celery countdown), and ``release_due`` (beat, every second, and after every batch) puts
them back on the platform's queue when their time comes. If our own infrastructure fails
(Redis unreachable), the task waits for it (``until_redis_answers``) with its message
unacknowledged; acknowledged deliveries are recognised by the ledger and not sent again."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.config import PLATFORM_DEFAULTS
from pipeline.observability.metrics import record_batch
from pipeline.types import Delivery
from workers.app import app, runtime
from workers.config import INFRA_ERRORS, delivery_queue
from workers.resilience import until_redis_answers

log = logging.getLogger(__name__)

#: Due batches moved back to the queues per call.
RELEASE_LIMIT = 200


@app.task(name="lp.deliver_batch", bind=True, autoretry_for=INFRA_ERRORS, retry_backoff=2, retry_backoff_max=60,
          retry_jitter=True, max_retries=50)
def deliver_batch(self: Any, merchant: str, platform: str, deliveries: list[dict[str, Any]]) -> None:
    batch = [Delivery.from_dict(d) for d in deliveries]
    result = until_redis_answers(lambda: runtime.deliverer(merchant, platform).deliver(batch))
    record_batch(merchant, platform, result)
    now_s = runtime.clock.now().timestamp()

    def keep_for_later() -> None:
        if result.retry:
            runtime.due.schedule(merchant, platform, result.retry, due_at_s=now_s + result.retry_in_s)
        if result.deferred:
            runtime.due.schedule(merchant, platform, result.deferred, due_at_s=now_s + result.defer_s)

    until_redis_answers(keep_for_later)
    log.info("batch: %d delivered, %d skipped, %d unchanged, %d duplicate, %d dead-lettered, %d to retry, "
             "%d deferred", result.delivered, result.skipped, result.unchanged, result.duplicates,
             result.dead_lettered, len(result.retry), len(result.deferred),
             extra={"merchant": merchant, "platform": platform})
    release(platform)


def release(platform: str) -> int:
    """Move due batches of ``platform`` back onto its queue (at least once)."""
    moved = 0
    for due in runtime.due.release(platform, now_s=runtime.clock.now().timestamp(), limit=RELEASE_LIMIT):
        deliver_batch.apply_async((due.merchant, due.platform, [d.to_dict() for d in due.deliveries]),
                                  queue=delivery_queue(platform))
        runtime.due.done(platform, due)
        moved += 1
    return moved


@app.task(name="lp.release_due", autoretry_for=INFRA_ERRORS, max_retries=3)
def release_due() -> int:
    return sum(release(platform) for platform in PLATFORM_DEFAULTS)
