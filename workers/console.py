"""The ``console`` process: the operator console (``pipeline.console``) on its own port.

Its own Procfile process rather than a route of ``web``: ``web`` faces the internet (providers
post webhooks to it) and must answer them within seconds, while the console is for staff, is
bound to a private address, scans dead-letter streams on demand, and holds no merchant secret
(it sends nothing: a replay or re-drive goes into the due set, which beat's ``release_due``
hands to the workers). Separate, a console bug or a heavy listing cannot slow webhook intake,
and it can be firewalled, scaled and restarted on its own.

    loyalty-pipeline console --bind 127.0.0.1:8081            # loopback: no token needed
    CONSOLE_TOKEN=... loyalty-pipeline console --bind 0.0.0.0:8081

Off loopback it refuses to start without ``CONSOLE_TOKEN`` (exit 2).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pipeline.config import Connection, load_connections
from pipeline.console import Console, ConsoleAuth, ConsoleDeps, make_console, require_credentials
from pipeline.errors import ConfigError
from pipeline.logs import configure_logging
from pipeline.settings import Settings
from pipeline.types import Delivery, Record
from workers.config import queue_names
from workers.wiring import Runtime

__all__ = ["build", "serve", "split_bind"]


def split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigError(f"expected HOST:PORT, got {bind!r}", key="--bind")
    return host.strip("[]"), int(port)


def build(settings: Settings, connections: Mapping[str, Connection], *, token: str | None) -> Console:
    """The console application over the real adapters."""
    rt = Runtime(settings, connections)

    def handover(merchant: str, records: list[Record]) -> None:
        def enqueue(platform: str, batch: list[Delivery]) -> None:
            rt.due.add(merchant, platform, batch, due_at_s=rt.clock.now().timestamp())  # released by beat

        rt.ingestor(merchant, enqueue).hand_over(records)

    deps = ConsoleDeps(
        redis=rt.redis,
        connections=connections,
        clock=rt.clock,
        due=rt.due,
        queues=queue_names(),
        dedup_ttl_s=settings.dedup_ttl_s,
        handover=handover,
        status=rt.status_stores(),
        journal=rt.journal,
        pauses=rt.pauses,
        trail=rt.trail,
    )
    return make_console(deps, ConsoleAuth(token))


def serve(bind: str, *, env: Mapping[str, str] | None = None, threads: int = 8) -> None:
    """Check the credentials against the address, then serve with gunicorn (one process, threads)."""
    from gunicorn.app.base import BaseApplication

    env = os.environ if env is None else env
    host, port = split_bind(bind)
    token = (env.get("CONSOLE_TOKEN") or "").strip() or None
    require_credentials(host, token)
    settings = Settings.from_env(env)
    configure_logging(settings.log_level)  # the actions' audit lines (who replayed, purged, resumed what)
    app = build(settings, load_connections(settings.connections_file, env, require_secrets=False), token=token)

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": 1,
                "worker_class": "gthread",
                "threads": threads,
                "accesslog": "-",
                "timeout": 60,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Console:
            return app

    Server().run()
