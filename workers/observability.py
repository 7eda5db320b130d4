"""Observability at the edge of the Celery processes: logging, Sentry, signals, the heartbeat task.

``configure(settings)`` is called by ``workers.app.create_app``, so every process that builds the
app (worker, beat, web, CLI) gets it, from ``Settings`` (pipeline/settings.py):

* ``LOG_FORMAT`` (``text`` | ``json``, default ``text``): the format of the logs;
* ``SENTRY_DSN`` (and ``SENTRY_ENVIRONMENT``): error reports, scrubbed, with ``CeleryIntegration``;
* ``METRICS_PORT``: a worker serves its Prometheus metrics on that port once it is ready
  (``worker_ready``: the main process, which with ``--pool threads`` is where tasks run).

A worker imports this module at start (``include``): it registers ``lp.heartbeat``, with which the
consuming worker records that it consumed something (``pipeline.observability.health``). Beat
schedules it on every queue (``workers/schedule.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.signals import worker_init, worker_ready

import pipeline.observability.metrics  # noqa: F401  (defines the metrics the worker serves)
from pipeline.observability.health import beat_heartbeat
from pipeline.observability.logs import configure_logging
from pipeline.observability.sentry import init_sentry
from pipeline.settings import Settings
from workers.current import runtime

__all__ = ["HEARTBEAT_TASK", "configure", "heartbeat"]

log = logging.getLogger(__name__)

HEARTBEAT_TASK = "lp.heartbeat"


def configure(settings: Settings) -> None:
    """Logging in ``settings.log_format``; Sentry if ``settings.sentry_dsn``."""
    configure_logging(settings.log_level, fmt=settings.log_format)
    if settings.sentry_dsn:
        from sentry_sdk.integrations.celery import CeleryIntegration

        init_sentry(
            settings.sentry_dsn, environment=settings.sentry_environment or None, integrations=[CeleryIntegration()]
        )


_served: list[int] = []


@worker_init.connect
def _check_pool(sender: Any = None, **_: Any) -> None:
    pool = getattr(getattr(sender, "pool_cls", None), "__module__", "") or ""
    if runtime().settings.metrics_port is not None and pool.endswith("prefork"):
        log.warning(
            "METRICS_PORT with the prefork pool: tasks run in child processes, whose counters this "
            "port does not serve; use --pool threads"
        )


@worker_ready.connect
def _serve_metrics(**_: Any) -> None:
    settings = runtime().settings
    if settings.metrics_port is None or _served:
        return
    from prometheus_client import start_http_server

    start_http_server(settings.metrics_port, addr=settings.metrics_addr)
    _served.append(settings.metrics_port)
    log.info("metrics served on %s:%d", settings.metrics_addr, settings.metrics_port)


@shared_task(name=HEARTBEAT_TASK, bind=True, ignore_result=True)
def heartbeat(self: Any) -> None:
    """Proof that this worker consumes: its heartbeat key gets the current time."""
    rt = runtime()
    worker = self.request.hostname or rt.worker
    beat_heartbeat(rt.redis, worker, now_s=rt.clock.now().timestamp())
