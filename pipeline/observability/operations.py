"""Gauges the alerts of ``deploy/prometheus/alerts.yml`` need that only the connections file
can give meaning to, read from Redis at scrape time (``OperationsCollector``):

* ``lp_sync_lag_seconds{merchant,provider}``: seconds since the last successful pull (the
  newest ``last_success_at`` of the provider's streams; no sample before the first one);
* ``lp_sync_interval_seconds{merchant,provider}``: the configured interval, so a rule can say
  "lag above N × interval" for every connection at once;
* ``lp_connection_paused{merchant,platform,until}``: 1 while a platform connection is paused
  (``until`` is ``recheck`` for a refused credential, ``operator`` for the dead-letter guard),
  0 otherwise: every connected pair has a sample;
* ``lp_provider_credential_failing{merchant,provider}``: 1 while the provider refuses the key;
* ``lp_due_overdue_seconds{platform}``: how long the most overdue batch of the due set has been
  due without being handed out (0 when none is): the age of work nobody picked up.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline import keys
from pipeline.config import Connection
from pipeline.providers.registry import PROVIDERS

__all__ = ["OperationsCollector"]

log = logging.getLogger(__name__)


class OperationsCollector(Collector):
    def __init__(
        self, state: redis.Redis, connections: Mapping[str, Connection], *, now: Callable[[], float] = time.time
    ) -> None:
        self._state = state
        self._connections = connections
        self._now = now
        self._unreadable: set[tuple[str, str]] = set()  # connections whose bad cursor was logged already

    def _last_success_s(self, scope: tuple[str, str], raw: Any) -> float | None:
        """A cursor's ``last_success_at`` as a timestamp; a value that is not a cursor (corrupt, written
        by hand) is skipped and logged once per connection, never failing the scrape."""
        if not raw:
            return None
        try:
            success = json.loads(raw).get("last_success_at")
            return datetime.fromisoformat(success).timestamp() if success else None
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            if scope not in self._unreadable:
                self._unreadable.add(scope)
                log.warning("metrics: unreadable sync cursor of %s/%s skipped (%s)", *scope, type(exc).__name__)
            return None

    def describe(self) -> list[Any]:
        return []  # never touch Redis at registration

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now_s = self._now()
        merchants = sorted(self._connections.items())
        platforms = sorted({p.kind for _, c in merchants for p in c.platforms})
        pipe = self._state.pipeline(transaction=False)
        cursors: list[tuple[str, str]] = []
        for merchant, conn in merchants:
            for stream in PROVIDERS[conn.provider.kind].streams:
                pipe.get(keys.cursor(merchant, conn.provider.kind, stream))
                cursors.append((merchant, conn.provider.kind))
        for merchant, conn in merchants:
            pipe.exists(keys.credential(merchant, "provider", conn.provider.kind))
            for account in conn.platforms:
                pipe.hgetall(keys.pause(merchant, account.kind))
        for platform in platforms:
            pipe.zrange(keys.due(platform), 0, 0, withscores=True)
        try:
            answers = iter(pipe.execute())
        except redis.RedisError as exc:  # RedisStateCollector reports lp_redis_up 0; /metrics still answers
            log.warning("metrics: Redis did not answer: %s", type(exc).__name__)
            return

        lag = GaugeMetricFamily(
            "lp_sync_lag_seconds",
            "Seconds since the connection's last successful pull.",
            labels=["merchant", "provider"],
        )
        interval = GaugeMetricFamily(
            "lp_sync_interval_seconds", "The connection's configured sync interval.", labels=["merchant", "provider"]
        )
        newest: dict[tuple[str, str], float] = {}
        for scope in cursors:
            success = self._last_success_s(scope, next(answers))
            if success is not None:
                newest[scope] = max(newest.get(scope, 0.0), success)
        for merchant, conn in merchants:
            scope = (merchant, conn.provider.kind)
            interval.add_metric(list(scope), conn.provider.sync_interval_s)
            if scope in newest:
                lag.add_metric(list(scope), max(0.0, now_s - newest[scope]))
        yield lag
        yield interval

        paused = GaugeMetricFamily(
            "lp_connection_paused",
            "1 while a platform connection is paused (until: "
            "recheck after a refused credential, operator for the dead-letter guard).",
            labels=["merchant", "platform", "until"],
        )
        failing = GaugeMetricFamily(
            "lp_provider_credential_failing", "1 while the provider refuses the key.", labels=["merchant", "provider"]
        )
        for merchant, conn in merchants:
            failing.add_metric([merchant, conn.provider.kind], float(bool(next(answers))))
            for account in conn.platforms:
                pause = next(answers)
                until = "operator" if pause and not pause.get(b"until") else "recheck"
                paused.add_metric([merchant, account.kind, until], 1.0 if pause else 0.0)
        yield paused
        yield failing

        overdue = GaugeMetricFamily(
            "lp_due_overdue_seconds",
            "How long the most overdue batch of the due set has waited to be handed out (0: none).",
            labels=["platform"],
        )
        for platform in platforms:
            oldest = next(answers)
            overdue.add_metric([platform], max(0.0, now_s - oldest[0][1]) if oldest else 0.0)
        yield overdue
