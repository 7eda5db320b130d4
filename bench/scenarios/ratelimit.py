"""Section 2: use of a platform rate limit.

One Smile merchant ("rl") connected to a Postscript simulator limited to R rps (a fixed
one-second window per token, 429 over it), R also set as the connection's ``rate_per_s``,
``Cfg.rl_workers`` (4) worker processes, a backlog larger than R x (warm-up + window).
Clock: the first request the simulator records starts it; ``rl_warm_s`` later the window of
``rl_window_s`` opens. Counted: 2xx answers whose stamp falls inside the window (achieved rps =
that / window; ÷ R) and, over every request up to the window's end, the share answered 429.
The naive app runs the same with Celery's ``rate_limit`` of R / workers per worker process.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any, Callable

from bench.stack import Stack


def _run(st: Stack, label: str, prefix: str, trigger: Callable[[], None]) -> dict[str, Any]:
    c = st.cfg
    st.ps_rl.reset_shop(st.rl.shop, st.seeded["rl"])
    st.ps_rl.clear_requests()
    calls0, cpu0 = st.redis_calls(), st.cpu(prefix)
    workers = len(st.pids(prefix))
    trigger()
    st.wait(lambda: st.ps_rl.stamps, 30, "the first rate-limited request")
    t_first = st.ps_rl.stamps[0]
    lo, hi = t_first + c.rl_warm_s, t_first + c.rl_warm_s + c.rl_window_s
    time.sleep(max(0.0, hi - time.time()) + 0.2)
    log = [(t, r) for t, r in st.ps_rl.log() if t <= hi]
    cpu = st.cpu_delta(cpu0, st.cpu(prefix))
    ok_window = sum(1 for t, r in log if lo <= t < hi and r.status < 300)
    statuses = Counter(r.status for _, r in log)
    total = len(log)
    accepted = sum(v for k, v in statuses.items() if k < 300)
    backlog_left = sum(st.rl.expected().values()) - len(st.rl.shop.events)
    achieved = ok_window / c.rl_window_s
    timeline: list[list[int]] = [[0, 0] for _ in range(int(hi - t_first) + 1)]
    for t, r in log:
        timeline[int(t - t_first)][0 if r.status < 300 else 1] += 1
    out = {"rate_limit_rps": c.rl_rate, "worker_processes": workers, "window_s": c.rl_window_s,
           "achieved_rps": round(achieved, 2), "achieved_over_limit": round(achieved / c.rl_rate, 3),
           "requests": total, "statuses": dict(statuses),
           "share_429": round(statuses.get(429, 0) / total, 4) if total else None,
           "backlog_left_at_end": backlog_left, "per_second_ok_and_429": timeline,
           "redis_calls_per_accepted_request": st.calls_per(calls0, st.redis_calls(), max(1, accepted)),
           "cpu_s": cpu, "worker_cpu_ms_per_accepted_request": round(cpu["workers"] * 1000 / max(1, accepted), 2)}
    st.say(f"  {label}: {achieved:.1f} rps accepted of {c.rl_rate} (= {achieved / c.rl_rate:.3f}); "
           f"429 share {out['share_429']:.2%} of {total} requests; {workers} worker processes; "
           f"backlog left {backlog_left}")
    if backlog_left <= 0:
        st.say("  WARNING: the backlog ran out inside the window: the rate is understated")
    return out


def pipeline(st: Stack) -> dict[str, Any]:
    return _run(st, "pipeline", "pipe", lambda: st.capp.send_task(
        "lp.sync_connection", args=("rl",), kwargs={"scheduled": False}, queue="ingest"))


def naive(st: Stack) -> dict[str, Any]:
    """Celery's rate_limit is per worker process and per task type: R/n each (workers started with it)."""
    n = len(st.pids("naive"))
    per = f"{st.cfg.rl_rate / n:g}/s"
    out = _run(st, f"naive (rate_limit {per} per task type and worker process)", "naive", lambda: st.napp.send_task(
        "naive.sync", args=(f"{st.smile.base_url}/v1", st.rl.account.api_key, st.ps_rl.base_url, st.rl.shop.api_key)))
    out["celery_rate_limit"] = per
    return out
