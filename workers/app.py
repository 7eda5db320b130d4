"""The Celery app: ``celery -A workers.app worker`` / ``celery -A workers.app beat``.

Settings and the connections file are read here, at the edge, once per process; a bad
file stops the process at start with the file, the key and what is wrong.
"""

from __future__ import annotations

import sys

from celery import Celery

from pipeline.config import load_connections
from pipeline.errors import ConfigError
from pipeline.logs import configure_logging
from pipeline.settings import Settings
from workers.config import celery_config
from workers.schedule import build_schedule
from workers.wiring import Runtime

__all__ = ["app", "runtime"]

try:
    _settings = Settings.from_env()
    _connections = load_connections(_settings.connections_file)
except ConfigError as _exc:
    print(f"loyalty-pipeline: configuration error: {_exc}", file=sys.stderr)
    raise SystemExit(2) from None

configure_logging(_settings.log_level)
app = Celery("loyalty_pipeline")
app.config_from_object(celery_config(_settings))
app.conf.beat_schedule = build_schedule(_connections)
runtime = Runtime(_settings, _connections)

# in the order the tasks and the signal handlers register
# isort: off
import workers.tasks  # noqa: E402  (registers the tasks on ``app``)
import workers.observability  # noqa: E402  (LOG_FORMAT, SENTRY_DSN, METRICS_PORT; registers lp.heartbeat)
import workers.leases  # noqa: E402  (leases on the delivery batches a worker holds)
import workers.dispatch  # noqa: E402,F401  (every worker hands out due batches and resumes dead leases)
import workers.quiet as _quiet  # noqa: E402
# isort: on

_quiet.install()
