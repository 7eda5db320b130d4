"""Chaos: the Redis primary is SIGKILLed mid-delivery and Sentinel promotes its replica.

A real Sentinel setup on loopback (tests/chaos/sentinel_setup.py: one primary, one replica, three
sentinels of Debian's ``redis-sentinel``, quorum 2). The whole stack (worker, beat, web) gets only
``REDIS_URL=sentinel://...?master_name=...``: the state client is redis-py's Sentinel client, the
broker kombu's Sentinel transport. When about a third of the events have reached Postscript the
primary is SIGKILLed (no AOF flush, nothing said to the replica). The processes are not touched:
they must find the promoted replica through the sentinels and finish the delivery.

Replication is asynchronous, so the writes of the primary's last moment may never reach the replica.
The pipeline then redoes what those writes recorded: re-pulls a page (the ledger dedups it where its
mark survived) or re-sends a delivery Postscript had already accepted (Postscript has no idempotency
key). A duplicate is **explained** when its first copy reached Postscript at most ``ROLLBACK_WINDOW_S``
before the kill (a write that could have been lost with the primary), or when the pipeline counted
a resend of an interrupted send (``resent_after_interruption``). Any other duplicate fails the test.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sandbox.demo import DemoOptions, demo_stack
from tests.chaos import report
from tests.chaos.conftest import broker_state, keep_logs, received, smile_expected, wait_done_or_stuck, wait_until
from tests.chaos.sentinel_setup import SentinelSetup, have_binaries
from tests.chaos.timeline import Timeline

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.redis]

TRANSACTIONS = 400
DEADLINE_S = 150.0
#: Writes the primary made this long before its death may be missing on the replica (async replication;
#: on loopback the lag is milliseconds, so this is generous).
ROLLBACK_WINDOW_S = 1.0


def _received_at(event: dict) -> datetime:
    return datetime.fromisoformat(str(event["received_at"]).replace("Z", "+00:00"))


def test_sentinel_failover_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    if not have_binaries():  # scripts/test installs them: in CI their absence is a failure
        (pytest.fail if os.environ.get("CI") else pytest.skip)("needs redis-server and redis-sentinel")
    setup = SentinelSetup(tmp_path / "redis")
    setup.start()
    try:
        opts = DemoOptions(merchants=1, customers=60, transactions=TRANSACTIONS, providers=("smile",),
                           redis_url=setup.url, allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=4,
                           postscript_rate_per_s=40, smile_rate_per_s=50, timeout_s=DEADLINE_S, log_level="INFO")
        with demo_stack(opts, say=lambda _: None) as stack:
            assert stack.redis.url == setup.url  # every process was given the sentinel:// URL
            tenant = stack.tenants[0]
            txn_ids, expected = smile_expected(tenant)
            timeline = Timeline(lambda: received(tenant.shop).external_ids)
            try:
                if not wait_until(lambda: received(tenant.shop).external_ids >= expected // 3, 90):
                    pytest.fail(f"a third of the events never arrived before the failover: {received(tenant.shop)}")
                old_port = setup.primary_port()
                at_kill = received(tenant.shop).external_ids
                killed_at, killed_wall = time.monotonic(), datetime.now(timezone.utc)
                killed = setup.kill_primary()
                if not wait_until(lambda: setup.promoted(old_port), 60, interval_s=0.1):
                    pytest.fail(f"the sentinels did not promote the replica within 60 s (logs: {setup.root})")
                promoted_at = time.monotonic()
                promoted_s = promoted_at - killed_at
                primary = setup.primary_url()
                finished = wait_done_or_stuck(lambda: received(tenant.shop).external_ids >= expected,
                                              lambda: received(tenant.shop).external_ids, primary, stack.merchants,
                                              timeout_s=DEADLINE_S)
                time.sleep(3)  # a late duplicate would still show up
            finally:
                timeline.stop()
            got = received(tenant.shop)
            counters = stack.counters()[tenant.merchant]
            with tenant.shop.sim.lock:
                firsts = {ext: _received_at(tenant.shop.events_by_external_id[ext][0]) for ext in got.duplicated}
            dead = stack._dead()  # noqa: SLF001 - processes that did not survive the failover
            state = broker_state(primary, stack.merchants)
            logs = keep_logs(stack, tmp_path / "logs")
    finally:
        setup.stop()

    missing = txn_ids - set(got.txn_ids)
    window_start = killed_wall - timedelta(seconds=ROLLBACK_WINDOW_S)
    in_window = sum(got.duplicated[ext] - 1 for ext, first in firsts.items() if first >= window_start)
    resent = counters.get("resent_after_interruption", 0)
    explained = min(got.duplicates, in_window + resent)
    # sends already on the wire complete right after the kill: recovery is the first event after the promotion
    after_promotion = timeline.first_progress_after(promoted_at)
    recover_s = None if after_promotion is None else promoted_s + after_promotion
    evidence = (f"killed primary {killed} with {at_kill}/{expected} events at Postscript; sentinels promoted the "
                f"replica after {promoted_s:.1f} s; first event after the promotion {recover_s} s after the kill; finished={finished}; "
                f"Postscript has {got.external_ids} distinct / {got.events} received; {len(missing)} transactions "
                f"missing; duplicates {got.duplicates} (first copy within {ROLLBACK_WINDOW_S} s before the kill: "
                f"{in_window}; resent after interruption: {resent}); dead processes: "
                f"{[d.splitlines()[0] for d in dead]}; redis now: {state}; counters: {counters}; logs: {logs}, "
                f"redis logs: {setup.root}")
    print(evidence)
    report.record("redis sentinel failover (primary SIGKILL)", events=expected, lost=len(missing),
                  duplicates_explained=explained, duplicates_unexplained=got.duplicates - explained,
                  longest_stall_s=timeline.longest_stall_s(expected), recover_s=recover_s or 0.0)

    if at_kill >= expected:
        pytest.fail(f"the primary was killed after the delivery had finished: {evidence}")
    assert dead == [], evidence
    assert not missing, evidence
    assert got.external_ids == expected, evidence
    assert got.duplicates == explained, evidence
    assert max(got.txn_ids.values(), default=0) <= 2, evidence
