"""``GET /metrics`` and ``GET /readyz`` of the web process's operational listener, built as ``workers/web.py`` builds it, served
over loopback HTTP against the real Redis."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from redis.backoff import NoBackoff
from redis.retry import Retry

from pipeline import keys
from pipeline.delivery import BatchResult
from pipeline.observability import web_routes
from pipeline.observability.health import beat_heartbeat
from pipeline.observability.metrics import record_batch, record_pulled
from pipeline.state.counters import RedisCounters
from pipeline.state.journal import RedisJournal
from pipeline.webhooks.receiver import ops_app
from tests.support.wsgi import serve
from workers.config import queue_names

pytestmark = [pytest.mark.redis]

MERCHANT = "obs-metrics-merchant"


def _app(state: redis.Redis, broker: redis.Redis | None) -> Any:
    """The operational listener's app, as workers/web.py builds it (without its cache: every scrape reads)."""
    return ops_app(web_routes(state=state, broker=broker, queues=queue_names()))


@pytest.fixture
def web(real_redis: redis.Redis) -> Iterator[httpx.Client]:
    with serve(_app(real_redis, real_redis)) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_reflect_redis_and_recorded_batches(web: httpx.Client, real_redis: redis.Redis) -> None:
    real_redis.rpush("deliver.postscript", "m1", "m2", "m3")
    real_redis.rpush("deliver.postscript\x06\x163", "urgent")  # kombu's list for priority 3
    real_redis.rpush("ingest", "s1")
    journal = RedisJournal(real_redis)
    for i in range(2):
        journal.append(keys.dlq(MERCHANT, "postscript"), {"delivery": i})
    journal.append(keys.dlq(MERCHANT, "klaviyo"), {"delivery": 9})
    journal.append(keys.dlq("jane@example.com", "postscript"), {"delivery": 0})  # never a label value
    for i in range(3):
        journal.append(keys.quarantine("smile"), {"record": i})
    real_redis.zadd(keys.due("attentive"), {"batch-1": 1.0, "batch-2": 2.0})
    beat_heartbeat(real_redis, "celery@worker-1", now_s=time.time() - 5)
    RedisCounters(real_redis).add(MERCHANT, {"delivered": 7, "pulled": 11})
    record_batch(MERCHANT, "postscript", BatchResult(delivered=5, skipped=2, unchanged=1, duplicates=3,
                                                     dead_lettered=1, retry=[object()], deferred=[object()] * 4))
    record_pulled(MERCHANT, "smile", 12)

    response = web.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)

    def value(name: str, **labels: str) -> float | None:
        return samples.get((name, tuple(sorted(labels.items()))))

    assert value("lp_queue_depth", queue="deliver.postscript") == 4
    assert value("lp_queue_depth", queue="ingest") == 1
    assert value("lp_queue_depth", queue="webhooks") == 0
    assert value("lp_dlq_depth", merchant=MERCHANT, platform="postscript") == 2
    assert value("lp_dlq_depth", merchant=MERCHANT, platform="klaviyo") == 1
    assert value("lp_dlq_depth", merchant="invalid", platform="postscript") == 1
    assert value("lp_quarantine_depth", provider="smile") == 3
    assert value("lp_due_batches", platform="attentive") == 2
    assert value("lp_due_batches", platform="postscript") == 0
    assert 4 <= value("lp_worker_heartbeat_age_seconds", worker="celery@worker-1") < 60  # type: ignore[operator]
    assert value("lp_stats_total", merchant=MERCHANT, counter="delivered") == 7
    assert value("lp_redis_up") == 1
    expected = {"delivered": 5, "skipped": 2, "unchanged": 1, "duplicate": 3, "dead_lettered": 1, "retried": 1,
                "deferred": 4}
    assert {o: value("lp_deliveries_total", merchant=MERCHANT, platform="postscript", outcome=o)
            for o in expected} == expected
    assert value("lp_records_pulled_total", merchant=MERCHANT, provider="smile") == 12
    assert "jane" not in response.text and "@example.com" not in response.text


def test_metrics_without_redis_still_answer() -> None:
    dead = _dead_redis()
    with serve(_app(dead, dead)) as url:
        response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert _samples(response.text)[("lp_redis_up", ())] == 0


def test_metrics_with_the_connection_gauges_without_redis_still_answer() -> None:
    from pipeline.config import parse_connections

    connections = parse_connections({"merchants": {"acme": {
        "provider": {"kind": "smile", "base_url": "http://127.0.0.1:9/v1", "credential_env": "A"},
        "platforms": [{"kind": "postscript", "base_url": "http://127.0.0.1:9", "credential_env": "B"}]}}},
        source="test", env={}, require_secrets=False)
    dead = _dead_redis()
    # as workers/web.py builds it: the per-connection gauges too
    with serve(ops_app(web_routes(state=dead, broker=dead, queues=queue_names(), connections=connections))) as url:
        response = httpx.get(f"{url}/metrics", timeout=10)
    assert response.status_code == 200
    assert _samples(response.text)[("lp_redis_up", ())] == 0


def test_readyz_warns_about_the_test_redis_persistence(web: httpx.Client) -> None:
    response = web.get("/readyz")
    assert response.status_code == 200
    warnings = response.json()["warnings"]
    assert any(w.startswith("persistence is off") for w in warnings), warnings


def test_readyz_is_503_when_redis_does_not_answer() -> None:
    dead = _dead_redis()
    with serve(_app(dead, None)) as url:
        response = httpx.get(f"{url}/readyz", timeout=10)
    assert response.status_code == 503
    assert response.json()["error"].startswith("redis does not answer")


def _dead_redis() -> redis.Redis:
    return redis.Redis(port=_closed_port(), socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
