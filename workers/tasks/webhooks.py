"""Accepted webhook deliveries, processed off the request path.

The broker message names the delivery (``ref``: its message id); the body waits in the state
Redis (``pipeline.webhooks.replay``), so no personal data travels through the broker or shows
in Flower. Messages queued by an older web process carry the body itself (``body``, ``event``).
When the infrastructure errors outlast every retry, the delivery is quarantined with that
reason (its body in the entry), never acknowledged with nothing left to re-drive it.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from celery import shared_task
from celery.exceptions import Reject
from redis.exceptions import RedisError

from pipeline.observability.metrics import record_webhook_intake
from workers.config import INFRA_ERRORS, WEBHOOK_QUEUE
from workers.current import runtime
from workers.resilience import until_redis_answers

log = logging.getLogger(__name__)


@shared_task(
    name="lp.handle_webhook",
    bind=True,
    queue=WEBHOOK_QUEUE,
    autoretry_for=INFRA_ERRORS,
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=50,
)
def handle_webhook(
    self: Any,
    provider: str,
    merchant: str,
    body: str | None = None,
    event: str | None = None,
    *,
    ref: str | None = None,
) -> str:
    def run() -> str:
        intake = runtime().webhook_intake(merchant, runtime().enqueue_for(merchant))
        if ref is None:
            return intake.process(body or "", event=event)
        guard = runtime().replay_guard
        # with a body, confirmed in the same step: durably queued, later attempts are duplicates
        stored = guard.load_and_confirm(provider, merchant, ref)
        if stored is None:
            if guard.is_done(provider, merchant, ref):
                return "already_processed"  # a redelivered (or second) message: processed, its body deleted
            return intake.missing_body(ref, abandoned=guard.was_abandoned(provider, merchant, ref))
        outcome = intake.process(stored.body, event=stored.event)
        try:
            guard.finish(provider, merchant, ref)
        except RedisError as exc:  # handed over already: running again would hand it over twice
            log.warning(
                "webhook body not released (%s); it expires on its own",
                type(exc).__name__,
                extra={"merchant": merchant, "provider": provider},
            )
        return outcome

    def give_up(exc: BaseException) -> str:
        reason = (
            f"not processed after {self.request.retries + 1} attempts: {type(exc).__name__} "
            "(our infrastructure kept failing); re-drive it once that is fixed"
        )
        intake = runtime().webhook_intake(merchant, runtime().enqueue_for(merchant))
        if ref is None:
            return intake.give_up(body or "", event=event, message_id=None, reason=reason)
        guard = runtime().replay_guard
        stored = guard.load(provider, merchant, ref)
        if stored is None:
            return (
                "already_processed"
                if guard.is_done(provider, merchant, ref)
                else intake.missing_body(ref, abandoned=guard.was_abandoned(provider, merchant, ref))
            )
        outcome = intake.give_up(stored.body, event=stored.event, message_id=ref, reason=reason)
        guard.finish(provider, merchant, ref)  # kept in the quarantine entry now
        return outcome

    try:
        outcome = until_redis_answers(run)
    except INFRA_ERRORS as exc:
        if self.max_retries is None or self.request.retries < self.max_retries:
            raise  # Celery retries it (autoretry_for)
        log.error(
            "webhook retries exhausted (%s): quarantining it",
            type(exc).__name__,
            extra={"merchant": merchant, "provider": provider},
        )
        try:
            outcome = until_redis_answers(partial(give_up, exc))
        except INFRA_ERRORS as again:  # not even that: back to the queue, never acknowledged and lost
            raise Reject(f"could not quarantine ({type(again).__name__})", requeue=True) from again
    if outcome == "quarantined":
        record_webhook_intake(provider, "quarantined")
    log.info("webhook %s", outcome, extra={"merchant": merchant, "provider": provider})
    return outcome
