"""The web process's two listeners, read from the environment (shared by ``workers.gunicorn_conf``,
which binds them, and ``workers.web``, which routes by them). No side effects on import.

``PORT`` (default 8000) on ``WEB_HOST`` (default ``0.0.0.0``): the public webhook listener.
``OPS_PORT`` (default 9180) on ``OPS_HOST`` (default ``127.0.0.1``): ``/metrics`` and ``/readyz``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Listeners", "listeners"]


@dataclass(frozen=True)
class Listeners:
    web_host: str
    port: int
    ops_host: str
    ops_port: int

    @property
    def binds(self) -> list[str]:
        return [f"{self.web_host}:{self.port}", f"{self.ops_host}:{self.ops_port}"]


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = (env.get(name) or "").strip()
    try:
        port = int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name}: expected a port number, got {raw!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"{name}: {port} is not a port number")
    return port


def listeners(env: Mapping[str, str] | None = None) -> Listeners:
    env = os.environ if env is None else env
    found = Listeners(
        web_host=env.get("WEB_HOST") or "0.0.0.0",
        port=_port(env, "PORT", 8000),
        ops_host=env.get("OPS_HOST") or "127.0.0.1",
        ops_port=_port(env, "OPS_PORT", 9180),
    )
    if found.port == found.ops_port:
        raise ValueError(f"OPS_PORT must differ from PORT ({found.port}): /metrics must not be on the public port")
    return found
