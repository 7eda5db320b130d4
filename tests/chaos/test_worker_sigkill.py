"""Chaos: the only worker is SIGKILLed every few seconds while a large delivery is under way.

One Smile merchant with 600 points transactions delivers to Postscript (its simulated limit
raised so that the delivery, not the limit, is what the kills interrupt). The worker runs in
its own process group; ~3 s after each worker says "ready." it is SIGKILLed (no warm shutdown:
nothing is acknowledged or given back to the broker) and a new one is started. After the last
kill one worker is left to finish. Every seeded transaction must reach Postscript; more than
once only where a send was interrupted by the kill (Postscript has no idempotency key).

Two variants:

- ``broker-default``: the system as configured. Messages a killed worker had taken stay in
  kombu's ``unacked`` hash until the visibility timeout (30 min, workers/config.py); their
  batches come due again in the due set when the dead worker stops renewing their lease
  (``RUN_LEASE_S``), and ``release_due`` hands them to the new worker.
- ``redelivered``: right after each kill the test also gives the killed worker's messages back
  to their queues, as kombu does when the visibility timeout passes: the same batch then
  arrives twice (its copy from the broker and its release from the due set).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from pipeline.delivery import INFLIGHT_TTL_S
from sandbox.demo import DemoOptions, demo_stack
from sandbox.localredis import LocalRedis
from tests.chaos.conftest import (broker_state, keep_logs, kill_worker_repeatedly, received, smile_expected,
                                  stale_claims, wait_done_or_stuck)
from tests.chaos.traffic import receive_times, record_row

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.redis]

TRANSACTIONS = 600
KILL_EVERY_S = 3.0
MAX_KILLS = 6
#: After the last kill, how long one undisturbed worker gets to finish (a deadline, not a measure).
RECOVERY_S = 60.0


@pytest.mark.parametrize("redelivery", ["broker-default", "redelivered"])
def test_sigkill_worker_every_few_seconds_loses_and_duplicates_nothing(fresh_redis: LocalRedis, tmp_path: Path,
                                                                        redelivery: str) -> None:
    opts = DemoOptions(merchants=1, customers=60, transactions=TRANSACTIONS, providers=("smile",),
                       redis_url=fresh_redis.url, allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=4,
                       postscript_rate_per_s=40, smile_rate_per_s=50, timeout_s=170, log_level="INFO")
    rng = random.Random(20240601)
    with demo_stack(opts, say=lambda _: None) as stack:
        tenant = stack.tenants[0]
        txn_ids, expected_events = smile_expected(tenant)
        assert len(txn_ids) == TRANSACTIONS

        def done() -> bool:
            return received(tenant.shop).external_ids >= expected_events

        run = kill_worker_repeatedly(stack, opts, done=done, progress=lambda: received(tenant.shop).external_ids,
                                     redelivery=redelivery, rng=rng, every_s=KILL_EVERY_S, max_kills=MAX_KILLS)
        kills, at_kill, restored = run.kills, run.at_kill, run.restored

        finished = wait_done_or_stuck(done, lambda: received(tenant.shop).external_ids, stack.redis.url,
                                      stack.merchants, timeout_s=RECOVERY_S)
        time.sleep(3)  # a late duplicate would still show up
        got = received(tenant.shop)
        state = broker_state(stack.redis.url, stack.merchants)
        counters = stack.counters()[tenant.merchant]
        missing = txn_ids - set(got.txn_ids)
        claims = stale_claims(stack.redis.url, tenant.merchant, "postscript", tenant.shop)
        evidence = (f"[{redelivery}] kills={kills}, events at Postscript at each kill: {at_kill}, messages "
                    f"redelivered after each kill: {restored}; finished={finished}; expected {expected_events} "
                    f"events ({len(txn_ids)} transactions); Postscript has {got.external_ids} distinct / "
                    f"{got.events} received; {len(missing)} transactions missing; duplicates at Postscript="
                    f"{got.duplicates} {sorted(got.duplicated)}; sends repeated after their worker died (at-least-once)="
                    f"{counters.get('resent_after_interruption', 0)}; pipeline counters: delivered={counters['delivered']} "
                    f"duplicates_dropped={counters['duplicates_dropped']} enqueued={counters['enqueued']}; "
                    f"redis: {state}; in-flight claims left (TTL {INFLIGHT_TTL_S} s): {claims}")
        evidence += f"; logs: {keep_logs(stack, tmp_path / 'logs')}"
        print(evidence)
        with tenant.shop.sim.lock:
            times = receive_times(list(tenant.shop.events))
        record_row(f"worker SIGKILL every 3 s, Postscript ({redelivery})", expected=expected_events,
                   distinct=got.external_ids, duplicates=got.duplicates,
                   resent=counters.get("resent_after_interruption", 0), times=times,
                   disturbed_until_s=run.at_s[-1] if run.at_s else time.time())

    if kills < 2:  # the scenario itself (pytest.fail: the xfail only covers AssertionError)
        pytest.fail(f"the delivery finished before the worker could be killed repeatedly: {evidence}")
    assert not missing, evidence
    # Postscript has no idempotency key: a send the platform accepted just before its worker died,
    # before the ledger recorded it, is sent again by the batch's next holder (at-least-once). Each
    # such resend is counted; a duplicate that no resend explains is a bug. (Klaviyo's unique_id
    # absorbs the same resend: tests/chaos/test_worker_sigkill_klaviyo.py.)
    assert got.duplicates <= counters.get("resent_after_interruption", 0), evidence
    assert max(got.txn_ids.values(), default=0) <= 2, evidence
    assert got.external_ids == expected_events, evidence
