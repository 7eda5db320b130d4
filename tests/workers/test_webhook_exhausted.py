"""``lp.handle_webhook`` whose infrastructure errors outlast every retry: the delivery is
quarantined with that reason and its body, never acknowledged with nothing left to re-drive it.
The task's function runs in a process of its own (``workers.app`` reads its configuration at
import) against the real Redis; processing always raises ``LockTimeout`` (an infrastructure error)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pipeline import keys, quarantine
from pipeline.state.journal import RedisJournal
from pipeline.webhooks.replay import Begin, RedisReplayGuard
from tests.workers.test_processes import CONNECTIONS

pytestmark = [pytest.mark.redis]

BODY = b'{"resourceType": "review", "review": {"reviewId": "r1"}}'
SCRIPT = """
import json, sys
from types import SimpleNamespace
import redis
from pipeline.clock import SystemClock
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import RedisJournal
from pipeline.state.locks import LockTimeout
from pipeline.state.sequences import MemorySequenceStore
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.webhooks.intake import WebhookIntake
from workers.tasks import webhooks

class Stuck(WebhookIntake):
    def process(self, body, *, event=None):
        raise LockTimeout("the record's lock stayed taken")

client = redis.Redis.from_url(sys.argv[1])
intake = Stuck(merchant="acme", provider="okendo", hand_over=lambda records: None, snapshots=MemorySnapshotStore(),
               sequences=MemorySequenceStore(), quarantine_journal=RedisJournal(client), counters=MemoryCounters(),
               clock=SystemClock())
webhooks.runtime = SimpleNamespace(redis=client, webhook_intake=lambda m, enqueue: intake)
webhooks.handle_webhook.push_request(retries=int(sys.argv[2]))
try:
    print(json.dumps({"outcome": webhooks.handle_webhook.run("okendo", "acme", ref="msg_x")}))
except Exception as exc:
    print(json.dumps({"raised": type(exc).__name__}))
"""


def _run(tmp_path: Path, redis_url: str, retries: int) -> dict[str, str]:
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
           "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2"}
    done = subprocess.run([sys.executable, "-c", SCRIPT, redis_url, str(retries)], env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_exhausted_retries_quarantine_the_delivery_with_its_body(tmp_path: Path, redis_url: str,
                                                                  real_redis: redis.Redis) -> None:
    guard = RedisReplayGuard(real_redis)
    assert guard.begin("okendo", "acme", "msg_x", BODY, None, attempt="a") is Begin.NEW
    guard.confirm("okendo", "acme", "msg_x")  # the web process answered 202: the sender will not retry
    journal = RedisJournal(real_redis)

    # retries left: it raises (Celery retries it) and nothing is quarantined yet
    assert _run(tmp_path, redis_url, retries=3) == {"raised": "LockTimeout"}
    assert quarantine.entries(journal, "okendo") == []
    assert real_redis.exists(keys.webhook_body("okendo", "acme", "msg_x"))

    # the last retry: quarantined with the reason and the body, which leaves Redis's body key
    assert _run(tmp_path, redis_url, retries=50) == {"outcome": "quarantined"}
    [entry] = quarantine.entries(journal, "okendo")
    assert entry.merchant == "acme" and "51 attempts" in entry.error and "LockTimeout" in entry.error
    assert entry.payload == json.loads(BODY)
    assert entry.extra["message_id"] == "msg_x"
    assert not real_redis.exists(keys.webhook_body("okendo", "acme", "msg_x"))
