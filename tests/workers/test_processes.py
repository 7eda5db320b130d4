"""The Procfile's commands start as written, and a bad configuration stops them at start."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = """
[merchants.acme.provider]
kind = "smile"
base_url = "http://127.0.0.1:9/v1"
credential_env = "ACME_SMILE_API_KEY"

[[merchants.acme.platforms]]
kind = "postscript"
base_url = "http://127.0.0.1:9"
credential_env = "ACME_POSTSCRIPT_API_KEY"
"""
READY = {"worker": "ready.", "beat": "beat: Starting..."}


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}


def env_for(tmp_path: Path, redis_url: str, text: str = CONNECTIONS, **extra: str) -> dict[str, str]:
    path = tmp_path / "connections.toml"
    path.write_text(text)
    return {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(path),
            "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2", **extra}


def command(line: str, tmp_path: Path) -> list[str]:
    args = shlex.split(line.replace("/tmp/loyalty-pipeline-beat-schedule", str(tmp_path / "beat-schedule")))
    assert args[0] == "celery"
    return [sys.executable, "-m", "celery", *args[1:]]


@pytest.mark.parametrize("kind", ["worker", "beat"])
def test_procfile_command_starts(kind: str, tmp_path: Path, redis_url: str) -> None:
    proc = subprocess.Popen(command(procfile()[kind], tmp_path), cwd=ROOT, env=env_for(tmp_path, redis_url),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 60
    try:
        while not any(READY[kind] in line for line in seen) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert any(READY[kind] in line for line in seen), "".join(seen[-40:])


def test_bad_connections_file_stops_the_process_with_file_key_and_reason(tmp_path: Path, redis_url: str) -> None:
    env = env_for(tmp_path, redis_url)
    env.pop("ACME_POSTSCRIPT_API_KEY")
    result = subprocess.run(command(procfile()["beat"], tmp_path), cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "connections.toml: merchants.acme.platforms[0].credential_env: environment variable " \
           "ACME_POSTSCRIPT_API_KEY is not set" in result.stderr
    assert "k1" not in result.stderr + result.stdout
