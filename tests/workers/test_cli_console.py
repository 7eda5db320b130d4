"""The CLI as the console's twin, run as an operator runs it: one JSON-lines convention for
listings, exit 2 for an unknown merchant or platform, one line when Redis does not answer,
operator commands without merchant secrets, the customer lookup, and the console's refusal to
start off loopback without a token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pipeline.clock import SystemClock
from pipeline.state.pauses import RedisPauses
from tests.console.support import seed
from tests.workers.test_processes import CONNECTIONS

pytestmark = [pytest.mark.redis]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from workers.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.fixture
def env(tmp_path: Path, redis_url: str) -> dict[str, str]:
    """No merchant credential variable at all: operator commands send nothing."""
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACME_")}
    return {**base, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml")}


def test_operator_commands_need_no_merchant_secret_and_listings_print_json_lines(
        env: dict[str, str], real_redis: redis.Redis) -> None:
    seed(real_redis)
    RedisPauses(real_redis).pause("acme", "postscript", reason="401 from postscript", since=SystemClock().now(),
                                  until=None)
    for args in (["dlq", "list", "--json"], ["quarantine", "list", "--json"], ["connection", "list", "--json"],
                 ["customer", "jane.doe@example.test", "--json"]):
        result = run(args, env)
        assert result.returncode == 0, (args, result.stderr)
        lines = [json.loads(line) for line in result.stdout.splitlines()]  # JSON lines: one object a line
        assert all(isinstance(x, dict) for x in lines), args
        assert "jane.doe" not in result.stdout and "5550123" not in result.stdout
    (paused,) = [json.loads(x) for x in run(["connection", "list", "--json"], env).stdout.splitlines()]
    assert paused["paused"]["reason"] == "401 from postscript"
    trail = [json.loads(x) for x in run(["customer", "+1 (555) 555-0123", "--json"], env).stdout.splitlines()]
    assert sorted(t["outcome"] for t in trail) == ["dead_lettered", "delivered", "skipped"]  # phone as digits
    assert run(["customer", "nobody@example.test", "--json"], env).stdout == ""
    status = run(["status", "--json"], env)
    assert status.returncode == 0 and json.loads(status.stdout)["connections"][0]["merchant"] == "acme"
    assert run(["connection", "resume", "acme", "postscript"], env).returncode == 0
    assert RedisPauses(real_redis).get("acme", "postscript") is None


def test_unknown_merchant_or_platform_exits_2_with_a_message(env: dict[str, str], real_redis: redis.Redis) -> None:
    result = run(["connection", "resume", "nosuch", "tiktok"], env)
    assert result.returncode == 2 and "unknown merchant 'nosuch'" in result.stderr and "acme" in result.stderr
    result = run(["connection", "resume", "acme", "klaviyo"], env)
    assert result.returncode == 2 and "unknown platform 'klaviyo': acme connects postscript" in result.stderr
    result = run(["dlq", "list", "--merchant", "nosuch"], env)
    assert result.returncode == 2 and "unknown merchant" in result.stderr
    result = run(["dlq", "replay", "--platform", "klaviyo", "--dry-run"], env)
    assert result.returncode == 2 and "unknown platform 'klaviyo'" in result.stderr


def test_redis_not_answering_is_one_line(env: dict[str, str]) -> None:
    env = {**env, "REDIS_URL": "redis://:secretpw@127.0.0.1:9/0"}
    for args in (["dlq", "list"], ["status"], ["connection", "resume", "acme", "postscript"]):
        result = run(args, env)
        assert result.returncode == 1, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert "Redis at 127.0.0.1:9/0 did not answer" in result.stderr and "secretpw" not in result.stderr


def test_the_console_refuses_to_start_off_loopback_without_a_token(env: dict[str, str]) -> None:
    result = run(["console", "--bind", "0.0.0.0:0"], {**env, "CONSOLE_TOKEN": ""})
    assert result.returncode == 2 and "refusing to start" in result.stderr and "CONSOLE_TOKEN" in result.stderr
