"""The web process's Redis gauges without a keyspace walk, and at most one collection per
``ttl_s`` (issue 12: /metrics scanned 500k keys three times per scrape, 1.7 s)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from pipeline import keys
from pipeline.observability.health import beat_heartbeat, heartbeat_ages
from pipeline.observability.metrics import CachedCollector, RedisStateCollector
from pipeline.state.counters import RedisCounters
from pipeline.state.journal import RedisJournal

pytestmark = [pytest.mark.redis]


class Spy:
    """A Redis client that records the commands sent through it (pipelines included)."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._client, name)


def _samples(collector: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for family in collector.collect() for s in family.samples}


def test_known_keys_replace_every_scan(real_redis: redis.Redis) -> None:
    for i in range(2_000):  # unrelated keys: a SCAN would walk them all
        real_redis.set(f"other:{i}", 1)
    RedisJournal(real_redis).append(keys.dlq("shop", "postscript"), {"x": 1})
    RedisJournal(real_redis).append(keys.quarantine("okendo"), {"x": 1})
    RedisCounters(real_redis).add("shop", {"delivered": 3})
    beat_heartbeat(real_redis, "celery@w1", now_s=time.time() - 2)
    spy = Spy(real_redis)
    known = [keys.dlq("shop", "postscript"), keys.dlq("shop", "klaviyo"), keys.quarantine("okendo"), keys.stats("shop")]
    samples = _samples(RedisStateCollector(spy, known_keys=lambda: known))  # type: ignore[arg-type]
    assert not [c for c in spy.calls if "scan" in c], spy.calls
    assert samples[("lp_dlq_depth", (("merchant", "shop"), ("platform", "postscript")))] == 1
    assert samples[("lp_dlq_depth", (("merchant", "shop"), ("platform", "klaviyo")))] == 0  # known, empty
    assert samples[("lp_quarantine_depth", (("provider", "okendo"),))] == 1
    assert samples[("lp_stats_total", (("counter", "delivered"), ("merchant", "shop")))] == 3
    assert 1 <= samples[("lp_worker_heartbeat_age_seconds", (("worker", "celery@w1"),))] < 60


def test_heartbeat_ages_come_from_one_sorted_set(real_redis: redis.Redis) -> None:
    now = time.time()
    beat_heartbeat(real_redis, "celery@a", now_s=now - 10)
    beat_heartbeat(real_redis, "celery@b", now_s=now - 3)
    beat_heartbeat(real_redis, "celery@old", now_s=now - 3 * 86_400)  # pruned by the next heartbeat
    beat_heartbeat(real_redis, "celery@a", now_s=now - 1)
    spy = Spy(real_redis)
    ages = heartbeat_ages(spy, now_s=now)  # type: ignore[arg-type]
    assert ages == {"celery@a": pytest.approx(1), "celery@b": pytest.approx(3)}
    assert spy.calls == ["zrange"]


class Counting:
    def __init__(self) -> None:
        self.collections = 0

    def collect(self) -> Any:
        self.collections += 1
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("lp_test_collections", "collections so far", value=self.collections)

    def describe(self) -> Any:
        return []


def test_cached_collector_collects_at_most_once_per_ttl() -> None:
    inner, now = Counting(), [100.0]
    cached = CachedCollector(inner, ttl_s=10, monotonic=lambda: now[0])  # type: ignore[arg-type]
    first = [s.value for f in cached.collect() for s in f.samples]
    for _ in range(50):  # a scrape storm within the TTL
        assert [s.value for f in cached.collect() for s in f.samples] == first
    assert inner.collections == 1
    now[0] += 10
    assert [s.value for f in cached.collect() for s in f.samples] == [2.0] and inner.collections == 2
