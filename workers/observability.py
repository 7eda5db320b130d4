"""Observability at the edge of the Celery processes: environment, signals, the heartbeat task.

Imported at the end of ``workers/app.py`` (after the tasks), so every process that loads the app
(worker, beat, web, CLI) gets it. At import it reads

* ``LOG_FORMAT`` (``text`` | ``json``, default ``text``): logging is set up again in that format;
* ``SENTRY_DSN`` (and ``SENTRY_ENVIRONMENT``): error reports, scrubbed, with ``CeleryIntegration``;
* ``METRICS_PORT``: a worker serves its Prometheus metrics on that port once it is ready
  (``worker_ready``: the main process, which with ``--pool threads`` is where tasks run).

It registers ``lp.heartbeat``: the consuming worker records that it consumed something
(``pipeline.observability.health``). Beat schedules it on every queue (``workers/schedule.py``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from celery.signals import worker_init, worker_ready

import pipeline.observability.metrics  # noqa: F401  (defines the metrics the worker serves)
from pipeline.observability.health import beat_heartbeat
from pipeline.observability.logs import configure_logging
from pipeline.observability.sentry import init_sentry
from workers.app import app, runtime

__all__ = ["HEARTBEAT_TASK", "ObservabilitySettings", "heartbeat"]

log = logging.getLogger(__name__)

HEARTBEAT_TASK = "lp.heartbeat"


class ObservabilitySettings:
    """The observability variables, read once from the environment."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.log_format = (env.get("LOG_FORMAT") or "text").strip().lower()
        if self.log_format not in ("text", "json"):
            raise ValueError(f"LOG_FORMAT: expected text or json, got {self.log_format!r}")
        self.sentry_dsn = (env.get("SENTRY_DSN") or "").strip()
        self.sentry_environment = (env.get("SENTRY_ENVIRONMENT") or "").strip() or None
        raw_port = (env.get("METRICS_PORT") or "").strip()
        try:
            self.metrics_port = int(raw_port) if raw_port else None
        except ValueError:
            raise ValueError(f"METRICS_PORT: expected a port number, got {raw_port!r}") from None
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise ValueError(f"METRICS_PORT: {self.metrics_port} is not a port number")
        self.metrics_addr = (env.get("METRICS_ADDR") or "0.0.0.0").strip()


try:
    settings = ObservabilitySettings(os.environ)
except ValueError as _exc:
    print(f"loyalty-pipeline: configuration error: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None

configure_logging(runtime.settings.log_level, fmt=settings.log_format)

if settings.sentry_dsn:
    from sentry_sdk.integrations.celery import CeleryIntegration

    init_sentry(settings.sentry_dsn, environment=settings.sentry_environment, integrations=[CeleryIntegration()])

_served: list[int] = []


@worker_init.connect
def _check_pool(sender: Any = None, **_: Any) -> None:
    pool = getattr(getattr(sender, "pool_cls", None), "__module__", "") or ""
    if settings.metrics_port is not None and pool.endswith("prefork"):
        log.warning("METRICS_PORT with the prefork pool: tasks run in child processes, whose counters this "
                    "port does not serve; use --pool threads")


@worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    if settings.metrics_port is None or _served:
        return
    from prometheus_client import start_http_server

    start_http_server(settings.metrics_port, addr=settings.metrics_addr)
    _served.append(settings.metrics_port)
    log.info("metrics served on %s:%d", settings.metrics_addr, settings.metrics_port)


@app.task(name=HEARTBEAT_TASK, bind=True, ignore_result=True)
def heartbeat(self: Any) -> None:
    """Proof that this worker consumes: its heartbeat key gets the current time."""
    worker = self.request.hostname or runtime.worker
    beat_heartbeat(runtime.redis, worker, now_s=runtime.clock.now().timestamp())
