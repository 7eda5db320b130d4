"""``workers/observability.py`` in a real worker process: JSON logs from ``LOG_FORMAT``, metrics
on ``METRICS_PORT`` once ready, and ``lp.heartbeat`` consumed from a queue."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from sandbox.localredis import free_port
from pipeline.observability.health import heartbeat_ages, is_alive
from tests.workers.test_processes import CONNECTIONS

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]



def test_worker_serves_metrics_logs_json_and_consumes_heartbeats(tmp_path: Path, redis_url: str,
                                                                  real_redis: redis.Redis) -> None:
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    port = free_port()
    env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
           "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2", "LOG_FORMAT": "json",
           "METRICS_PORT": str(port), "METRICS_ADDR": "127.0.0.1"}
    env.pop("SENTRY_DSN", None)
    # -A workers.observability: the app, plus this module (until workers/app.py imports it)
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.observability", "worker", "-Q",
                             "webhooks", "--pool", "threads", "--concurrency", "2", "-n", "obs-test@%h",
                             "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert proc.stdout is not None
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
    client = Celery(broker=redis_url)
    try:
        deadline = time.monotonic() + 60
        while not any("ready." in line for line in lines) and time.monotonic() < deadline:
            assert proc.poll() is None, "".join(lines)
            time.sleep(0.2)
        assert any("ready." in line for line in lines), "".join(lines)

        client.send_task("lp.heartbeat", queue="webhooks")
        while not heartbeat_ages(real_redis) and time.monotonic() < deadline:
            time.sleep(0.2)
        (worker,) = heartbeat_ages(real_redis)
        assert worker.startswith("obs-test@")
        assert is_alive(real_redis, worker, now_s=time.time(), max_age_s=30)

        scraped = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "# TYPE lp_deliveries_total counter" in scraped or "# TYPE lp_deliveries counter" in scraped
        assert "process_cpu_seconds_total" in scraped
    finally:
        client.close()
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            continue  # Celery's banner is printed, not logged
    assert any("ready." in r.get("message", "") for r in records), "".join(lines)
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
