"""Sections 4 and 5: the bulk initial sync, then the daily balance sync after 1 % changed.

4. ``loyalty-pipeline sync initial --connection bulk`` (a subprocess, as an operator runs it)
   for ``Cfg.bulk_customers`` Smile customers (Smile read at its real 10 rps), against a
   Postscript simulator and connection limited to ``Cfg.bulk_rate`` rps. Clock: from starting
   the command to the last Postscript answer, once the bulk progress says "done" and every
   delivery it handed over finished. The bound is the accepted requests ÷ the rate (what the
   limit allows at best). Peak memory: VmHWM of each worker process after the run, and of the
   command itself (read from /proc while it runs).
5. ``lp.balance_sync`` of the same merchant after ``Cfg.balance_share`` of the customers'
   balances changed at Smile: Postscript requests per customer (ideal: one PATCH per changed
   subscriber, nothing for the rest).
"""

from __future__ import annotations

import random
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.report import mib, ratio
from bench.simx import percentile, proc_status_kb
from bench.stack import FINISHED, ROOT, Stack


def bulk_initial(st: Stack) -> dict[str, Any]:
    c = st.cfg
    st.ps_bulk.clear_requests()
    rss0 = {pid: proc_status_kb(pid, "VmRSS") for pid in st.pids("pipe")}
    cli = str(Path(sys.executable).with_name("loyalty-pipeline"))
    log = (st.logs / "sync-initial.log").open("wb")
    cpu0, calls0 = st.cpu("pipe"), st.redis_calls()
    t0 = time.time()
    p = subprocess.Popen([cli, "sync", "initial", "--connection", "bulk"], env=st.env, cwd=ROOT, stdout=log,
                         stderr=subprocess.STDOUT)
    result: dict[str, Any] = {}

    def reap() -> None:
        # VmHWM of the command's own image, read while it runs (the last reading before it
        # exits). Not wait4's ru_maxrss: Linux carries the forking parent's high-water mark
        # over exec, so that would report this benchmark's memory, not the command's.
        hwm = 0
        while p.poll() is None:
            hwm = max(hwm, proc_status_kb(p.pid, "VmHWM") or 0)
            time.sleep(0.05)
        result.update(rc=p.returncode, maxrss_kb=hwm, done_at=time.time())
    reaper = threading.Thread(target=reap, daemon=True)
    reaper.start()
    requests_per_customer = 0.8 * 2 + 0.2  # subscribers: lookup + PATCH; others: lookup only
    bound_s = c.bulk_customers * requests_per_customer / c.bulk_rate
    st.wait(lambda: "rc" in result, 120 + c.bulk_customers / 100, "sync initial to hand over")
    log.close()
    if result["rc"]:
        raise RuntimeError(f"sync initial failed: {(st.logs / 'sync-initial.log').read_text()[-2000:]}")

    def settled() -> bool:
        prog = st.progress.get("bulk")
        return prog.get("status") == "done" and st.finished("bulk") >= int(prog.get("deliveries", "0"))
    st.wait(settled, 3 * bound_s + 120, "bulk deliveries", interval=0.2)
    cpu = st.cpu_delta(cpu0, st.cpu("pipe"))
    log_ = st.ps_bulk.log()
    t_last = max(t for t, _ in log_)
    secs = t_last - t0
    statuses = Counter(r.status for _, r in log_)
    methods = Counter(r.method for _, r in log_ if r.status < 300)
    ok = sum(methods.values())
    bound_measured = ok / c.bulk_rate
    oks = sorted(t for t, r in log_ if r.status < 300)
    per_s = Counter(int(t - oks[0]) for t in oks)
    steady = sorted(float(per_s[k]) for k in range(1, int(oks[-1] - oks[0])))  # whole seconds only
    problems = st.bulk.problems()
    hwm = {pid: proc_status_kb(pid, "VmHWM") for pid in st.pids("pipe")}
    out = {"customers": c.bulk_customers, "rate_limit_rps": c.bulk_rate, "secs": round(secs, 1),
           "handover_secs": round(result["done_at"] - t0, 1), "requests": len(log_), "statuses": dict(statuses),
           "accepted_by_method": dict(methods), "requests_per_customer": round(ok / c.bulk_customers, 3),
           "bound_secs": round(bound_measured, 1), "secs_over_bound": round(secs / bound_measured, 3),
           "customers_per_s": round(c.bulk_customers / secs, 1), "cpu_s": cpu,
           "first_request_after_s": round(oks[0] - t0, 2),
           "steady_rps_median": percentile(steady, 50),
           "steady_over_limit": ratio(percentile(steady, 50), c.bulk_rate),
           "worker_cpu_ms_per_customer": round(cpu["workers"] * 1000 / c.bulk_customers, 3),
           "redis_calls_per_customer": st.calls_per(calls0, st.redis_calls(), c.bulk_customers),
           "worker_rss_start_mib": mib(max(v or 0 for v in rss0.values())),
           "worker_peak_rss_mib": mib(max(v or 0 for v in hwm.values())),
           "worker_peak_rss_each_mib": [mib(v or 0) for v in hwm.values()],
           "cli_peak_rss_mib": mib(result["maxrss_kb"]), "correct": not problems, "problems": problems[:3]}
    st.say(f"  {c.bulk_customers} customers in {secs:.1f}s, bound {bound_measured:.1f}s ({ok} requests at "
           f"{c.bulk_rate} rps): ratio {secs / bound_measured:.2f}; 429s {statuses.get(429, 0)}; "
           f"worker peak RSS {out['worker_peak_rss_mib']} MiB (start {out['worker_rss_start_mib']}), "
           f"CLI {out['cli_peak_rss_mib']} MiB; {'OK' if not problems else problems[:2]}")
    return out


def balance(st: Stack) -> dict[str, Any]:
    c = st.cfg
    rng = random.Random(c.seed)
    account = st.bulk.account
    changed = rng.sample(sorted(account.customers), max(1, int(len(account.customers) * c.balance_share)))
    for cid in changed:
        account.update_customer(cid, points_balance=account.customers[cid]["points_balance"] + 10)
    subscribed = {s["email"] for s in st.bulk.shop.subscribers.values()}
    changed_subscribers = sum(1 for cid in changed if account.customers[cid]["email"] in subscribed)
    st.ps_bulk.clear_requests()
    before = st.progress.get("bulk").get("started_at")
    fin0, counters0 = st.finished("bulk"), st.counters.get("bulk")
    cpu0, calls0 = st.cpu("pipe"), st.redis_calls()
    t0 = time.time()
    st.capp.send_task("lp.balance_sync", args=("bulk",), queue="ingest")

    def settled() -> bool:
        prog = st.progress.get("bulk")
        return (prog.get("started_at") != before and prog.get("status") == "done"
                and st.finished("bulk") - fin0 >= int(prog.get("deliveries", "0")))
    st.wait(settled, 120 + c.bulk_customers / 50, "balance sync", interval=0.2)
    secs = time.time() - t0
    cpu = st.cpu_delta(cpu0, st.cpu("pipe"))
    log_ = st.ps_bulk.log()
    methods = Counter(f"{r.method} {r.status}" for _, r in log_)
    problems = st.bulk.problems()
    n = len(account.customers)
    out = {"customers": n, "changed": len(changed), "changed_subscribers": changed_subscribers,
           "requests": len(log_), "by_method_status": dict(methods),
           "requests_per_customer": round(len(log_) / n, 5),
           "requests_per_changed_customer": round(len(log_) / len(changed), 3), "secs": round(secs, 1),
           "counters_delta": {k: v - counters0[k] for k, v in st.counters.get("bulk").items() if k in FINISHED},
           "cpu_s": cpu, "worker_cpu_ms_per_customer": round(cpu["workers"] * 1000 / n, 3),
           "redis_calls_per_customer": st.calls_per(calls0, st.redis_calls(), n),
           "worker_peak_rss_mib": mib(max(proc_status_kb(pid, "VmHWM") or 0 for pid in st.pids("pipe"))),
           "correct": not problems, "problems": problems[:3]}
    st.say(f"  {len(changed)} of {n} changed ({changed_subscribers} subscribers): "
           f"{len(log_)} requests = {out['requests_per_customer']} per customer in {secs:.1f}s; "
           f"{'OK' if not problems else problems[:2]}")
    return out
