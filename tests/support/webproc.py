"""Start the web process as deployed (``gunicorn -c python:workers.gunicorn_conf``) for a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sandbox.localredis import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WebProcess:
    url: str
    ops_url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def web_process(redis_url: str, connections: str, env: dict[str, str], workdir: Path, *,
                broker_url: str | None = None) -> Iterator[WebProcess]:
    """gunicorn on two free loopback ports, against ``redis_url`` (and ``broker_url`` if the broker is
    another Redis); ``env`` adds the connections' secrets."""
    (workdir / "connections.toml").write_text(connections)
    port, ops_port = free_port(), free_port()
    full = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(workdir / "connections.toml"),
            "PORT": str(port), "WEB_HOST": "127.0.0.1", "OPS_PORT": str(ops_port), **env}
    full.pop("BROKER_URL", None)
    if broker_url is not None:
        full["BROKER_URL"] = broker_url
    log = workdir / "web.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:workers.gunicorn_conf",
                                    "workers.web:application"], env=full, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=ROOT)
    web = WebProcess(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{ops_port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{web.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gunicorn did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield web
    finally:
        process.send_signal(signal.SIGQUIT)  # quick shutdown: nothing in flight is worth waiting for
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
