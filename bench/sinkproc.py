"""The sink (bench/sink.py) as a child process: start, configure, read its counts, stop.

Its CPU is read from /proc/<pid>/stat (``cpu_s``), so it is reported apart from the workers'."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.simx import proc_cpu_s

ROOT = Path(__file__).resolve().parents[1]


class SinkProc:
    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        postscript_rate_per_s: float = 15,
        attentive_rate_per_s: float = 150,
        log: Path | None = None,
        loop: str = "asyncio",
    ) -> None:
        args = [
            sys.executable,
            str(ROOT / "bench" / "sink.py"),
            "--latency-ms",
            str(latency_ms),
            "--postscript-rate-per-s",
            str(postscript_rate_per_s),
            "--attentive-rate-per-s",
            str(attentive_rate_per_s),
            "--loop",
            loop,
        ]
        err = log.open("ab") if log else subprocess.DEVNULL
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err, text=True, cwd=ROOT, start_new_session=True)
        if log:
            err.close()  # type: ignore[union-attr]
        assert self.p.stdout is not None
        line = self.p.stdout.readline()
        if not line:
            raise RuntimeError(f"bench/sink.py did not start (exit {self.p.wait()})")
        self.port = int(json.loads(line)["port"])
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._conn: http.client.HTTPConnection | None = None

    @property
    def pid(self) -> int:
        return self.p.pid

    def cpu_s(self) -> float:
        return proc_cpu_s(self.p.pid)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        for attempt in (0, 1):
            if self._conn is None:
                self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            try:
                self._conn.request(
                    method,
                    path,
                    body=json.dumps(body).encode() if body is not None else None,
                    headers={"Content-Type": "application/json"},
                )
                resp = self._conn.getresponse()
                return json.loads(resp.read())
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = None
                if attempt:
                    raise
        return None

    def stats(self) -> dict[str, Any]:
        return dict(self._call("GET", "/_sink/stats"))

    def reset(self) -> None:
        self._call("POST", "/_sink/reset", {})

    def configure(self, **config: float) -> dict[str, Any]:
        """``latency_ms``, ``postscript_rate_per_s``, ``attentive_rate_per_s`` (0 = no limit)."""
        return dict(self._call("POST", "/_sink/config", config))

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()
            except ProcessLookupError:
                pass
        if self.p.stdout:
            self.p.stdout.close()

    def __enter__(self) -> SinkProc:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
