"""No single beat (issue 15): two beats run, one sends and the other stands by until the first
is SIGKILLed; and with no beat at all, the workers themselves resume dead syncs and hand out
retries. Real processes, real Redis; time is only ever a deadline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from sandbox.demo import DemoOptions, demo_stack
from pipeline.jobs import SYNC_LEASE_S
from pipeline.state.leases import RedisLeases
from tests.workers.test_processes import CONNECTIONS, ROOT, env_for

pytestmark = [pytest.mark.e2e, pytest.mark.redis]

LEADS = "leads now"
SENDS = "Sending due task sync:acme"


def _beat(tmp_path: Path, env: dict[str, str], name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / f"{name}.log"
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "beat", "-s",
                             str(tmp_path / f"{name}-schedule"), "--loglevel", "INFO"], cwd=ROOT, env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def _wait(predicate, timeout_s: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def test_two_beats_send_once_and_the_standby_takes_over_from_a_killed_leader(tmp_path: Path, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    env = env_for(tmp_path, redis_url, CONNECTIONS.replace('credential_env = "ACME_SMILE_API_KEY"\n',
                                                           'credential_env = "ACME_SMILE_API_KEY"\nsync_interval_s = 1\n'))
    first, first_log = _beat(tmp_path, env, "beat-a")
    second = None
    try:
        assert _wait(lambda: SENDS in first_log.read_text(), 60), first_log.read_text()[-3000:]
        second, second_log = _beat(tmp_path, env, "beat-b")
        assert _wait(lambda: "beat: Starting..." in second_log.read_text(), 60), second_log.read_text()[-3000:]
        sent_before = first_log.read_text().count(SENDS)
        assert _wait(lambda: first_log.read_text().count(SENDS) >= sent_before + 3, 60)
        standby = second_log.read_text()
        assert LEADS not in standby and "Sending due task" not in standby, standby[-3000:]

        os.killpg(first.pid, signal.SIGKILL)
        first.wait(timeout=15)
        assert _wait(lambda: SENDS in second_log.read_text(), 60), second_log.read_text()[-3000:]
        after = second_log.read_text()
        assert after.index(LEADS) < after.index("Sending due task")  # it sent only once it led
        queued = client.llen("ingest")
        assert _wait(lambda: client.llen("ingest") > queued, 30)  # and it keeps sending
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=15)
        client.close()


def test_without_any_beat_workers_resume_dead_syncs_and_hand_out_retries(redis_url: str) -> None:
    opts = DemoOptions(merchants=2, customers=16, transactions=60, providers=("smile", "rediem"), members=8,
                       activities=30, redis_url=redis_url, allow_fake_redis=False, sync_interval_s=1.0,
                       worker_concurrency=4, timeout_s=120, log_level="INFO", beats=0)
    redis.Redis.from_url(redis_url).flushdb()
    with demo_stack(opts, say=lambda _: None) as stack:
        assert not any(name.startswith("beat") for name in stack.processes)
        # every merchant's sync was killed holding its lease (no beat will ever schedule another)
        leases = RedisLeases(redis.Redis.from_url(redis_url))
        past = time.time() - SYNC_LEASE_S - 1
        for merchant in stack.merchants:
            leases.acquire("sync", merchant, "worker-that-died:task-1", now_s=past, ttl_s=SYNC_LEASE_S)
        # and the platform throttles: the retries wait in the due set for a worker to hand them out
        stack.postscript.fail_next(6, 429, path_prefix="/api/v2/events")
        problems = stack.wait_settled(opts.timeout_s)
        log = (stack.logs / "worker.log").read_text()
        counters = stack.counters()
    assert problems == [], problems
    for merchant in stack.merchants:
        assert f"sync of {merchant} resumed" in log
    assert sum(c["retried"] for c in counters.values()) >= 1
