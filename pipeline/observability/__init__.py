"""Observability: metrics (``metrics``), error reports (``sentry``), logs (``logs``) and
health (``health``). Nothing here imports Celery; ``workers/observability.py`` wires it in.

Importing this package imports nothing heavy: ``pipeline.logs`` re-exports from
``pipeline.observability.logs`` and must stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

__all__ = ["web_routes"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def web_routes(*, state: redis.Redis, broker: redis.Redis | None = None, queues: Sequence[str] = (),
               known_keys: Callable[[], Iterable[str]] | None = None, cache_s: float = 0.0) -> dict[str, WSGIApp]:
    """The GET routes of the web process: ``/metrics`` (Prometheus text) and ``/readyz``.

    Args:
        state: the state Redis (DLQ, quarantine, due set, heartbeats, stats).
        broker: the broker's Redis, for queue depths (``LLEN``); None when the broker is not Redis.
        queues: the Celery queue names to report (``workers.config.queue_names()``).
        known_keys: the DLQ, quarantine and stats keys to report, instead of SCANning for them.
        cache_s: collect the Redis gauges at most this often (0: at every scrape).
    """
    from pipeline.observability.health import readyz_app
    from pipeline.observability.metrics import CachedCollector, RedisStateCollector, metrics_app

    collector: Any = RedisStateCollector(state, broker=broker, queues=queues, known_keys=known_keys)
    if cache_s > 0:
        collector = CachedCollector(collector, ttl_s=cache_s)
    return {"/metrics": metrics_app(collector), "/readyz": readyz_app(state, broker=broker)}
