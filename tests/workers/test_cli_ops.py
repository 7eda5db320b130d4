"""Operator commands against real Redis, as run from a shell: dlq list/replay/purge and status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from pipeline.clock import SystemClock
from pipeline.delivery import Deliverer
from pipeline.destinations.base import SendResult
from pipeline.errors import FatalError
from pipeline.state.counters import RedisCounters
from pipeline.state.journal import RedisJournal
from pipeline.state.ledger import RedisLedger
from pipeline.state.pauses import RedisPauses
from pipeline.state.profiles import RedisProfileStates
from pipeline.types import Delivery, Item
from tests.factories import event
from tests.workers.test_processes import CONNECTIONS

pytestmark = [pytest.mark.redis]


class Broken:
    kind = "postscript"

    def send(self, item: Item, *, delivery_id: str) -> SendResult:
        raise FatalError("postscript POST /api/v2/events answered 400", status=400, response_excerpt="{}")


def run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from workers.cli import main; main()", *args], env=env,
                          capture_output=True, text=True, timeout=60, input=stdin)


@pytest.fixture
def env(tmp_path: Path, redis_url: str, real_redis: redis.Redis) -> dict[str, str]:
    (tmp_path / "connections.toml").write_text(CONNECTIONS)
    clock = SystemClock()
    d = Deliverer(merchant="acme", platform="postscript", destination=Broken(), ledger=RedisLedger(real_redis),
                  dead_letters=RedisJournal(real_redis), skipped=RedisJournal(real_redis),
                  counters=RedisCounters(real_redis), clock=clock, pauses=RedisPauses(real_redis),
                  profiles=RedisProfileStates(real_redis), dedup_ttl_s=60, max_attempts=3, retry_base_s=1,
                  retry_max_s=5)
    d.deliver([Delivery(platform="postscript", item=event(id=f"e{i}", name=name))
               for i, name in enumerate(["Smile Points Earned", "Smile Points Earned", "Smile Points Redeemed"])])
    return {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
            "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2"}


def test_dlq_list_replay_and_purge(env: dict[str, str], real_redis: redis.Redis) -> None:
    listed = run(["dlq", "list", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [r["http_status"] for r in rows] == [400, 400, 400] and "jane" not in listed.stdout

    dry = run(["dlq", "replay", "--event", "Smile Points Redeemed", "--dry-run"], env)
    assert "would replay 1 entry" in dry.stdout and real_redis.zcard("lp:due:postscript") == 0

    real = run(["dlq", "replay", "--status", "400", "--share", "0.2"], env)
    assert "replaying 3 entries" in real.stdout and real_redis.zcard("lp:due:postscript") == 1
    assert real_redis.xlen("lp:dlq:acme:postscript") == 3  # entries leave only once replayed successfully

    purged = run(["dlq", "purge", "--event", "Smile Points Earned", "--yes"], env)
    assert "purged 2 entries" in purged.stdout and real_redis.xlen("lp:dlq:acme:postscript") == 1
    refused = run(["dlq", "purge"], env, stdin="n\n")
    assert refused.returncode != 0 and real_redis.xlen("lp:dlq:acme:postscript") == 1


def test_status_shows_dlq_depth_pauses_and_lag(env: dict[str, str], real_redis: redis.Redis) -> None:
    RedisPauses(real_redis).pause("acme", "postscript", reason="dead-letter guard: 50 in a row",
                                  since=SystemClock().now(), until=None)
    real_redis.set("lp:cursor:acme:smile:customers",
                   json.dumps({"watermark": "2026-03-01T12:00:00+00:00", "window_start": None, "page_cursor": None,
                               "max_seen": None, "last_success_at": "2026-03-01T12:00:00+00:00"}))
    result = run(["status", "--json"], env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    (conn,) = data["connections"]
    (platform,) = conn["platforms"]
    assert platform["dlq"] == 3 and "dead-letter guard" in platform["paused"]["reason"]
    assert conn["last_successful_pull"] == "2026-03-01T12:00:00+00:00" and conn["lag_s"] > 0
    assert "deliver.postscript" in data["queues"]
    table = run(["status"], env).stdout
    assert "postscript PAUSED" in table and "dlq=3" in table


def test_sync_initial_shows_progress_and_records_it_for_status(tmp_path: Path, redis_url: str,
                                                              real_redis: redis.Redis) -> None:
    from sandbox.sim import SmileSimulator

    with SmileSimulator(rate_per_s=None) as smile:
        account = smile.add_account("k1")
        for n in range(12):
            account.add_customer(email=f"c{n}@example.test", state="member", points_balance=n)
        (tmp_path / "connections.toml").write_text(CONNECTIONS.replace("http://127.0.0.1:9/v1", f"{smile.base_url}/v1")
                                                   .replace('credential_env = "ACME_SMILE_API_KEY"',
                                                            'credential_env = "ACME_SMILE_API_KEY"\npage_size = 5'))
        env = {**os.environ, "REDIS_URL": redis_url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
               "ACME_SMILE_API_KEY": "k1", "ACME_POSTSCRIPT_API_KEY": "k2"}
        result = run(["sync", "initial", "--connection", "acme"], env)
    assert result.returncode == 0, result.stderr
    assert "handed over 12 customers (12 profile updates) to the bulk queue" in result.stdout
    assert "12 customers" in result.stderr  # the progress bar (tqdm writes to stderr)
    assert real_redis.llen("bulk") == 3  # one delivery batch per page, on the low-priority queue
    status = json.loads(run(["status", "--json"], env).stdout)
    assert status["bulk_syncs"]["acme"]["status"] == "done" and status["bulk_syncs"]["acme"]["customers"] == "12"
