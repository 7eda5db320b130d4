"""Delivery: one task sends a batch of deliveries to one platform of one merchant.

Every batch lives in the due set (pipeline/state/due.py) from ``publish`` until the task that
sends it calls ``finish``; the Celery message only says "this batch, now". The worker leases
the batch while it holds the message (workers/leases.py renews the lease), so a batch whose
worker was SIGKILLed is handed out again by the workers' dispatcher within seconds, not when the
broker's visibility timeout ends; a late copy of a finished batch's message does nothing.

Platform failures are handled per delivery inside the batch (retry, skip, dead-letter).
Deliveries to retry or deferred by the rate limiter become follow-up batches in the due set,
in the same transaction that finishes this one (never a Celery countdown); ``release`` (every
worker's dispatcher, every second: workers/dispatch.py; and after every batch) puts them back on
the platform's queue when their time comes. If Redis is unreachable, the task waits for it
(``until_redis_answers``) with its message unacknowledged; acknowledged deliveries are
recognised by the ledger and not sent again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

from celery import shared_task

from pipeline.config import PLATFORM_DEFAULTS
from pipeline.delivery.lanes import Lanes
from pipeline.observability.metrics import record_batch
from pipeline.state.due import HANDOVER_LEASE_S, QUEUED_LEASE_S, RUN_LEASE_S, Hold
from pipeline.types import Delivery
from workers.config import INFRA_ERRORS, delivery_queue
from workers.current import runtime
from workers.resilience import until_redis_answers

log = logging.getLogger(__name__)

#: Due batches moved back to the queues per call.
RELEASE_LIMIT = 200
#: Batches of one (merchant, platform) sending at once in this process (pipeline/delivery/lanes.py):
#: two windows of requests in flight cover a connection's rate limit at the latencies platforms answer with.
LANES = Lanes(per_key=1)


def publish(merchant: str, platform: str, deliveries: Sequence[Delivery], *, queue: str | None = None) -> None:
    """Hand ``deliveries`` to a worker: into the due set, onto the queue, then leased while queued.
    If this process dies before the publish, the short first lease ends and a dispatcher sends it."""
    if not deliveries:
        return
    queue = queue or delivery_queue(platform)
    now_s = runtime().clock.now().timestamp()
    batch = runtime().due.add(merchant, platform, deliveries, queue=queue, due_at_s=now_s + HANDOVER_LEASE_S)
    assert batch is not None
    deliver_batch.apply_async(
        (merchant, platform, batch.encoded),
        {"batch_id": batch.id},
        queue=queue,
        **_reprs(merchant, platform, len(deliveries), batch.id),
    )
    runtime().due.queued(platform, [batch.id], until_s=now_s + QUEUED_LEASE_S)


def _reprs(merchant: str, platform: str, n: int, batch_id: str) -> dict[str, str]:
    """What Celery shows of a batch message (its own repr of 100 deliveries costs ~12 % of an
    ingest page's CPU, and would show customers' emails wherever it is logged)."""
    return {
        "argsrepr": f"({merchant!r}, {platform!r}, <{n} deliveries>)",
        "kwargsrepr": f"{{'batch_id': {batch_id!r}}}",
    }


@shared_task(
    name="lp.deliver_batch",
    bind=True,
    autoretry_for=INFRA_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=50,
)
def deliver_batch(
    self: Any, merchant: str, platform: str, deliveries: list[dict[str, Any]], batch_id: str | None = None
) -> None:
    now_s = runtime().clock.now().timestamp()
    if batch_id is not None:
        (state,) = until_redis_answers(
            lambda: runtime().due.hold(
                platform, [(batch_id, self.request.id)], now_s=now_s, until_s=now_s + RUN_LEASE_S
            )
        )
        if state in (Hold.DONE, Hold.BUSY):
            log.info(
                "batch %s: this copy of its message does nothing",
                "already finished" if state is Hold.DONE else "held by another message",
                extra={"merchant": merchant, "platform": platform},
            )
            return
    batch = [Delivery.from_dict(d) for d in deliveries]
    with LANES.hold((merchant, platform)):  # the batch's lease is renewed while it waits (workers/leases.py)
        result = until_redis_answers(lambda: runtime().deliverer(merchant, platform).deliver(batch, owner=batch_id))
    record_batch(merchant, platform, result)
    now_s = runtime().clock.now().timestamp()
    then = [(result.retry, now_s + result.retry_in_s), (result.deferred, now_s + result.defer_s)]
    queue = self.request.delivery_info.get("routing_key") if self.request.delivery_info else None
    if batch_id is not None:
        until_redis_answers(lambda: runtime().due.finish(platform, batch_id, merchant=merchant, then=then, queue=queue))
    else:  # a message published before batches were kept in the due set
        for follow_up, due_at_s in then:
            until_redis_answers(
                partial(runtime().due.add, merchant, platform, follow_up, due_at_s=due_at_s, queue=queue)
            )
    log.info(
        "batch: %d delivered, %d skipped, %d unchanged, %d duplicate, %d dead-lettered, %d to retry, %d deferred",
        result.delivered,
        result.skipped,
        result.unchanged,
        result.duplicates,
        result.dead_lettered,
        len(result.retry),
        len(result.deferred),
        extra={"merchant": merchant, "platform": platform},
    )
    release(platform)


def release(platform: str) -> int:
    """Put the due batches of ``platform`` back on their queue (leased while queued)."""
    now_s = runtime().clock.now().timestamp()
    released = runtime().due.release(platform, now_s=now_s, limit=RELEASE_LIMIT)
    for due in released:
        deliver_batch.apply_async(
            (due.merchant, due.platform, due.encoded or [d.to_dict() for d in due.deliveries]),
            {"batch_id": due.id},
            queue=due.queue or delivery_queue(platform),
            **_reprs(due.merchant, due.platform, len(due.deliveries), due.id),
        )
    runtime().due.queued(platform, [b.id for b in released], until_s=now_s + QUEUED_LEASE_S)
    return len(released)


@shared_task(name="lp.release_due", autoretry_for=INFRA_ERRORS, max_retries=3)
def release_due() -> int:
    """Kept for messages sent by an older beat; the workers' dispatcher does this now."""
    return sum(release(platform) for platform in PLATFORM_DEFAULTS)
