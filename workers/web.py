"""The ``web`` process: the webhook endpoint as a WSGI app (``gunicorn workers.web:application``).

Besides ``POST /webhooks/<provider>/<merchant>`` and ``GET /healthz`` it serves
``GET /metrics`` (Prometheus text: this process's metrics and the Redis-backed gauges, read at
scrape time) and ``GET /readyz`` (``{"warnings": [...]}``; 503 if Redis does not answer).
"""

from __future__ import annotations

from urllib.parse import urlparse

import redis

from pipeline.observability import web_routes
from pipeline.redisurl import connect
from pipeline.state.ledger import RedisLedger
from pipeline.webhooks.receiver import make_app
from workers.app import runtime
from workers.config import queue_names
from workers.tasks.webhooks import handle_webhook

__all__ = ["application"]


def _accept(provider: str, merchant: str, body: str, event: str | None = None) -> None:
    handle_webhook.apply_async((provider, merchant, body, event), retry=True,
                               retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5})


def _broker_redis() -> redis.Redis | None:
    """The broker's Redis, for queue depths (None when the broker is not Redis)."""
    url = runtime.settings.broker_url
    if url == runtime.settings.redis_url:
        return runtime.redis
    if urlparse(url.split(";")[0]).scheme in ("redis", "rediss", "unix", "sentinel"):
        return connect(url, socket_timeout=5, socket_connect_timeout=5)
    return None


application = make_app(resolve=runtime.webhook_endpoint, accept=_accept, replays=RedisLedger(runtime.redis),
                       clock=runtime.clock,
                       extra_routes=web_routes(state=runtime.redis, broker=_broker_redis(), queues=queue_names(),
                                                connections=runtime.connections))
