"""A Redis for the demo and the tests when none is running.

Order: the given URL if it answers; else a private ``redis-server`` on a free loopback port
(if the binary is installed); else, only where allowed, fakeredis's embedded TCP server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

import redis

from pipeline.redisurl import connect

__all__ = ["LocalRedis", "ensure_redis", "free_port"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str, timeout_s: float = 0.5) -> bool:
    try:
        return bool(connect(url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


@dataclass
class LocalRedis:
    """A reachable Redis and how it was obtained; ``stop()`` ends what we started."""

    url: str
    kind: Literal["existing", "redis-server", "fakeredis"]
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _server: object | None = field(default=None, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def describe(self) -> str:
        return {"existing": f"using the Redis at {self.url}",
                "redis-server": f"started redis-server at {self.url}",
                "fakeredis": f"started the embedded fakeredis server at {self.url} (install redis-server for the real thing)",
                }[self.kind]

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
            self._process = None
        if self._server is not None:
            self._server.shutdown()  # type: ignore[attr-defined]
            self._server.server_close()  # type: ignore[attr-defined]
            self._server = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None


def start_redis_server(*, appendonly: bool = False, port: int | None = None) -> LocalRedis:
    """Start a private ``redis-server`` on loopback; raises FileNotFoundError if not installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    port = port or free_port()
    tmp = tempfile.TemporaryDirectory(prefix="lp-redis-")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp.name, "--save", "",
         "--appendonly", "yes" if appendonly else "no", "--maxmemory-policy", "noeviction",
         "--daemonize", "no", "--logfile", ""],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            tmp.cleanup()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)
    return LocalRedis(url=url, kind="redis-server", _process=process, _tmp=tmp)


def _start_fakeredis() -> LocalRedis:
    from fakeredis import TcpFakeServer  # embedded fallback only

    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    threading.Thread(target=server.serve_forever, daemon=True, name="fakeredis").start()
    return LocalRedis(url=f"redis://127.0.0.1:{port}/0", kind="fakeredis", _server=server)


def ensure_redis(url: str | None, *, allow_fake: bool = True) -> LocalRedis:
    """A Redis that answers now: ``url`` if it does, else one started here."""
    if url and _answers(url):
        return LocalRedis(url=url, kind="existing")
    try:
        return start_redis_server()
    except FileNotFoundError:
        if not allow_fake:
            raise
    return _start_fakeredis()
