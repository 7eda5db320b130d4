"""Delivery: one task sends a batch of deliveries to one platform of one merchant.

Platform failures are handled per delivery inside the batch (retry, skip, dead-letter). If
our own infrastructure fails (Redis unreachable), the whole batch is retried: deliveries
already acknowledged are recognised by the ledger and not sent again."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.types import Delivery
from workers.config import INFRA_ERRORS
from workers.app import app, runtime
from workers.config import delivery_queue

log = logging.getLogger(__name__)


@app.task(name="lp.deliver_batch", bind=True, autoretry_for=INFRA_ERRORS, retry_backoff=2, retry_backoff_max=60,
          retry_jitter=True, max_retries=50)
def deliver_batch(self: Any, merchant: str, platform: str, deliveries: list[dict[str, Any]]) -> None:
    batch = [Delivery.from_dict(d) for d in deliveries]
    result = runtime.deliverer(merchant, platform).deliver(batch)
    if result.retry:
        # short countdowns only (capped by DELIVERY_RETRY_MAX_S, far below the visibility timeout)
        deliver_batch.apply_async((merchant, platform, [d.to_dict() for d in result.retry]),
                                  countdown=result.retry_in_s, queue=delivery_queue(platform))
    log.info("batch: %d delivered, %d skipped, %d duplicate, %d dead-lettered, %d to retry in %.1fs",
             result.delivered, result.skipped, result.duplicates, result.dead_lettered, len(result.retry),
             result.retry_in_s, extra={"merchant": merchant, "platform": platform})
