"""Section 1: end-to-end events/s, provider pages -> platform acknowledgements, simulators unlimited.

For each platform variant (bench/scenarios/e2e_platforms.py), one after the other on the same
machine: the pipeline (``lp.sync_connection`` of every merchant), the naive Celery app
(bench/naive.py) and the raw ceiling (bench/raw.py replaying the pipeline's recorded requests).

Clock: from the trigger (the sync tasks sent; for raw, the first request) to the last
acknowledgement of a request that carried an event (the simulator's stamp when its answer was
ready). Counted: events recorded at the platform (2xx requests, each bulk request counting the
events inside it). The run waits until every delivery finished (counters) and, for Klaviyo,
every profile landed, before it reads the results.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections import Counter
from typing import Any
from urllib.parse import urlencode

from bench.scenarios.e2e_platforms import KlaviyoE2E, PostscriptE2E, replay_line
from bench.simx import self_cpu_s
from bench.stack import ROOT, Stack

Variant = PostscriptE2E | KlaviyoE2E
_ID_SEGMENT = re.compile(r"/(?=[^/]*\d)[^/]{8,}")  # a path segment that is an id (subscriber, job)


def variants(st: Stack) -> list[Variant]:
    return [PostscriptE2E(st), KlaviyoE2E(st)]


def _summary(st: Stack, v: Variant, label: str, t_trigger: float, cpu0: dict[str, float],
             prefix: str) -> dict[str, Any]:
    cpu = st.cpu_delta(cpu0, st.cpu(prefix))
    log = v.sim.log()
    carried = [(t, v.events_of(r)) for t, r in log]
    n = sum(k for _, k in carried)
    t_last = max(t for t, k in carried if k)
    secs = t_last - t_trigger
    statuses = Counter(r.status for _, r in log)
    by_path = Counter(f"{r.method} {_ID_SEGMENT.sub('/{id}', r.path.rstrip('/'))}" for _, r in log)
    problems = v.problems()
    out = {"events": n, "requests": len(log), "secs": round(secs, 2), "events_per_s": round(n / secs, 1),
           "requests_per_s": round(len(log) / secs, 1), "events_per_request": round(n / len(log), 2),
           "statuses": dict(statuses), "requests_by_path": dict(by_path),
           "last_request_after_s": round(max(t for t, _ in log) - t_trigger, 2), "cpu_s": cpu,
           "worker_cpu_ms_per_event": round(cpu["workers"] * 1000 / n, 3) if cpu.get("workers") else None,
           "correct": not problems, "problems": problems[:5], **v.extra(log)}
    st.say(f"  {v.name} {label}: {n} events in {secs:.2f}s = {n / secs:.0f} events/s "
           f"({len(log)} requests); cpu {cpu}; {'OK' if not problems else problems[:2]}")
    return out


def pipeline(st: Stack, v: Variant) -> dict[str, Any]:
    v.reset()
    want = v.expected()
    cpu0, calls0 = st.cpu("pipe"), st.redis_calls()
    t0 = time.time()
    for m in v.merchants:
        st.capp.send_task("lp.sync_connection", args=(m,), kwargs={"scheduled": False}, queue="ingest")

    def done() -> bool:
        return v.events_in() >= want and st.settled(v.merchants) and (
            not isinstance(v, KlaviyoE2E) or v.profiles_done())
    st.wait(done, 60 + want / 100, f"pipeline e2e delivery to {v.name}")
    out = _summary(st, v, "pipeline", t0, cpu0, "pipe")
    out["redis_calls_per_event"] = st.calls_per(calls0, st.redis_calls(), out["events"])
    out["counters"] = {m: {k: n for k, n in st.counters.get(m).items() if n} for m in v.merchants}
    if isinstance(v, KlaviyoE2E):
        out["limiter_bound_secs"] = v.limiter_bound_secs(v.sim.log())
        out["secs_over_limiter_bound"] = round(out["secs"] / out["limiter_bound_secs"], 3) if out["limiter_bound_secs"] else None
    v.recorded = [(r.method, r.path, urlencode(r.query, doseq=True), r.body, r.headers) for _, r in v.sim.log()]
    v.reference = v.payloads()
    return out


def naive(st: Stack, v: Variant) -> dict[str, Any]:
    v.reset()
    want = v.expected()
    cpu0, calls0 = st.cpu("naive"), st.redis_calls()
    t0 = time.time()
    v.naive_start()
    st.wait(v.naive_done, 60 + want / 50, f"naive e2e delivery to {v.name}")
    out = _summary(st, v, "naive", t0, cpu0, "naive")
    out["redis_calls_per_event"] = st.calls_per(calls0, st.redis_calls(), out["events"])
    mine = v.payloads()
    out["same_payloads_as_pipeline"] = mine == v.reference
    if mine != v.reference:
        only_naive, only_pipe = mine - v.reference, v.reference - mine
        out["payload_differences"] = {"only_naive": sum(only_naive.values()), "only_pipeline": sum(only_pipe.values()),
                                      "examples": [*list(only_naive)[:2], *list(only_pipe)[:2]]}
        st.say(f"  WARNING: naive payloads differ from the pipeline's: {out['payload_differences']}")
    return out


def raw(st: Stack, v: Variant, threads: int) -> dict[str, Any]:
    v.reset()
    path = st.logs / f"raw-{v.name}.jsonl"
    with path.open("w") as f:
        for line in v.recorded:
            f.write(json.dumps(replay_line(*line)) + "\n")
    cpu0 = self_cpu_s()
    res = subprocess.run([sys.executable, str(ROOT / "bench" / "raw.py"), v.sim.base_url, str(path), str(threads),
                          v.raw_warm_path], capture_output=True, text=True, timeout=600, cwd=ROOT)
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    d = json.loads(res.stdout)
    sim_cpu = self_cpu_s() - cpu0
    if isinstance(v, KlaviyoE2E):  # bulk profile jobs complete a moment after their 202
        st.wait(v.profiles_done, 10, "Klaviyo bulk import jobs")
    events = sum(k for _, r in v.sim.log() if (k := v.events_of(r)))
    problems = v.problems()
    out = {"threads": threads, "events": events, "requests": d["n"], "secs": round(d["secs"], 2),
           "events_per_s": round(events / d["secs"], 1), "requests_per_s": round(d["n"] / d["secs"], 1),
           "statuses": d["statuses"], "cpu_s": {"client": round(d["client_cpu_s"], 2), "bench_and_sims": round(sim_cpu, 2)},
           "correct": not problems, "problems": problems[:5]}
    st.say(f"  {v.name} raw httpx x{threads}: {events} events in {d['secs']:.2f}s = {events / d['secs']:.0f} events/s; "
           f"client cpu {d['client_cpu_s']:.1f}s, sim cpu {sim_cpu:.1f}s")
    return out
