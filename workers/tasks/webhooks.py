"""Accepted webhook deliveries, processed off the request path."""

from __future__ import annotations

import logging
from typing import Any

from pipeline.types import Delivery
from workers.app import app, runtime
from workers.config import INFRA_ERRORS, WEBHOOK_QUEUE
from workers.tasks.deliver import publish
from workers.resilience import until_redis_answers

log = logging.getLogger(__name__)


@app.task(name="lp.handle_webhook", bind=True, queue=WEBHOOK_QUEUE, autoretry_for=INFRA_ERRORS, retry_backoff=2,
          retry_backoff_max=60, retry_jitter=True, max_retries=50)
def handle_webhook(self: Any, provider: str, merchant: str, body: str, event: str | None = None) -> str:
    def enqueue(platform: str, batch: list[Delivery]) -> None:
        publish(merchant, platform, batch)

    outcome = until_redis_answers(lambda: runtime.webhook_intake(merchant, enqueue).process(body, event=event))
    log.info("webhook %s", outcome, extra={"merchant": merchant, "provider": provider})
    return outcome
