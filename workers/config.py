"""Celery configuration, derived from ``Settings``. Hardened per research/anchors.md §c."""

from __future__ import annotations

from typing import Any

from kombu import Exchange, Queue
from redis.exceptions import RedisError

from pipeline.destinations.registry import PLATFORM_SPECS
from pipeline.destinations.spec import delivery_queue
from pipeline.redisurl import broker_options
from pipeline.settings import Settings
from pipeline.state.locks import LockTimeout

__all__ = [
    "BROKER_SOCKET_TIMEOUT_S",
    "BULK_QUEUE",
    "INFRA_ERRORS",
    "INGEST_QUEUE",
    "WEBHOOK_QUEUE",
    "celery_config",
    "delivery_queue",
    "queue_names",
]

INGEST_QUEUE = "ingest"
#: Accepted webhooks: short tasks, kept apart from long syncs so they are handled promptly.
WEBHOOK_QUEUE = "webhooks"
#: Bulk (initial) syncs' deliveries: their own low-priority pool, so live events keep flowing.
BULK_QUEUE = "bulk"
#: Celery's Redis transport redelivers unacknowledged messages after this: it must exceed
#: the longest task plus the longest countdown we ever set.
VISIBILITY_TIMEOUT_S = 1800
#: Every broker command waits at most this long (kombu's Redis transport: ``socket_timeout``,
#: ``socket_connect_timeout``; its default is forever). A half-open broker then fails a publish
#: instead of holding the caller: the web process answers 503 (``workers.web``). It must exceed
#: kombu's BRPOP server timeout (``brpop_timeout``, 1 s), or the workers' blocking reads would fail.
BROKER_SOCKET_TIMEOUT_S = 5.0
#: Failures of our own infrastructure: the whole task is retried (Celery acknowledges a task
#: that raised, so without a retry its message would be gone).
INFRA_ERRORS: tuple[type[Exception], ...] = (RedisError, ConnectionError, LockTimeout)


def queue_names() -> list[str]:
    return [INGEST_QUEUE, WEBHOOK_QUEUE, BULK_QUEUE, *(s.queue for s in PLATFORM_SPECS)]


def celery_config(settings: Settings) -> dict[str, Any]:
    # a sentinel:// BROKER_URL becomes kombu's Sentinel transport (master_name, sentinel_kwargs)
    broker = broker_options(settings.broker_url)
    return {
        **broker,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {
            **broker["broker_transport_options"],
            "visibility_timeout": VISIBILITY_TIMEOUT_S,
            "socket_timeout": BROKER_SOCKET_TIMEOUT_S,
            "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_S,
            # every task in flight acknowledges through this pool (kombu's default, 10, makes the
            # 11th concurrent ack fail: "Couldn't ack ... MaxConnectionsError")
            "max_connections": settings.redis_max_connections,
        },
        # each queue its own direct exchange and routing key: a message goes to exactly one queue
        # (a bare Queue(name) binds to the default exchange and key, so every queue gets every message)
        "task_queues": [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in queue_names()],
        "task_default_queue": INGEST_QUEUE,
        "task_serializer": "json",
        "accept_content": ["json"],
        "task_ignore_result": True,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_acks_on_failure_or_timeout": True,
        "task_time_limit": 1500,  # below the visibility timeout: a message is never redelivered while
        "task_soft_time_limit": 1400,  # its task still runs; a sync cut here resumes from its checkpoint
        "worker_prefetch_multiplier": 1,
        "worker_disable_rate_limits": True,
        "worker_hijack_root_logger": False,
        "timezone": "UTC",
        "enable_utc": True,
        # any number of beats may run: one leads under a lease, the others stand by (workers/beat.py)
        "beat_scheduler": "workers.beat:LeasedScheduler",
        "beat_max_loop_interval": 3,
    }
