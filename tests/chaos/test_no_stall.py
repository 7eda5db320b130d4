"""Chaos (issue 15): no merchant stalls when a worker or beat dies.

Three merchants, on Smile, Rediem and Omneo, each deliver to Postscript, Attentive and Klaviyo.
A feeder adds activity for each of them every second while the scenario runs, so each one's
syncs always have work and a stalled merchant shows as a gap in its arrivals at the platforms
(measured from the simulators' receive times: tests/chaos/traffic.py).

- ``worker SIGKILL``: the worker is SIGKILLed ~6 s after each start, for ~72 s. A sync killed
  holding its lease is resumed by a live worker once the lease runs out (6 s); batches the
  killed worker held come back when their lease does (12 s).
- ``beat SIGKILL``: two beats run; the leader is SIGKILLed mid-run and the standby takes over.
  The workers hand out due batches themselves, so nothing waits for beat.

Both: every seeded and fed event reaches every platform (0 lost); an event that reached a
platform twice is explained by a send repeated after its worker died (Postscript and Attentive
have no idempotency key; Klaviyo's unique_id absorbs it); no merchant goes more than 30 s
without an arrival before all its events have arrived.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from sandbox.demo import DemoOptions, demo_stack
from sandbox.localredis import LocalRedis
from tests.chaos import report
from tests.chaos.conftest import broker_state, keep_logs, kill_worker_repeatedly, sigkill, wait_for_log, wait_until
from tests.chaos.traffic import Feeder, tally

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.redis]

PLATFORMS = ("postscript", "attentive", "klaviyo")
#: The bound of issue 15: no merchant waits longer than this for its next event.
STALL_LIMIT_S = 30.0
#: After the disturbance, how long the stack gets to deliver everything (a deadline, not a measure).
RECOVERY_S = 120.0


def _options(url: str, **kw: object) -> DemoOptions:
    return DemoOptions(merchants=1, customers=40, transactions=200, providers=("smile", "omneo", "rediem"),
                       members=20, activities=100, redis_url=url, allow_fake_redis=False, sync_interval_s=2.0,
                       worker_concurrency=8, postscript_rate_per_s=50, smile_rate_per_s=20, log_level="INFO",
                       fanout=("attentive", "klaviyo"), **kw)  # type: ignore[arg-type]


def _finish(stack, disturbed_until_s: float, tmp_path: Path, scenario: str):  # type: ignore[no-untyped-def]
    """Wait for every merchant to be complete (or the deadline); record the row (recovery: from the
    end of the disturbance, when the feeder stopped, until the last expected event arrived)."""
    wait_until(lambda: all(m.lost == 0 for m in tally(stack)), RECOVERY_S, interval_s=1.0)
    time.sleep(3)  # a late duplicate would still show up
    now = time.time()
    tallies = tally(stack)
    first = min((a for m in tallies for a in m.arrivals), default=now)
    stalls = {m.merchant: round(m.stall_s(first, now), 1) for m in tallies}
    complete_at = now if any(m.lost for m in tallies) else max(max(m.arrivals, default=now) for m in tallies)
    row = report.record(scenario, events=sum(m.expected for m in tallies), lost=sum(m.lost for m in tallies),
                        duplicates_explained=sum(m.explained for m in tallies),
                        duplicates_unexplained=sum(m.unexplained for m in tallies),
                        longest_stall_s=max(stalls.values()), recover_s=max(0.0, complete_at - disturbed_until_s))
    evidence = (f"{row}; stalls {stalls}; per merchant "
                + "; ".join(f"{m.merchant}: expected {m.expected}, lost {m.lost} {m.missing}, duplicates {m.duplicates}"
                            f" (resent after interruption {m.resent})" for m in tallies)
                + f"; redis: {broker_state(stack.redis.url, stack.merchants, PLATFORMS)}"
                + f"; logs: {keep_logs(stack, tmp_path / 'logs')}")
    print(evidence)
    return tallies, stalls, evidence


def _assert_no_loss_no_stall(tallies, stalls, evidence: str) -> None:  # type: ignore[no-untyped-def]
    assert all(m.lost == 0 for m in tallies), evidence
    assert all(m.unexplained == 0 for m in tallies), evidence
    assert max(stalls.values()) <= STALL_LIMIT_S, evidence


def test_worker_sigkilled_every_6s_three_merchants_three_platforms(fresh_redis: LocalRedis, tmp_path: Path) -> None:
    opts = _options(fresh_redis.url)
    with demo_stack(opts, say=lambda _: None) as stack:
        assert sorted(t.provider for t in stack.tenants) == ["omneo", "rediem", "smile"]
        assert all(sorted([*(["postscript"] if t.on_postscript else []), *(f.kind for f in t.fanout)]) ==
                   sorted(PLATFORMS) for t in stack.tenants)
        with Feeder(stack, every_s=1.0) as feeder:
            started = time.monotonic()
            run = kill_worker_repeatedly(stack, opts, done=lambda: time.monotonic() - started > 72,
                                         progress=lambda: len(stack.postscript.requests),
                                         redelivery="broker-default", rng=random.Random(15), every_s=6.0,
                                         max_kills=14)
        tallies, stalls, evidence = _finish(stack, feeder.stopped_s, tmp_path, "worker SIGKILL every 6 s, 3 merchants x 3 platforms")
        evidence = f"kills={run.kills}, fed={dict(feeder.added)}; {evidence}"
    if run.kills < 6:
        pytest.fail(f"the worker was killed only {run.kills} times: {evidence}")
    _assert_no_loss_no_stall(tallies, stalls, evidence)


def test_beat_leader_sigkilled_the_standby_takes_over(fresh_redis: LocalRedis, tmp_path: Path) -> None:
    opts = _options(fresh_redis.url, beats=2)
    with demo_stack(opts, say=lambda _: None) as stack:
        logs = {name: stack.logs / f"{name}.log" for name in ("beat", "beat-2")}
        assert wait_until(lambda: any("leads now" in p.read_text() for p in logs.values() if p.exists()), 60)
        leader = next(name for name, p in logs.items() if "leads now" in p.read_text())
        standby = next(name for name in logs if name != leader)
        with Feeder(stack, every_s=1.0) as feeder:
            time.sleep(15)
            sigkill(stack.processes[leader])
            took_over = wait_for_log(logs[standby], "leads now", 60, stack.processes[standby])
            time.sleep(20)  # the feeder keeps going under the new leader
        tallies, stalls, evidence = _finish(stack, feeder.stopped_s, tmp_path, "beat leader SIGKILL, standby takes over")
        worker_log = (stack.logs / "worker.log").read_text()
        beat_logs = "".join(p.read_text() for p in logs.values())
        evidence = f"leader={leader}, standby took over: {took_over}, fed={dict(feeder.added)}; {evidence}"
    assert took_over, evidence
    _assert_no_loss_no_stall(tallies, stalls, evidence)
    # housekeeping stays quiet: no line per heartbeat task received, run or sent
    assert not re.search(r"lp\.heartbeat\[|Sending due task heartbeat", worker_log + beat_logs), evidence
