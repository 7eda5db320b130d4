"""The ``web`` process: ``gunicorn -c python:workers.gunicorn_conf workers.web:application``.

Two listeners (``workers.listeners``, bound by ``workers.gunicorn_conf``), one callable that
routes by the listener a request came in on:

* public (``$PORT``): ``POST /webhooks/<provider>/<merchant>`` and ``GET /healthz``;
* operational (``$OPS_HOST:$OPS_PORT``, loopback by default): ``GET /metrics`` (Prometheus text:
  this process's metrics and the Redis-backed gauges, collected at most every
  ``METRICS_CACHE_S`` seconds from the keys the connections file implies, never a keyspace SCAN)
  and ``GET /readyz`` (``{"warnings": [...]}``; 503 if Redis does not answer).

``WEBHOOK_READ_TIMEOUT_S`` (default 20) bounds the time a client may take to send its body.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from pipeline import keys
from pipeline.observability import web_routes
from pipeline.observability.metrics import record_webhook_intake
from pipeline.providers.registry import WEBHOOK_SCHEMES
from pipeline.webhooks.receiver import by_listener, make_app, ops_app
from workers.app import runtime
from workers.config import queue_names
from workers.listeners import listeners
from workers.tasks.webhooks import handle_webhook

__all__ = ["application"]

READ_TIMEOUT_S = runtime.settings.webhook_read_timeout_s
METRICS_CACHE_S = runtime.settings.metrics_cache_s
REDIS_TIMEOUT_S = 5.0


def _accept(provider: str, merchant: str, message_id: str) -> None:
    # the message carries the id only: the body (personal data) waits in Redis (pipeline.webhooks.replay).
    # One retry (a broker connection dropped since the last request): each attempt waits at most
    # BROKER_SOCKET_TIMEOUT_S, so a frozen broker is a 503 in ~2 × 5 s, inside Okendo's 15 s deadline.
    handle_webhook.apply_async(
        (provider, merchant),
        {"ref": message_id},
        retry=True,
        retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5},
    )


def _read_deadline() -> AbstractContextManager[Any]:
    """A ``gevent.Timeout`` on the body read under the gevent worker; nothing otherwise."""
    try:
        from gevent import Timeout, monkey
    except ImportError:
        return nullcontext()
    if not monkey.is_module_patched("socket"):
        return nullcontext()
    return Timeout(READ_TIMEOUT_S, TimeoutError(f"body not received within {READ_TIMEOUT_S:g}s"))  # type: ignore[no-any-return]  # gevent is untyped


def _known_keys() -> Iterator[str]:
    """The DLQ, quarantine and stats keys of the configured merchants (listed, not scanned)."""
    for merchant, conn in runtime.connections.items():
        yield keys.stats(merchant)
        for platform in conn.platforms:
            yield keys.dlq(merchant, platform.kind)
    for provider in sorted({c.provider.kind for c in runtime.connections.values()} | set(WEBHOOK_SCHEMES)):
        yield keys.quarantine(provider)


#: The replay guard's own client (Runtime.web_replay_guard): REDIS_TIMEOUT_S is well inside a sender's
#: deadline (Okendo: 15 s).
_public = make_app(
    resolve=runtime.webhook_endpoint,
    accept=_accept,
    replays=runtime.web_replay_guard(REDIS_TIMEOUT_S),
    clock=runtime.clock,
    observe=record_webhook_intake,
    read_deadline=_read_deadline,
)
_ops = ops_app(
    web_routes(
        state=runtime.redis,
        broker=runtime.broker_redis(),
        queues=queue_names(),
        known_keys=_known_keys,
        cache_s=METRICS_CACHE_S,
        connections=runtime.connections,
    )
)
application = by_listener(_public, _ops, listeners().ops_port)
