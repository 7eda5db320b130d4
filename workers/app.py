"""The Celery app: ``create_app(settings)``, and ``celery -A workers.app worker`` / ``beat``.

Importing this module reads nothing and registers nothing. ``create_app`` builds the app, the
process's Runtime (workers/current.py) and its observability from a ``Settings``; the tasks and
the worker's signal handlers are listed in ``include`` and imported by the worker (or beat) at
start. ``workers.app.app`` (what ``celery -A workers.app`` looks up) and ``workers.app.runtime``
are built on first access from the environment, at the edge, once per process: a bad setting or
connections file stops the process there with the file, the key and what is wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from celery import Celery

from pipeline.config import Connection, load_connections
from pipeline.errors import ConfigError
from pipeline.settings import Settings
from workers import current
from workers.config import celery_config
from workers.quiet import install as quiet_housekeeping
from workers.schedule import build_schedule
from workers.wiring import Runtime

__all__ = ["INCLUDE", "create_app"]

#: The modules a worker imports at start: the tasks, and the signal handlers of every worker
#: (heartbeat and metrics, leases on held batches, the dispatcher of due batches).
INCLUDE = (
    "workers.tasks.deliver",
    "workers.tasks.ingest",
    "workers.tasks.webhooks",
    "workers.observability",
    "workers.leases",
    "workers.dispatch",
)


def create_app(settings: Settings, connections: Mapping[str, Connection] | None = None) -> Celery:
    """The Celery app over ``settings`` (``connections`` default: read from ``settings.connections_file``);
    installs this process's Runtime and sets up logging, Sentry and the housekeeping log filter."""
    if connections is None:
        connections = load_connections(settings.connections_file)
    from workers.observability import configure  # imports no app: no cycle

    configure(settings)
    quiet_housekeeping()
    app = Celery("loyalty_pipeline", include=list(INCLUDE))
    app.set_default()  # the tasks are shared_task proxies: every thread (web, --pool threads) finds this app
    app.config_from_object(celery_config(settings))
    app.conf.beat_schedule = build_schedule(connections)
    from workers.tasks.deliver import publish  # the tasks import no app: no cycle

    current.install(Runtime(settings, connections, publish=publish))
    return app


_built: dict[str, Any] = {}


def __getattr__(name: str) -> Any:
    """``app`` and ``runtime``: the process's app, built from the environment on first access."""
    if name not in ("app", "runtime"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if not _built:
        try:
            _built["app"] = create_app(Settings.from_env())
        except ConfigError as exc:
            print(f"loyalty-pipeline: configuration error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None
        _built["runtime"] = current.runtime()
    return _built[name]
