"""Chaos: one platform answers 503 to everything; the other platforms keep their throughput.

A Rediem merchant fans out to Postscript and Klaviyo. The same workload runs twice, each on a
fresh stack and Redis: once as a baseline, once with Klaviyo answering 503 to every request.
Postscript must receive all its events (exactly once) in both runs, and the faulty run may take
at most 10% longer (plus a small absolute slack for process start-up jitter) than the
baseline. Time here is a ratio of two runs of the same test, with the completion of a count
(all of Postscript's expected events) as the end point.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox.demo import DemoOptions, demo_stack
from sandbox.localredis import start_redis_server
from tests.chaos.conftest import keep_logs, received, wait_until
from tests.chaos.traffic import receive_times, record_row

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.redis]

ACTIVITIES = 300
MEMBERS = 25
TOLERANCE = 1.10
SLACK_S = 2.0
DEADLINE_S = 120.0


def _run(*, klaviyo_down: bool, logs: Path) -> dict[str, object]:
    local = start_redis_server()
    try:
        opts = DemoOptions(providers=("rediem",), members=MEMBERS, activities=ACTIVITIES, redis_url=local.url,
                           allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=8, timeout_s=DEADLINE_S,
                           log_level="INFO")
        with demo_stack(opts, say=lambda _: None) as stack:
            started = time.monotonic()
            (tenant,) = stack.tenants
            (fan,) = tenant.fanout
            assert fan.kind == "klaviyo"
            if klaviyo_down:
                fan.sim.fail_next(200_000, 503)  # every request, for longer than this run
            expected = sum(tenant.expected().values())
            done = wait_until(lambda: received(tenant.shop).events >= expected, DEADLINE_S, interval_s=0.1)
            elapsed = time.monotonic() - started
            got = received(tenant.shop)
            with fan.sim.lock:
                klaviyo = {"503": sum(1 for r in fan.sim.requests if r.status == 503),
                           "2xx": sum(1 for r in fan.sim.requests if 200 <= r.status < 300)}
            keep_logs(stack, logs)
            with tenant.shop.sim.lock:
                times = receive_times(list(tenant.shop.events))
            if klaviyo_down:  # the row: what the healthy platform got while the other was down
                record_row("Klaviyo down (503), Postscript unaffected", expected=expected, distinct=got.external_ids,
                           duplicates=got.duplicates, resent=0, times=times, disturbed_until_s=time.time())
            return {"done": done, "elapsed_s": round(elapsed, 2), "expected": expected, "events": got.events,
                    "distinct": got.external_ids, "duplicates": got.duplicates, "problems": tenant.problems(),
                    "klaviyo_events": len(fan.account.events), "klaviyo": klaviyo,
                    "counters": stack.counters()[tenant.merchant]}
    finally:
        local.stop()


def test_a_platform_down_does_not_slow_the_others(tmp_path: Path) -> None:
    baseline = _run(klaviyo_down=False, logs=tmp_path / "baseline")
    faulty = _run(klaviyo_down=True, logs=tmp_path / "faulty")
    evidence = f"baseline {baseline}; klaviyo down {faulty}"
    print(evidence)

    for run in (baseline, faulty):
        assert run["done"] and run["events"] == run["distinct"] == run["expected"], evidence
        assert run["duplicates"] == 0, evidence
    assert faulty["klaviyo_events"] == 0 and faulty["klaviyo"]["503"] > 0, evidence  # Klaviyo really was down
    assert baseline["klaviyo"]["2xx"] > 0, evidence
    assert faulty["elapsed_s"] <= TOLERANCE * baseline["elapsed_s"] + SLACK_S, evidence
