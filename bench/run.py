"""End-to-end benchmark of loyalty-pipeline on its simulators, against a naive baseline and the raw ceiling.

    .venv/bin/python bench/run.py [--quick] [--json out.json] [--workers N] [--concurrency C] [--only 1,2,3,4,5]
                                  [--platforms postscript,klaviyo] [--procfile-workers N] [--scale 60,200]

Starts a private redis-server, the simulators (in this process), N Celery worker processes,
beat and the web process, and measures in one run:

1. end-to-end events/s, provider pages → platform acknowledgements, simulators unlimited, for
   Smile merchants connected to Postscript only and for Smile merchants connected to Klaviyo
   only: the pipeline, a naive Celery app (bench/naive.py) and the raw httpx ceiling (bench/raw.py);
2. use of a platform rate limit (Postscript sim limited to R rps, 4 worker processes, one shop):
   achieved ÷ R and the share of 429 answers, for the pipeline and for the naive app;
3. latency from webhook receipt (signed Okendo webhooks to the web process) to the
   platform's acknowledgement, at a steady load below the limits;
4. the bulk initial sync (``loyalty-pipeline sync initial``) of N customers (100,000 without
   --quick) against the bound set by the platform limit, and peak RSS (VmHWM) of the worker
   processes and of the command;
5. the daily balance sync after 1 % of the customers changed: Postscript requests per customer.

Sections 6-8 run against the sink (bench/sink.py: an asyncio HTTP/1.1 keep-alive endpoint in its own
process, per-key limits, a set answer latency) with worker processes started from the Procfile's
``worker`` line as it stands (``--procfile-workers`` of them, default one per core), the CPU of every process
group (workers, sink, Redis) read from /proc; each run starts from an emptied Redis database and
pulls through the scheduled sync task, on ingest-only workers, before the delivery phase
(bench/scenarios/sinkruns.py):

6. latency-bound scale: M = 60 and M = 200 Smile merchants (``--scale``), each with its own Postscript
   key allowed 15 rps, every answer after 100 ms: requests/s achieved ÷ allowed, 429 share, worker CPU
   per request, worker RSS, sink and Redis CPU, requests in flight, and what binds;
7. CPU per single-event request, Postscript and Attentive, limits out of the way, answers at once:
   the pipeline (delivering, and all-in with its ingest), the naive app, and the raw ceiling (bench/raw.py
   with httpx and with http.client, one keep-alive connection), all against the same sink;
8. ingest records/s per core: the scheduled syncs of 4 merchants on ingest-only workers.

``--only 1p`` runs section 1 for the pipeline only (no naive, no raw). Everything it starts is
stopped at the end (also on Ctrl-C). Layout: bench/stack.py (processes, simulators, merchants),
bench/scenarios/*.py (one module per section), bench/report.py (table, JSON). See
docs/performance-draft.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from bench import report  # noqa: E402
from bench.scenarios import bulk, e2e, latency, ratelimit, sinkruns  # noqa: E402
from bench.simx import lookup_cost, machine  # noqa: E402
from bench.stack import UNLIMITED, Cfg, Stack  # noqa: E402


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes; finishes in about 3 minutes on 2 idle cores")
    ap.add_argument("--json", dest="json_path", help="write the results here")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for sections 1, 3, 4, 5 (default 2)")
    ap.add_argument("--concurrency", type=int, default=8, help="threads per worker process (default 8)")
    ap.add_argument("--only", default="1,2,3,4,5,6,7,8",
                    help="sections to run, e.g. 1,4 (1p: section 1, pipeline only)")
    ap.add_argument("--platforms", default="postscript,klaviyo", help="section 1's platform variants")
    ap.add_argument("--procfile-workers", type=int, default=os.cpu_count() or 1,
                    help="sections 6-8: processes of the Procfile worker (default: one per core)")
    ap.add_argument("--scale", default="60,200", help="section 6: merchant counts M")
    return ap.parse_args()


def sink_sections(st: Stack, only: set[str], res: dict[str, Any], section: Callable[[str, Callable[[], Any]], Any],
                  say: Callable[[str], None]) -> None:
    """Sections 6-8, after the others (their processes stopped)."""
    sb = st.sinkbench
    res["sink_worker"] = sb.shape
    if "6" in only:
        say(f"6. latency-bound scale, M = {st.cfg.scale_merchants} at {st.cfg.scale_latency_ms:g} ms")
        res["scale"] = {f"M{m}": section(f"scale M={m}", lambda m=m: sinkruns.scale(sb, m))
                        for m in st.cfg.scale_merchants}
    if "7" in only:
        say("7. CPU per single-event request: pipeline, naive, raw")
        res["cpu_per_request"] = {sb.platform[g]: section(f"cpu {g}", lambda g=g: sinkruns.cpu_per_request(sb, g))
                                  for g in ("cpup", "cpua")}
    if "8" in only:
        say("8. ingest records/s per core")
        res["ingest_rate"] = section("ingest rate", lambda: sinkruns.ingest_rate(sb))


def main() -> int:
    args = _args()
    cfg = Cfg(args.quick, args.workers, args.concurrency)
    cfg.procfile_workers = args.procfile_workers
    cfg.scale_merchants = tuple(int(m) for m in args.scale.split(",") if m.strip())
    only = {s.strip() for s in args.only.split(",")}
    baselines = "1" in only
    only |= {"1"} if "1p" in only else set()
    platforms = [p.strip() for p in args.platforms.split(",") if p.strip()]
    started = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", flush=True)

    res: dict[str, Any] = {"command": " ".join(["bench/run.py", *sys.argv[1:]]), "mode": "quick" if args.quick else "full",
                           "machine": machine(), "config": dict(vars(cfg)), "loadavg_at_start": os.getloadavg()}
    errors: dict[str, str] = {}

    def section(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - report and go on with the other sections
            errors[name] = f"{type(exc).__name__}: {exc}"
            say(f"  FAILED {name}: {errors[name][:500]}")
            return None

    legacy = bool(only & {"1", "2", "3", "4", "5"})
    e2e_res: dict[str, dict[str, Any]] = {}
    with Stack(cfg, say) as st:
        st.start_common(only)
        if legacy:
            variants = [v for v in e2e.variants(st) if v.name in platforms]
            if "4" in only:
                res["sim_lookup_cost"] = lookup_cost(int(cfg.bulk_customers * 0.8), lookups=50)
            st.start_pipeline(cfg.rl_workers if only <= {"2"} else cfg.workers)
            if "3" in only:
                st.start_web()
            if "4" in only:
                say("4. bulk initial sync")
                res["bulk"] = section("bulk", lambda: bulk.bulk_initial(st))
                if res["bulk"] and "5" in only:
                    say("5. balance sync after 1% changed")
                    res["balance"] = section("balance", lambda: bulk.balance(st))
            if "3" in only:
                say("3. webhook → acknowledgement latency")
                res["latency"] = section("latency", lambda: latency.latency(st))
            if "1" in only:
                say("1. end-to-end throughput")
                for v in variants:
                    e2e_res[v.name] = {"pipeline": section(f"e2e {v.name} pipeline", lambda v=v: e2e.pipeline(st, v))}
            if "2" in only:
                if len(st.pids("pipe")) != cfg.rl_workers:
                    st.stop_group("pipe")
                    st.start_pipeline(cfg.rl_workers)
                say(f"2. rate-limit use at {cfg.rl_rate} rps, {cfg.rl_workers} worker processes")
                res["ratelimit"] = {"pipeline": section("ratelimit pipeline", lambda: ratelimit.pipeline(st))}
            st.stop_group("pipe", timeout=3)
            st.stop_group("beat")
            st.stop_group("web")
            with_baselines = [v for v in variants if baselines and e2e_res.get(v.name, {}).get("pipeline")]
            if with_baselines:
                st.start_naive(cfg.workers, f"{UNLIMITED}/s")
                for v in with_baselines:
                    e2e_res[v.name]["naive"] = section(f"e2e {v.name} naive", lambda v=v: e2e.naive(st, v))
            if "2" in only:
                st.stop_group("naive", timeout=3)
                st.start_naive(cfg.rl_workers, f"{cfg.rl_rate / cfg.rl_workers:g}/s")
                res["ratelimit"]["naive"] = section("ratelimit naive", lambda: ratelimit.naive(st))
            st.stop_group("naive", timeout=3)
            for v in with_baselines:
                for threads in (1, 4):
                    e2e_res[v.name][f"raw_{threads}"] = section(f"e2e {v.name} raw {threads}",
                                                                lambda v=v, n=threads: e2e.raw(st, v, n))
        if only & {"6", "7", "8"}:
            sink_sections(st, only, res, section, say)
        res["worker_log_problems"] = st.worker_log_problems()
    if e2e_res:
        res["e2e"] = {name: {k: d for k, d in runs.items() if d is not None} for name, runs in e2e_res.items()}
        res["ratios"] = report.ratios(res)
    res["errors"] = errors
    res["elapsed_s"] = round(time.perf_counter() - started, 1)
    res["loadavg_at_end"] = os.getloadavg()
    for k in [k for k, v in res.items() if v is None]:
        res.pop(k)
    print()
    print(report.table(res))
    print(f"\nelapsed {res['elapsed_s']} s{'; errors: ' + str(errors) if errors else ''}")
    if res["worker_log_problems"]:
        print(f"error lines in logs: { {k: v[0] for k, v in res['worker_log_problems'].items()} }")
    if args.json_path:
        report.write_json(res, args.json_path)
        print(f"results written to {args.json_path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
