"""The README's first command, as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.redis]


def test_demo_command_reports_and_exits_zero(redis_url: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url}
    result = subprocess.run(
        [sys.executable, "-c", "from workers.cli import main; main()", "demo", "--merchants", "1",
         "--customers", "6", "--transactions", "30", "--providers", "smile,rediem", "--members", "4",
         "--timeout", "90"],
        env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"using the Redis at {redis_url}" in result.stderr
    lines = dict(line.split(None, 1) if " " in line else (line, "") for line in result.stdout.splitlines())
    assert "demo OK" in result.stdout
    smile = lines["smile"].split()  # 30 transactions plus the rewards their redemptions issued
    assert smile[:4] == ["events", "expected", "/", "received"] and smile[4] == smile[6] and int(smile[4]) >= 30
    assert lines["rediem"].split()[-1] == lines["rediem"].split()[-3] != "0"
    assert lines["dead-lettered"].strip() == "0"


def test_help_lists_the_commands() -> None:
    result = subprocess.run([sys.executable, "-c", "from workers.cli import main; main()", "--help"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert {"demo", "simulate", "catalog", "transform", "quarantine"} <= set(result.stdout.split())


def test_version_is_the_installed_distributions() -> None:
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-c", "from workers.cli import main; main()", "--version"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"loyalty-pipeline, version {version('loyalty-pipeline')}"
