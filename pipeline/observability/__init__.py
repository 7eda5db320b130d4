"""Observability: metrics (``metrics``), error reports (``sentry``), logs (``logs``) and
health (``health``). Nothing here imports Celery; ``workers/observability.py`` wires it in.

Importing this package imports nothing heavy: ``pipeline.logs`` re-exports from
``pipeline.observability.logs`` and must stay cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import redis

__all__ = ["web_routes"]

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def web_routes(
    *,
    state: redis.Redis,
    broker: redis.Redis | None = None,
    queues: Sequence[str] = (),
    known_keys: Callable[[], Iterable[str]] | None = None,
    cache_s: float = 0.0,
    connections: Mapping[str, Any] | None = None,
) -> dict[str, WSGIApp]:
    """The GET routes of the web process: ``/metrics`` (Prometheus text) and ``/readyz``.

    Args:
        state: the state Redis (DLQ, quarantine, due set, heartbeats, stats).
        broker: the broker's Redis, for queue depths (``LLEN``); None when the broker is not Redis.
        queues: the Celery queue names to report (``workers.config.queue_names()``).
        known_keys: the DLQ, quarantine and stats keys to report, instead of SCANning for them.
        cache_s: collect the Redis gauges at most this often (0: at every scrape).
        connections: the connections file, for the per-connection gauges (sync lag, pauses, ...:
            ``pipeline.observability.operations``); None leaves them out.
    """
    from pipeline.observability.health import readyz_app
    from pipeline.observability.metrics import CachedCollector, RedisStateCollector, metrics_app

    collector: Any = RedisStateCollector(state, broker=broker, queues=queues, known_keys=known_keys)
    collectors: list[Any] = [collector]
    if connections is not None:
        from pipeline.observability.operations import OperationsCollector

        collectors.append(OperationsCollector(state, connections))
    if cache_s > 0:
        collectors = [CachedCollector(c, ttl_s=cache_s) for c in collectors]
    return {"/metrics": metrics_app(*collectors), "/readyz": readyz_app(state, broker=broker)}
