"""``loyalty-pipeline quarantine list|redrive`` against real Redis, as an operator runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pipeline.clock import SystemClock
from pipeline.errors import InvalidRecord
from pipeline.quarantine import put
from pipeline.state.journal import RedisJournal
from tests.factories import smile_txn
from tests.workers.test_processes import CONNECTIONS

pytestmark = [pytest.mark.redis]


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from workers.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_list_masks_personal_data_and_redrive_enqueues_deliveries(tmp_path: Path, redis_url: str,
                                                                   real_redis: redis.Redis) -> None:
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
           "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2"}
    journal = RedisJournal(real_redis)
    real_redis.hset("lp:customer:acme:smile:1", mapping={"email": "jane.doe@example.test"})
    put(journal, SystemClock(), merchant="acme", provider="smile", resource="points_transactions",
        payload={**smile_txn(7), "note": "call jane.doe@example.test"},
        error=InvalidRecord("Not a valid integer.", provider="smile", field="points_transactions.points_change"))
    put(journal, SystemClock(), merchant="acme", provider="smile", resource="points_transactions",
        payload=smile_txn(8, points_change="lots"),
        error=InvalidRecord("Not a valid integer.", provider="smile", field="points_transactions.points_change"))

    listed = run(["quarantine", "list", "--provider", "smile", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["field"] for r in rows] == ["points_transactions.points_change"] * 2
    assert "jane.doe@example.test" not in listed.stdout and "j***@example.test" in listed.stdout

    redriven = run(["quarantine", "redrive", "--provider", "smile"], env)
    assert redriven.returncode == 1  # one record is still invalid
    assert "re-drove 1 record(s); 1 still invalid" in redriven.stdout
    assert real_redis.llen("deliver.postscript") == 1  # one delivery batch, on the platform's queue ...
    others = ["ingest", "webhooks", "bulk", "deliver.attentive", "deliver.klaviyo"]
    assert [real_redis.llen(q) for q in others] == [0] * len(others)  # ... and on no other
    message = json.loads(real_redis.lindex("deliver.postscript", 0))
    assert message["headers"]["task"] == "lp.deliver_batch"
    assert len(RedisJournal(real_redis).read("lp:quarantine:smile")) == 1


def test_a_message_reaches_only_its_own_queue_once_every_queue_is_declared(
        tmp_path: Path, redis_url: str, real_redis: redis.Redis) -> None:
    """With every queue declared (as a worker does at start), a delivery batch published to
    one platform's queue lands there and nowhere else."""
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
           "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2"}
    script = (
        "from workers.app import app\n"
        "from workers.tasks.deliver import deliver_batch\n"
        "with app.connection_for_write() as conn:\n"
        "    for q in app.conf.task_queues:\n"
        "        q(conn.default_channel).declare()\n"
        "deliver_batch.apply_async(('acme', 'postscript', []), queue='deliver.postscript')\n")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lengths = {q: real_redis.llen(q) for q in ["ingest", "webhooks", "bulk", "deliver.postscript",
                                               "deliver.attentive", "deliver.klaviyo"]}
    assert lengths == {"ingest": 0, "webhooks": 0, "bulk": 0, "deliver.postscript": 1,
                       "deliver.attentive": 0, "deliver.klaviyo": 0}
