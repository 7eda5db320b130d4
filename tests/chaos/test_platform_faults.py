"""Chaos: Postscript answers ~30% of requests 503, with bursts of 429.

Every event must end either delivered or dead-lettered with its reason (nothing silently
dropped, nothing left pending); once the faults stop, ``loyalty-pipeline dlq replay`` must
bring every dead-lettered event to Postscript, each exactly once, and empty the DLQ.

Few attempts per delivery (``DELIVERY_MAX_ATTEMPTS=2``) so that some deliveries do exhaust
their retries and the dead-letter path and the replay are exercised.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

import sandbox.demo.stack as demo_stack_module
from sandbox.demo.stack import _settled
from pipeline import keys
from sandbox.demo import DemoOptions, demo_stack
from sandbox.localredis import LocalRedis
from sandbox.sim import PostscriptSimulator
from sandbox.sim.server import HttpError, Request, Response
from tests.chaos.conftest import broker_state, keep_logs, received, smile_expected, stack_env, wait_until
from tests.chaos.traffic import receive_times, record_row

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.redis]

TRANSACTIONS = 300
FAIL_SHARE = 0.30  # of requests answered 503
BURST_START = 0.006  # chance that a request starts a burst of 429s (a few bursts per run)
BURST_LEN = (3, 8)


class FlakyPostscript(PostscriptSimulator):
    """Postscript that, while ``faulty``, answers ~30% 503 and now and then a burst of 429s."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.faulty = True
        self._rng = random.Random(1234)
        self._burst = 0
        self._fault_lock = threading.Lock()
        self.injected: Counter[int] = Counter()

    def _fault(self) -> int | None:
        with self._fault_lock:
            if not self.faulty:
                return None
            if self._burst:
                self._burst -= 1
                return 429
            if self._rng.random() < BURST_START:
                self._burst = self._rng.randint(*BURST_LEN) - 1
                return 429
            return 503 if self._rng.random() < FAIL_SHARE else None

    def handle(self, req: Request) -> Response:
        if req.path.startswith("/api/v2/") and (status := self._fault()) is not None:
            self.injected[status] += 1
            if status == 429:
                return self.error_response(self.rate_limited_error())
            return self.error_response(HttpError(503, "simulated 503: service unavailable"))
        return super().handle(req)


def _dlq(url: str, merchant: str) -> list[dict[str, Any]]:
    client = redis.Redis.from_url(url)
    try:
        return [json.loads(fields[b"json"]) for _, fields in client.xrange(keys.dlq(merchant, "postscript"))]
    finally:
        client.close()


def test_flaky_platform_every_event_delivered_or_dead_lettered_then_replayed_exactly_once(
        fresh_redis: LocalRedis, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(demo_stack_module, "PostscriptSimulator", FlakyPostscript)
    monkeypatch.setenv("DELIVERY_MAX_ATTEMPTS", "2")
    monkeypatch.setenv("DELIVERY_RETRY_BASE_S", "0.5")
    monkeypatch.setenv("DELIVERY_RETRY_MAX_S", "2")
    opts = DemoOptions(merchants=1, customers=40, transactions=TRANSACTIONS, providers=("smile",),
                       redis_url=fresh_redis.url, allow_fake_redis=False, sync_interval_s=1.0, worker_concurrency=4,
                       postscript_rate_per_s=100, smile_rate_per_s=50, timeout_s=150, log_level="INFO")
    with demo_stack(opts, say=lambda _: None) as stack:
        sim = stack.postscript
        assert isinstance(sim, FlakyPostscript)
        tenant = stack.tenants[0]
        merchant, url = tenant.merchant, stack.redis.url
        txn_ids, expected_events = smile_expected(tenant)

        def dead_events() -> list[dict[str, Any]]:
            return [e for e in _dlq(url, merchant) if e.get("kind") == "event"]

        def accounted() -> bool:
            """Every event delivered or dead-lettered, and nothing left to retry."""
            state = broker_state(url, [merchant])
            idle = not state.queued.get("deliver.postscript") and not any(state.due.values())
            return (idle and _settled(stack.counters()[merchant], pulls=True)
                    and received(tenant.shop).external_ids + len(dead_events()) >= expected_events)

        settled = wait_until(accounted, 120, interval_s=0.5)
        time.sleep(2)
        got, dead, dlq_all = received(tenant.shop), dead_events(), _dlq(url, merchant)
        dead_ids = Counter(e["delivery_id"] for e in dead)
        dead_txns = Counter(str(e["delivery"]["item"]["properties"].get("Transaction ID")) for e in dead
                            if "Transaction ID" in e["delivery"]["item"]["properties"])
        with sim.lock:
            arrived_ids = set(tenant.shop.events_by_external_id)
            statuses = Counter(r.status for r in sim.requests)
        phase1 = (f"settled={settled}; faults injected {dict(sim.injected)}; answers {dict(statuses)}; expected "
                  f"{expected_events} events ({len(txn_ids)} transactions); at Postscript {got.external_ids} distinct "
                  f"/ {got.events} received; dead-lettered events {len(dead)} (all entries {len(dlq_all)}: "
                  f"{dict(Counter(e['kind'] for e in dlq_all))}); reasons "
                  f"{dict(Counter((e['error_class'], e['http_status'], e['reason']) for e in dlq_all))}; "
                  f"redis: {broker_state(url, [merchant])}; counters {stack.counters()[merchant]}")
        print(phase1)

        # the faults were real, and every event is delivered xor dead-lettered, each with a reason
        assert sim.injected[503] > 50 and sim.injected[429] >= 3, phase1
        assert settled, phase1
        assert got.duplicates == 0 and max(dead_ids.values(), default=0) == 1, phase1
        assert not (arrived_ids & set(dead_ids)), f"delivered and dead-lettered: {arrived_ids & set(dead_ids)}"
        assert got.external_ids + len(dead_ids) == expected_events, phase1
        assert set(got.txn_ids) | set(dead_txns) == txn_ids and not (set(got.txn_ids) & set(dead_txns)), phase1
        assert dead, f"no event exhausted its attempts: the replay is not exercised ({phase1})"
        for entry in dlq_all:
            assert entry["reason"] and entry["error_class"] and entry["attempts"], entry

        # the platform recovers; the operator replays the dead letters
        sim.faulty = False
        replay_started_s = time.time()
        replay = subprocess.run([sys.executable, "-c", "from workers.cli import main; main()", "dlq", "replay",
                                 "--share", "1"], env=stack_env(stack, opts), capture_output=True, text=True,
                                timeout=60)
        assert replay.returncode == 0, replay.stderr
        assert f"replaying {len(dlq_all)} entr" in replay.stdout, replay.stdout

        def replayed() -> bool:
            return not _dlq(url, merchant) and received(tenant.shop).external_ids >= expected_events

        finished = wait_until(replayed, 90, interval_s=0.5)
        time.sleep(3)  # a late duplicate would still show up
        got, left = received(tenant.shop), _dlq(url, merchant)
        problems = tenant.problems()
        phase2 = (f"replay: {replay.stdout.strip()!r}; finished={finished}; at Postscript {got.external_ids} "
                  f"distinct / {got.events} received, duplicates {got.duplicates}; DLQ left {len(left)} "
                  f"{[(e['kind'], e['reason']) for e in left][:5]}; problems {problems}; "
                  f"counters {stack.counters()[merchant]}")
        phase2 += f"; logs: {keep_logs(stack, tmp_path / 'logs')}"
        print(phase2)
        with sim.lock:
            times = receive_times(list(tenant.shop.events))
        record_row("Postscript 30% 503 + 429 bursts, then DLQ replay", expected=expected_events,
                   distinct=got.external_ids, duplicates=got.duplicates, resent=0, times=times,
                   disturbed_until_s=replay_started_s)

    assert left == [], phase2
    assert got.duplicates == 0, phase2
    assert max(got.txn_ids.values()) == 1 and set(got.txn_ids) == txn_ids, phase2
    assert got.external_ids == got.events == expected_events, phase2
    assert problems == [], phase2  # types per event, and every subscriber's properties, match Smile
