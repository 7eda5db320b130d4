"""The ingest tasks' leases (workers/tasks/ingest.py), in a process of its own with the real app
and Redis as broker, no worker: a stream or page is offered once while a live lease holds it; a
worker that takes the message holds it on a short lease (so its death is noticed within seconds);
the dispatcher offers again a page whose holder died."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from tests.workers.test_processes import env_for

pytestmark = [pytest.mark.redis]

SCRIPT = """
import json, time
from types import SimpleNamespace
from pipeline.jobs import SYNC_LEASE_S, page_lease, stream_lease
from pipeline.settings import Settings
from workers.app import create_app
from workers.current import runtime
from workers.dispatch import resume
from workers.tasks import ingest

create_app(Settings.from_env())
rt = runtime()
out = {}
name = stream_lease("acme", "points_transactions")
out["offered"] = ingest.offer_stream("acme", "points_transactions")
out["offered_again"] = ingest.offer_stream("acme", "points_transactions")
holder, until = rt.leases.holder("stream", name)
out["queued_for_s"] = until - time.time()
request = SimpleNamespace(name="lp.sync_stream", args=["acme", "points_transactions"], id=holder.removeprefix("task:"))
out["held"] = ingest.hold_reserved([request, SimpleNamespace(name="lp.deliver_batch", args=[], id="x")])
out["held_for_s"] = rt.leases.holder("stream", name)[1] - time.time()
out["queued"] = rt.redis.llen("ingest")
page = page_lease("acme", "points_transactions", "w1", 3)
rt.leases.acquire("page", page, "task:dead", now_s=time.time() - 100, ttl_s=SYNC_LEASE_S)
expired = rt.leases.expired("page", now_s=time.time())
for kind_name in expired:
    resume("page", kind_name[0])
out["expired"] = expired
out["page_holder"] = rt.leases.holder("page", page)[0]
out["queued_after"] = rt.redis.llen("ingest")
out["unknown_merchant"] = ingest.resume_ingest("page", page_lease("nobody", "s", "w", 0))
print(json.dumps(out))
"""


def test_offers_are_leased_once_held_on_receipt_and_resumed_after_a_dead_holder(tmp_path: Path, redis_url: str) -> None:
    redis.Redis.from_url(redis_url).flushdb()
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        env=env_for(tmp_path, redis_url, LOG_LEVEL="WARNING"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["offered"] is True and out["offered_again"] is False  # one message while the first is queued
    assert out["queued_for_s"] > 600  # waiting in the queue: a long lease
    assert out["held"] == 1 and out["held_for_s"] < 10  # taken by a worker: short, renewed while held
    assert out["queued"] == 1
    assert out["expired"] == [["acme|points_transactions|w1|3", "task:dead"]]
    assert out["page_holder"].startswith("task:") and out["page_holder"] != "task:dead"
    assert out["queued_after"] == 2  # the page's task was sent again
    assert out["unknown_merchant"] is False
