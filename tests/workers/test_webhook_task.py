"""``lp.handle_webhook``'s function run in a process of its own (``workers.app`` reads its
configuration at import), against the real Redis: a body is handed over once, even when
releasing it fails after the hand-over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pipeline import keys
from pipeline.webhooks.replay import Begin, RedisReplayGuard
from tests.workers.test_processes import CONNECTIONS

pytestmark = [pytest.mark.redis]

BODY = b'{"resourceType": "review"}'
#: Runs the task's function with the real Redis, except that deleting the body fails, and an
#: intake that records what it is handed; prints the outcome and the bodies processed.
SCRIPT = """
import json, sys
from types import SimpleNamespace
import redis
from workers.tasks import webhooks

class ReleaseFails(redis.Redis):
    def delete(self, *names):
        if any("webhook-body" in str(n) for n in names):
            raise redis.ConnectionError("gone")  # Redis went away just after the hand-over
        return super().delete(*names)

class Intake:
    processed = []
    def process(self, body, *, event=None):
        self.processed.append(body.decode())
        return "handed_over"
    def missing_body(self, message_id, *, abandoned=False):
        return "missing (abandoned)" if abandoned else "missing"

intake = Intake()
webhooks.runtime = SimpleNamespace(redis=ReleaseFails.from_url(sys.argv[1]), webhook_intake=lambda m, enqueue: intake)
outcome = webhooks.handle_webhook.run("okendo", "acme", ref=sys.argv[2])
print(json.dumps({"outcome": outcome, "processed": intake.processed}))
"""


def test_a_failed_release_does_not_hand_the_body_over_twice(tmp_path: Path, redis_url: str,
                                                             real_redis: redis.Redis) -> None:
    assert "webhook-body" in keys.webhook_body("okendo", "acme", "msg_t")
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
           "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2"}
    assert RedisReplayGuard(real_redis).begin("okendo", "acme", "msg_t", BODY, None, attempt="a") is Begin.NEW
    done = subprocess.run([sys.executable, "-c", SCRIPT, redis_url, "msg_t"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"outcome": "handed_over", "processed": [BODY.decode()]}
    assert real_redis.get(keys.webhook_seen("okendo", "acme", "msg_t")) == b"done"


def test_a_body_released_by_a_failed_enqueue_is_named_so_when_its_message_runs_after_all(
        tmp_path: Path, redis_url: str, real_redis: redis.Redis) -> None:
    """The enqueue raised after the message was published: the web process answered 503 and
    released the body; the task that runs anyway says so instead of "not found"."""
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
           "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2"}
    guard = RedisReplayGuard(real_redis)
    for ref in ("msg_abandoned", "msg_expired"):
        assert guard.begin("okendo", "acme", ref, BODY, None, attempt="a") is Begin.NEW
    guard.abandon("okendo", "acme", "msg_abandoned", attempt="a")
    real_redis.delete(keys.webhook_body("okendo", "acme", "msg_expired"), keys.webhook_seen("okendo", "acme", "msg_expired"))
    outcomes = {}
    for ref in ("msg_abandoned", "msg_expired"):
        done = subprocess.run([sys.executable, "-c", SCRIPT, redis_url, ref], env=env, capture_output=True, text=True,
                              timeout=120)
        assert done.returncode == 0, done.stderr
        outcomes[ref] = json.loads(done.stdout.strip().splitlines()[-1])["outcome"]
    assert outcomes == {"msg_abandoned": "missing (abandoned)", "msg_expired": "missing"}
