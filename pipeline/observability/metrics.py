"""Prometheus metrics: every name in one place (documented in ``docs/metrics.md``).

Two kinds:

* **Process-local** counters and histograms (``prometheus_client``'s default registry),
  recorded where the work happens: ``record_batch``, ``record_pulled``,
  ``record_transformed``, ``observe_latency``, ``observe_limiter_wait``. Each worker process
  serves its own (``METRICS_PORT``); Prometheus sums them across processes.
* **Redis-backed** gauges, read at scrape time by ``RedisStateCollector`` (so they are fresh
  and the same from any process): Celery queue depths, dead-letter and quarantine stream
  lengths, due batches, worker heartbeat ages and the per-merchant totals of ``lp:stats``.
  The web process serves them on ``GET /metrics``.

Label values are merchant ids, provider and platform kinds, queue and worker names: never
personal data. ``_label`` enforces it: a value that does not look like an id (an email, a
phone number, free text) is reported as ``invalid``.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import redis
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pipeline import keys
from pipeline.config import PLATFORM_DEFAULTS
from pipeline.observability.health import heartbeat_ages

__all__ = [
    "DELIVERIES",
    "DELIVERY_LATENCY",
    "ITEMS_TRANSFORMED",
    "LIMITER_WAIT",
    "OUTCOMES",
    "RECORDS_PULLED",
    "RedisStateCollector",
    "exposition",
    "metrics_app",
    "observe_latency",
    "observe_limiter_wait",
    "record_batch",
    "record_pulled",
    "record_transformed",
]

log = logging.getLogger(__name__)

#: ``lp_deliveries_total`` outcomes. Every delivery ends once as delivered, skipped, unchanged,
#: duplicate or dead_lettered; retried and deferred count the times one had to wait; resent, the
#: sends repeated because the worker sending them died (a possible duplicate where the platform
#: has no idempotency key).
OUTCOMES = ("delivered", "skipped", "unchanged", "duplicate", "dead_lettered", "retried", "deferred", "resent")

RECORDS_PULLED = Counter("lp_records_pulled", "Provider records read by syncs and webhooks.", ["merchant", "provider"])
ITEMS_TRANSFORMED = Counter(
    "lp_items_transformed", "Events and profile updates made from provider records.", ["merchant", "provider"]
)
DELIVERIES = Counter("lp_deliveries", "Deliveries handled, by outcome.", ["merchant", "platform", "outcome"])
DELIVERY_LATENCY = Histogram(
    "lp_delivery_latency_seconds",
    "Duration of one request to a messaging platform.",
    ["platform"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LIMITER_WAIT = Histogram(
    "lp_limiter_wait_seconds",
    "Time spent waiting for the shared rate limiter per request.",
    ["kind"],
    buckets=(0, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}")
#: kombu's Redis transport keeps priority messages in ``<queue>\x06\x16<priority>`` lists.
_PRIORITY_SEP, _PRIORITY_STEPS = "\x06\x16", (3, 6, 9)


def _label(value: object, *, worker: bool = False) -> str:
    """``value`` if it looks like an id (no ``@``, ``+``, spaces), else ``invalid``. Worker
    names (``celery@host``) may hold one ``@``."""
    text = str(value)
    if worker and text.count("@") == 1:
        name, _, host = text.partition("@")
        return text if _LABEL.fullmatch(name) and _LABEL.fullmatch(host) else "invalid"
    return text if _LABEL.fullmatch(text) else "invalid"


def record_batch(merchant: str, platform: str, result: Any) -> None:
    """Count one delivery batch's outcomes. ``result`` is a ``pipeline.delivery.BatchResult``
    or anything with its attributes (``delivered``, ``skipped``, ``unchanged``,
    ``duplicates``, ``dead_lettered``: ints; ``retry``, ``deferred``: lists)."""
    counts = {
        "delivered": getattr(result, "delivered", 0),
        "skipped": getattr(result, "skipped", 0),
        "unchanged": getattr(result, "unchanged", 0),
        "duplicate": getattr(result, "duplicates", 0),
        "dead_lettered": getattr(result, "dead_lettered", 0),
        "retried": len(getattr(result, "retry", ()) or ()),
        "deferred": len(getattr(result, "deferred", ()) or ()),
        "resent": getattr(result, "resumed", 0),
    }
    m, p = _label(merchant), _label(platform)
    for outcome, n in counts.items():
        DELIVERIES.labels(merchant=m, platform=p, outcome=outcome).inc(max(0, int(n)))


def record_pulled(merchant: str, provider: str, n: int) -> None:
    RECORDS_PULLED.labels(merchant=_label(merchant), provider=_label(provider)).inc(max(0, n))


def record_transformed(merchant: str, provider: str, n: int) -> None:
    ITEMS_TRANSFORMED.labels(merchant=_label(merchant), provider=_label(provider)).inc(max(0, n))


def observe_latency(platform: str, seconds: float) -> None:
    DELIVERY_LATENCY.labels(platform=_label(platform)).observe(max(0.0, seconds))


def observe_limiter_wait(kind: str, seconds: float) -> None:
    LIMITER_WAIT.labels(kind=_label(kind)).observe(max(0.0, seconds))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStateCollector(Collector):
    """Gauges read from Redis at every scrape.

    Args:
        state: the Redis of the pipeline's state (DLQ, quarantine, due sets, heartbeats, stats).
        broker: the broker's Redis, for queue depths; None to leave them out.
        queues: Celery queue names (``workers.config.queue_names()``).
        max_keys: at most this many keys per SCAN pattern (a bound on scrape time).
    """

    def __init__(
        self,
        state: redis.Redis,
        *,
        broker: redis.Redis | None = None,
        queues: Sequence[str] = (),
        platforms: Sequence[str] = tuple(PLATFORM_DEFAULTS),
        max_keys: int = 10_000,
        scan_count: int = 1_000,
        now: Callable[[], float] | None = None,
        known_keys: Callable[[], Iterable[str]] | None = None,
    ) -> None:
        self._known_keys = known_keys  # the keys the configuration implies: listed instead of a SCAN
        self._state = state
        self._broker = broker
        self._queues = tuple(queues)
        self._platforms = tuple(platforms)
        self._max_keys = max_keys
        self._scan_count = scan_count
        self._now = now

    def describe(self) -> Iterable[Any]:
        return []  # nothing to check at registration; never touch Redis then

    def _scan(self, pattern: str, type_: str) -> list[str]:
        if self._known_keys is not None:  # no keyspace walk: SCAN reads every key, whatever the MATCH
            return sorted(k for k in self._known_keys() if fnmatch.fnmatchcase(k, pattern))
        found: list[str] = []
        for key in self._state.scan_iter(match=pattern, count=self._scan_count, _type=type_):
            found.append(_text(key))
            if len(found) >= self._max_keys:
                log.warning("metrics: more than %d keys match %s; the rest are not reported", self._max_keys, pattern)
                break
        return sorted(found)

    def _lengths(self, client: redis.Redis, command: str, names: Sequence[str]) -> list[int]:
        pipe = client.pipeline(transaction=False)
        for name in names:
            getattr(pipe, command)(name)
        return [int(n) for n in pipe.execute()]

    def _queue_depth(self) -> GaugeMetricFamily:
        g = GaugeMetricFamily(
            "lp_queue_depth", "Messages waiting in a Celery queue (LLEN, all priorities).", labels=["queue"]
        )
        if self._broker is not None and self._queues:
            names = [
                q if step == 0 else f"{q}{_PRIORITY_SEP}{step}" for q in self._queues for step in (0, *_PRIORITY_STEPS)
            ]
            lengths = self._lengths(self._broker, "llen", names)
            per_queue = len(_PRIORITY_STEPS) + 1
            for i, queue in enumerate(self._queues):
                g.add_metric([_label(queue)], sum(lengths[i * per_queue : (i + 1) * per_queue]))
        return g

    def _streams(self) -> Iterator[GaugeMetricFamily]:
        dlq = GaugeMetricFamily(
            "lp_dlq_depth", "Entries in a dead-letter stream (XLEN).", labels=["merchant", "platform"]
        )
        dlq_prefix = keys.dlq("", "")[:-2]  # the key without ":<merchant>:<platform>"
        dlq_keys = self._scan(keys.dlq("*", "*"), "stream")
        for key, n in zip(dlq_keys, self._lengths(self._state, "xlen", dlq_keys), strict=True):
            merchant, _, platform = key[len(dlq_prefix) + 1 :].partition(":")
            dlq.add_metric([_label(merchant), _label(platform)], n)
        yield dlq
        quarantine = GaugeMetricFamily(
            "lp_quarantine_depth", "Records in a quarantine stream (XLEN).", labels=["provider"]
        )
        q_prefix = keys.quarantine("")
        q_keys = self._scan(keys.quarantine("*"), "stream")
        for key, n in zip(q_keys, self._lengths(self._state, "xlen", q_keys), strict=True):
            quarantine.add_metric([_label(key[len(q_prefix) :])], n)
        yield quarantine

    def _due(self) -> GaugeMetricFamily:
        g = GaugeMetricFamily(
            "lp_due_batches",
            "Delivery batches not finished yet (queued, being sent, or waiting: retries, deferrals).",
            labels=["platform"],
        )
        for platform, n in zip(
            self._platforms, self._lengths(self._state, "zcard", [keys.due(p) for p in self._platforms]), strict=True
        ):
            g.add_metric([_label(platform)], n)
        return g

    def _heartbeats(self) -> GaugeMetricFamily:
        g = GaugeMetricFamily(
            "lp_worker_heartbeat_age_seconds",
            "Seconds since a worker last consumed an lp.heartbeat task.",
            labels=["worker"],
        )
        for worker, age in heartbeat_ages(
            self._state, now_s=self._now() if self._now else None, max_keys=self._max_keys
        ).items():
            g.add_metric([_label(worker, worker=True)], age)
        return g

    def _stats(self) -> CounterMetricFamily:
        c = CounterMetricFamily(
            "lp_stats",
            "Per-merchant pipeline totals kept in Redis (pipeline.state.counters), all processes together.",
            labels=["merchant", "counter"],
        )
        prefix = keys.stats("")
        stat_keys = self._scan(keys.stats("*"), "hash")
        pipe = self._state.pipeline(transaction=False)
        for key in stat_keys:
            pipe.hgetall(key)
        for key, values in zip(stat_keys, pipe.execute(), strict=True):
            for name, value in sorted(values.items()):
                c.add_metric([_label(key[len(prefix) :]), _label(_text(name))], float(value))
        return c

    def collect(self) -> Iterator[Any]:
        up = 1.0
        broker_parts: list[Callable[[], Iterable[Any]]] = [lambda: [self._queue_depth()]]
        state_parts: list[Callable[[], Iterable[Any]]] = [
            self._streams,
            lambda: [self._due()],
            lambda: [self._heartbeats()],
            lambda: [self._stats()],
        ]
        groups = [broker_parts + state_parts] if self._broker is self._state else [broker_parts, state_parts]
        for parts in groups:
            for part in parts:
                try:
                    families = list(part())
                except redis.RedisError as exc:
                    up = 0.0
                    log.warning("metrics: Redis did not answer: %s", type(exc).__name__)
                    break  # that Redis is down: do not wait for it again in this scrape
                yield from families
        yield GaugeMetricFamily("lp_redis_up", "1 if every Redis read of this scrape succeeded.", value=up)


class _Chain:
    """A registry-like view over several collectors, for ``generate_latest``."""

    def __init__(self, sources: Sequence[Any]) -> None:
        self._sources = sources

    def collect(self) -> Iterator[Any]:
        for source in self._sources:
            yield from source.collect()


def exposition(*collectors: Collector, registry: Any = REGISTRY) -> bytes:
    """The Prometheus text format of ``registry`` (the process's metrics) and ``collectors``."""
    return generate_latest(_Chain([registry, *collectors]))


def metrics_app(*collectors: Collector, registry: Any = REGISTRY) -> Callable[..., Iterable[bytes]]:
    """A WSGI app answering every request with ``exposition`` (mount it on ``GET /metrics``)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = exposition(*collectors, registry=registry)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return app


# --- webhook intake and the cached collector (issue 12) ------------------------------------------------
#: ``lp_webhook_intake_total`` outcomes: the answer given (accepted 202, duplicate 200, unauthorized 401,
#: too_large 413, unreadable 400, not_found 404, unavailable and pending 503) and, counted by the worker,
#: quarantined (accepted, then unparseable).
WEBHOOK_OUTCOMES = (
    "accepted",
    "duplicate",
    "unauthorized",
    "too_large",
    "unreadable",
    "not_found",
    "unavailable",
    "pending",
    "quarantined",
)
WEBHOOK_INTAKE = Counter(
    "lp_webhook_intake",
    "Webhook deliveries by provider and outcome (the answer given, or quarantined by the worker).",
    ["provider", "outcome"],
)


def record_webhook_intake(provider: str, outcome: str) -> None:
    WEBHOOK_INTAKE.labels(provider=_label(provider), outcome=outcome if outcome in WEBHOOK_OUTCOMES else "other").inc()


class CachedCollector(Collector):
    """``inner``'s metrics, collected at most once per ``ttl_s``: scrapes in between (several
    Prometheus servers, a curl loop) are answered from the last collection, never from Redis."""

    def __init__(
        self, inner: Collector, *, ttl_s: float = 10.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._inner = inner
        self._ttl_s = ttl_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._families: list[Any] = []
        self._at: float | None = None

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        with self._lock:  # one collection at a time; the others wait for it and reuse it
            now = self._monotonic()
            if self._at is None or now - self._at >= self._ttl_s:
                self._families = list(self._inner.collect())
                self._at = now
            families = self._families
        yield from families


# --- operator console and alerting (issue 16) --------------------------------------------------------
#: ``lp_http_responses_total{kind,status}``: every answer a provider or platform gave (``status``:
#: the code for 429, else its class, 2xx..5xx), recorded by the throttle's response hook; the
#: 429 share of each kind is ``rate(...{status="429"}) / rate(...)``.
HTTP_RESPONSES = Counter(
    "lp_http_responses",
    "Answers from providers and platforms, by kind and status (429 on its own, else the class).",
    ["kind", "status"],
)
BUILD_INFO = Info("lp_build", "The running code: package version and source commit (SOURCE_COMMIT).")


def record_response(kind: str, status_code: int) -> None:
    status = "429" if status_code == 429 else f"{status_code // 100}xx" if 100 <= status_code < 600 else "other"
    HTTP_RESPONSES.labels(kind=_label(kind), status=status).inc()


def _build_info() -> None:
    import os
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        package = version("loyalty-pipeline")
    except PackageNotFoundError:
        package = "unknown"
    BUILD_INFO.info(
        {
            "version": package,
            "commit": (os.environ.get("SOURCE_COMMIT") or "unknown")[:40],
            "python": platform.python_version(),
        }
    )


_build_info()
