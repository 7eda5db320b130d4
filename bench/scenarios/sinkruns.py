"""Sections 6-8, against the sink (bench/sink.py, its own process) with workers started from the
Procfile's ``worker`` line (bench/sinkstack.py). Every run starts from an emptied Redis database.

Each run has an ingest phase first: the merchants' scheduled syncs (``lp.sync_connection`` with its
default ``scheduled=True``, as beat sends it) run on ingest-only workers (the Procfile line with the
``deliver.*`` queues left out), until every merchant's sync completed; their CPU is the ingest CPU.
The delivery phase then starts the Procfile workers on the queued deliveries.

6. latency-bound scale: M merchants, each its own Postscript key limited to 15 rps at the sink, every
   answer after ``scale_latency_ms``. After ``scale_warm_s``, a window of ``scale_window_s``: accepted
   requests/s ÷ allowed (15 × M), 429 share, worker CPU per accepted request, worker RSS, the CPU of
   the workers, the sink and Redis (in cores), requests in flight at the sink, and what binds.
7. CPU per request, single events, Postscript and Attentive (limits out of the way, the sink at
   ``cpu_latency_ms``): the pipeline (delivery phase alone, and all-in with its ingest), the naive
   Celery app (bench/naive.py, which reads and sends in its own tasks), and the raw ceiling: the same
   event bodies replayed by bench/raw.py with httpx and with http.client, one keep-alive connection.
8. ingest records/s per core: the ingest phase alone (records pulled ÷ ingest workers' CPU seconds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from bench import naive
from bench.sink import key_label
from bench.sinkstack import SinkBench
from bench.stack import ROOT

WORKERS, INGEST = "sinkw", "ingw"  # process groups


def _sum_keys(stats: dict[str, Any], labels: set[str], field: str) -> int:
    return sum(int(v.get(field, 0)) for k, v in stats["keys"].items() if k in labels)


def _labels(sb: SinkBench, group: str) -> set[str]:
    return {key_label(sb.key(t, group)) for t in sb.groups[group]}


def _delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: round(b[k] - a[k], 3) for k in a}


def ingest_phase(sb: SinkBench, group: str) -> dict[str, Any]:
    st = sb.st
    sb.fresh_redis()
    sb.start_workers(INGEST, 1, ingest_only=True)
    merchants = sb.merchants(group)
    cpu0, t0 = sb.cpu(INGEST), time.time()
    for m in merchants:
        st.capp.send_task("lp.sync_connection", args=(m,), queue="ingest")
    st.wait(
        lambda: all(st.counters.get(m)["syncs_completed"] >= 1 for m in merchants),
        120 + sb.records(group) / 100,
        f"the scheduled syncs of {group}",
        interval=0.2,
    )
    secs = time.time() - t0
    cpu = _delta(cpu0, sb.cpu(INGEST))
    st.stop_group(INGEST, timeout=5)
    counts = [st.counters.get(m) for m in merchants]
    pulled, enqueued = sum(c["pulled"] for c in counts), sum(c["enqueued"] for c in counts)
    out = {
        "merchants": len(merchants),
        "records_pulled": pulled,
        "deliveries_enqueued": enqueued,
        "secs": round(secs, 2),
        "cpu_s": cpu,
        "records_per_s": round(pulled / secs, 1),
        "worker_cpu_ms_per_record": round(cpu["workers"] * 1000 / max(1, pulled), 3),
        "records_per_cpu_s": round(pulled / cpu["workers"], 1) if cpu["workers"] else None,
    }
    st.say(
        f"  ingest {group}: {pulled} records in {secs:.1f}s ({out['records_per_s']} /s), worker CPU "
        f"{out['worker_cpu_ms_per_record']} ms/record, {enqueued} deliveries enqueued"
    )
    return out


def _binds(
    cores: dict[str, float], ratio: float, share_429: float, in_flight: float, conc: int | None, procs: int
) -> tuple[str, dict[str, float]]:
    """The group nearest its ceiling: the limit (rate reached or 429s), a worker process's core
    (one GIL each), the machine's cores (the load of other users not counted: see loadavg), the
    in-flight requests the pool's slots allow (only a ceiling while it holds: more requests in flight
    than slots means each slot runs several, so slots are not the bound), sink, Redis."""
    use = {
        "allowed_rate": round(max(ratio, 1.0 if share_429 > 0.01 else 0.0), 3),
        "worker_cores_per_process": round(cores["workers"] / max(1, procs), 3),
        "machine_cores": round(sum(cores.values()) / (os.cpu_count() or 1), 3),
        "sink_core": round(cores["sink"], 3),
        "redis_core": round(cores["redis"], 3),
    }
    if conc:
        use["threads_in_flight"] = round(in_flight / (conc * procs), 3)
    ceilings = {k: v for k, v in use.items() if not (k == "threads_in_flight" and v > 1.05)}
    return max(ceilings, key=lambda k: ceilings[k]), use


def scale(sb: SinkBench, m: int) -> dict[str, Any]:
    st, c, sink = sb.st, sb.st.cfg, sb.sink
    group = f"scale{m}"
    ing = ingest_phase(sb, group)
    sink.configure(latency_ms=c.scale_latency_ms, postscript_rate_per_s=15, attentive_rate_per_s=150)
    sink.reset()
    labels = _labels(sb, group)
    sb.start_workers(WORKERS, c.procfile_workers)
    time.sleep(c.scale_warm_s)
    s0, cpu0, w0 = sink.stats(), sb.cpu(WORKERS), time.time()
    time.sleep(c.scale_window_s)
    s1, cpu1, w1 = sink.stats(), sb.cpu(WORKERS), time.time()
    rss = sb.rss_mib(WORKERS)
    counters: dict[str, int] = {}
    for merchant in sb.merchants(group):  # the pipeline's own view: delivered, deferred, rate_limited, ...
        for k, v in st.counters.get(merchant).items():
            counters[k] = counters.get(k, 0) + v
    st.stop_group(WORKERS, timeout=3)
    dt = w1 - w0
    ok = _sum_keys(s1, labels, "ok") - _sum_keys(s0, labels, "ok")
    n429 = _sum_keys(s1, labels, "429") - _sum_keys(s0, labels, "429")
    per_key = sorted(int(s1["keys"].get(k, {}).get("ok", 0)) - int(s0["keys"].get(k, {}).get("ok", 0)) for k in labels)
    allowed = 15 * m
    cpu = _delta(cpu0, cpu1)
    cores = {k: round(v / dt, 3) for k, v in cpu.items() if k != "bench_and_sims"}
    in_flight = (s1["in_flight"]["area_s"] - s0["in_flight"]["area_s"]) / max(
        1e-9, s1["in_flight"]["t"] - s0["in_flight"]["t"]
    )
    share_429 = n429 / max(1, ok + n429)
    binds, use = _binds(cores, ok / dt / allowed, share_429, in_flight, sb.shape["concurrency"], c.procfile_workers)
    exhausted = sum(
        1
        for t in sb.groups[group]
        if int(s1["keys"].get(key_label(sb.key(t, group)), {}).get("events", 0)) >= sum(t.expected().values())
    )
    out = {
        "merchants": m,
        "latency_ms": c.scale_latency_ms,
        "allowed_rps": allowed,
        "window_s": round(dt, 2),
        "worker": sb.shape,
        "worker_processes": c.procfile_workers,
        "achieved_rps": round(ok / dt, 1),
        "achieved_over_allowed": round(ok / dt / allowed, 3),
        "share_429": round(share_429, 4),
        "per_key_rps_min_median_max": [
            round(per_key[0] / dt, 1),
            round(per_key[len(per_key) // 2] / dt, 1),
            round(per_key[-1] / dt, 1),
        ],
        "in_flight_mean": round(in_flight, 1),
        "in_flight_max": s1["in_flight"]["max"],
        "cpu_s": cpu,
        "cores": cores,
        "worker_cpu_ms_per_request": round(cpu["workers"] * 1000 / max(1, ok), 3),
        "sink_cpu_ms_per_request": round(cpu["sink"] * 1000 / max(1, ok + n429), 3),
        "worker_rss": rss,
        "binds": binds,
        "utilisation": use,
        "ingest": ing,
        "pipeline_counters_at_window_end": {k: v for k, v in counters.items() if v},
        "keys_whose_backlog_ran_out": exhausted,
        "backlog_ran_out": exhausted > 0,
        "loadavg_at_window_end": os.getloadavg(),
    }
    st.say(
        f"  M={m}: {out['achieved_rps']} of {allowed} rps (= {out['achieved_over_allowed']}), 429 share "
        f"{share_429:.2%}; worker CPU {out['worker_cpu_ms_per_request']} ms/request; cores {cores}; in flight "
        f"{in_flight:.0f}; binds: {binds}"
    )
    if out["backlog_ran_out"]:
        st.say(f"  WARNING: {exhausted} merchants' backlog ran out inside the window: the rate is understated")
    return out


def _deliver_all(sb: SinkBench, group: str, prefix: str, trigger: Any = None) -> dict[str, Any]:
    """From now (the ``prefix`` workers ready), run ``trigger()`` if any and wait until every event of
    the group is at the sink and no request came for 1 s; CPU of each group meanwhile. Requests
    answered before this call (workers already consuming) are left out of the counts."""
    st, sink = sb.st, sb.sink
    labels, want = _labels(sb, group), sb.expected_events(group)
    s0, cpu0, t0 = sink.stats(), sb.cpu(prefix), time.time()
    if trigger is not None:
        trigger()
    last = [-1, time.time()]

    def done() -> bool:
        s = sink.stats()
        n, req = _sum_keys(s, labels, "events"), _sum_keys(s, labels, "requests")
        if req != last[0]:
            last[:] = [req, time.time()]
        return n >= want and time.time() - last[1] > 1.0

    st.wait(done, 120 + want / 50, f"{group} events at the sink", interval=0.2)
    s = sink.stats()
    cpu = _delta(cpu0, sb.cpu(prefix))

    def d(field: str) -> int:
        return _sum_keys(s, labels, field) - _sum_keys(s0, labels, field)

    ok, secs = d("ok"), last[1] - t0
    return {
        "events": _sum_keys(s, labels, "events"),
        "requests_ok": ok,
        "requests": d("requests"),
        "requests_before_clock": _sum_keys(s0, labels, "requests"),
        "duplicate_events": _sum_keys(s, labels, "duplicate_events"),
        "secs": round(secs, 2),
        "requests_per_s": round(ok / secs, 1),
        "cpu_s": cpu,
        "worker_cpu_ms_per_request": round(cpu["workers"] * 1000 / max(1, ok), 3),
        "sink_cpu_ms_per_request": round(cpu["sink"] * 1000 / max(1, ok), 3),
    }


def _raw(sb: SinkBench, group: str, client: str, threads: int) -> dict[str, Any]:
    """The group's event bodies (naive's, the same as the pipeline's: section 1 checks it) replayed."""
    st = sb.st
    ps = sb.platform[group] == "postscript"
    path = st.logs / f"raw-{group}.jsonl"
    n = 0
    with path.open("w") as f:
        for t in sb.groups[group]:
            emails = {cid: cu["email"] for cid, cu in t.account.customers.items()}
            key = sb.key(t, group)
            for rec in t.account.points_transactions.values():
                body = naive._txn_event(rec, emails.get(rec["customer_id"]) or "")
                if body is None or not body["email"]:
                    continue
                if not ps:
                    body = naive.attentive_event_body(body, rec["created_at"])
                f.write(
                    json.dumps(
                        {
                            "m": "POST",
                            "u": "/api/v2/events" if ps else "/v1/events/custom",
                            "b": json.dumps(body),
                            "h": {"authorization": f"Bearer {key}", "content-type": "application/json"},
                        }
                    )
                    + "\n"
                )
                n += 1
    sb.sink.reset()
    sink0 = sb.sink.cpu_s()
    res = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "raw.py"),
            sb.sink.base_url,
            str(path),
            str(threads),
            "/api/v2/me" if ps else "/v1/me",
            "--client",
            client,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
    )
    if res.returncode:
        raise RuntimeError(res.stderr[-2000:])
    d = json.loads(res.stdout)
    sink_cpu = sb.sink.cpu_s() - sink0
    out = {
        "client": client,
        "threads": threads,
        "requests": d["n"],
        "statuses": d["statuses"],
        "secs": round(d["secs"], 2),
        "requests_per_s": round(d["n"] / d["secs"], 1),
        "client_cpu_ms_per_request": round(d["client_cpu_s"] * 1000 / d["n"], 3),
        "sink_cpu_ms_per_request": round(sink_cpu * 1000 / d["n"], 3),
    }
    st.say(
        f"  raw {client} x{threads}: {out['requests_per_s']} rps, client CPU {out['client_cpu_ms_per_request']} "
        f"ms/request, sink {out['sink_cpu_ms_per_request']} ms/request"
    )
    return out


def cpu_per_request(sb: SinkBench, group: str) -> dict[str, Any]:
    st, c, sink = sb.st, sb.st.cfg, sb.sink
    platform = sb.platform[group]
    ing = ingest_phase(sb, group)
    sink.configure(latency_ms=c.cpu_latency_ms, postscript_rate_per_s=0, attentive_rate_per_s=0)
    sink.reset()
    sb.start_workers(WORKERS, c.procfile_workers)
    pipe = _deliver_all(sb, group, WORKERS)
    st.stop_group(WORKERS, timeout=3)
    all_in = ing["cpu_s"]["workers"] + pipe["cpu_s"]["workers"]
    pipe |= {
        "ingest": ing,
        "worker_cpu_ms_per_request_all_in": round(all_in * 1000 / max(1, pipe["requests_ok"]), 3),
        "worker_cpu_ms_per_event_all_in": round(all_in * 1000 / max(1, pipe["events"]), 3),
    }
    st.say(
        f"  {platform} pipeline: {pipe['events']} events, {pipe['requests_ok']} requests; worker CPU "
        f"{pipe['worker_cpu_ms_per_request']} ms/request delivering, {pipe['worker_cpu_ms_per_request_all_in']} "
        f"all-in; sink {pipe['sink_cpu_ms_per_request']} ms/request"
    )
    out: dict[str, Any] = {"platform": platform, "latency_ms": c.cpu_latency_ms, "worker": sb.shape, "pipeline": pipe}
    sb.fresh_redis()
    sink.reset()
    task = "naive.sync" if platform == "postscript" else "naive.sync_attentive"
    st.start_naive(c.workers, f"{100000}/s")

    def start_naive() -> None:
        for t in sb.groups[group]:
            st.napp.send_task(
                task, args=(f"{st.smile.base_url}/v1", t.account.api_key, sink.base_url, sb.key(t, group))
            )

    out["naive"] = nv = _deliver_all(sb, group, "naive", start_naive)
    st.stop_group("naive", timeout=3)
    st.say(
        f"  {platform} naive: {nv['events']} events, {nv['requests_ok']} requests; worker CPU "
        f"{nv['worker_cpu_ms_per_request']} ms/request"
    )
    for client in ("httpx", "http.client"):
        out[f"raw_{client}"] = _raw(sb, group, client, 1)
    out["ratios"] = {
        "pipeline_all_in_over_naive": round(
            pipe["worker_cpu_ms_per_request_all_in"] / max(1e-9, nv["worker_cpu_ms_per_request"]), 3
        )
    }
    return out


def ingest_rate(sb: SinkBench) -> dict[str, Any]:
    out = ingest_phase(sb, "ing")
    out["worker"] = sb.shape
    return out
