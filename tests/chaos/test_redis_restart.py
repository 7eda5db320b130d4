"""Chaos: Redis (with AOF) is restarted in the middle of a delivery.

The stack runs against a redis-server of our own with ``appendonly yes`` on a fixed port and
data directory. When about a third of the events have reached Postscript, Redis is stopped
(SIGTERM: a clean shutdown that flushes the AOF), stays down a few seconds, and is started
again on the same port and directory. Worker, beat and web are not touched: they have to
reconnect. Every seeded transaction must still reach Postscript exactly once.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis

from sandbox.demo import DemoOptions, demo_stack
from tests.chaos.conftest import (AofRedis, broker_state, keep_logs, received, smile_expected, wait_done_or_stuck,
                                  wait_until)
from tests.chaos.traffic import receive_times, record_row

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.redis]

TRANSACTIONS = 600
DOWN_S = 3.0
DEADLINE_S = 120.0

def test_redis_restart_with_aof_mid_delivery_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    server = AofRedis(tmp_path / "redis")
    server.start()
    try:
        opts = DemoOptions(merchants=1, customers=60, transactions=TRANSACTIONS, providers=("smile",),
                           redis_url=server.url, allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=4,
                           postscript_rate_per_s=40, smile_rate_per_s=50, timeout_s=DEADLINE_S, log_level="INFO")
        with demo_stack(opts, say=lambda _: None) as stack:
            assert stack.redis.url == server.url  # the stack uses our Redis, it did not start its own
            tenant = stack.tenants[0]
            txn_ids, expected_events = smile_expected(tenant)
            assert len(txn_ids) == TRANSACTIONS

            if not wait_until(lambda: received(tenant.shop).external_ids >= expected_events // 3, 90):
                pytest.fail(f"a third of the events never arrived before the restart: {received(tenant.shop)}")
            client = redis.Redis.from_url(server.url)
            keys_before = int(client.dbsize())
            client.close()
            at_stop = received(tenant.shop).external_ids
            server.stop()
            time.sleep(DOWN_S)
            server.start()
            restarted_s = time.time()
            client = redis.Redis.from_url(server.url)
            keys_after = int(client.dbsize())
            client.close()

            finished = wait_done_or_stuck(lambda: received(tenant.shop).external_ids >= expected_events,
                                          lambda: received(tenant.shop).external_ids, server.url, stack.merchants,
                                          timeout_s=DEADLINE_S)
            time.sleep(3)  # a late duplicate would still show up
            got = received(tenant.shop)
            dead = stack._dead()  # noqa: SLF001 - processes that did not survive the restart
            log = (stack.logs / "worker.log").read_text(errors="replace")
            rejected = log.count("reject requeue=False")
            state = broker_state(server.url, stack.merchants)
            missing = txn_ids - set(got.txn_ids)
            evidence = (f"events at Postscript when Redis stopped: {at_stop}/{expected_events}; keys before stop "
                        f"{keys_before}, after restart {keys_after}; finished={finished}; Postscript has "
                        f"{got.external_ids} distinct / {got.events} received; {len(missing)} transactions missing; "
                        f"duplicated external ids: {len(got.duplicated)} (+{got.duplicates}); dead processes: "
                        f"{[d.splitlines()[0] for d in dead]}; tasks rejected without requeue (worker log): "
                        f"{rejected}; "
                        f"redis: {state}; counters: {stack.counters()}")
            evidence += f"; logs: {keep_logs(stack, tmp_path / 'logs')}"
            print(evidence)
            with tenant.shop.sim.lock:
                times = receive_times(list(tenant.shop.events))
            record_row("redis restart (AOF) mid-delivery", expected=expected_events, distinct=got.external_ids,
                       duplicates=got.duplicates, resent=0, times=times, disturbed_until_s=restarted_s)
    finally:
        server.stop()

    # the scenario itself (pytest.fail: a broken setup, not a finding)
    if at_stop >= expected_events:
        pytest.fail(f"Redis was restarted after the delivery had finished: {evidence}")
    if keys_after < keys_before * 0.5:
        pytest.fail(f"the AOF was not reloaded: {evidence}")
    assert dead == [], evidence
    assert got.duplicates == 0, evidence
    assert not missing, evidence
    assert got.external_ids == expected_events, evidence
