"""End-to-end benchmark of loyalty-pipeline on its simulators, against a naive baseline and the raw ceiling.

    .venv/bin/python bench/run.py [--quick] [--json out.json] [--workers N] [--concurrency C] [--only 1,2,3,4,5]

Starts a private redis-server, the simulators (in this process), N Celery worker processes,
beat and the web process, and measures in one run:

1. end-to-end events/s, provider pages → platform acknowledgements, simulators unlimited:
   the pipeline, a naive Celery app (bench/naive.py) and the raw httpx ceiling (bench/raw.py);
2. use of a platform rate limit (Postscript sim limited to R rps, 4 worker processes, one shop):
   achieved ÷ R and the share of 429 answers, for the pipeline and for the naive app;
3. latency from webhook receipt (signed Okendo webhooks to the web process) to the
   platform's acknowledgement, at a steady load below the limits;
4. the bulk initial sync (``loyalty-pipeline sync initial``) of N customers against the bound
   set by the platform limit, and peak RSS (VmHWM) of the worker processes and of the command;
5. the daily balance sync after 1 % of the customers changed: Postscript requests per customer.

Everything it starts is stopped at the end (also on Ctrl-C). See docs/performance.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import redis  # noqa: E402
from celery import Celery  # noqa: E402

from bench.simx import (BenchPostscript, Proc, body_json, lookup_cost, machine, percentile, proc_cpu_s,  # noqa: E402
                        proc_status_kb, self_cpu_s)
from pipeline.bulk import RedisBulkProgress  # noqa: E402
from pipeline.demo.tenants import SmileTenant  # noqa: E402
from pipeline.localredis import LocalRedis, free_port, start_redis_server  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.sim import OkendoSimulator, SmileSimulator  # noqa: E402
from pipeline.sim.webhooks import OkendoWebhookSender  # noqa: E402
from pipeline.state.counters import RedisCounters  # noqa: E402
from workers.config import celery_config  # noqa: E402

QUEUES = "ingest,webhooks,bulk,deliver.postscript,deliver.attentive,deliver.klaviyo"
FINISHED = ("delivered", "skipped", "unchanged", "dead_lettered", "duplicates_dropped")
UNLIMITED = 100000  # rps given to limiters that must not bind (section 1)


class Cfg:
    def __init__(self, quick: bool, workers: int, concurrency: int) -> None:
        self.quick = quick
        self.workers = workers
        self.concurrency = concurrency
        self.e2e_merchants = 4
        self.e2e_transactions = 5000 if quick else 20000
        self.e2e_customers = 400 if quick else 1000
        self.rl_rate = 50
        self.rl_workers = 4
        self.rl_warm_s = 3.0 if quick else 5.0
        self.rl_window_s = 12.0 if quick else 60.0
        self.rl_transactions = int(self.rl_rate * (self.rl_warm_s + self.rl_window_s) * 1.6)
        self.rl_customers = 50
        self.lat_rate = 10.0  # webhooks/s, each one Postscript event; Postscript's real limit is 15 rps
        self.lat_secs = 12.0 if quick else 60.0
        self.bulk_customers = 5000 if quick else 100000
        self.bulk_rate = 250  # Postscript rps for the bulk sync (sim and connection)
        self.balance_share = 0.01
        self.seed = 11


class Bench:
    def __init__(self, cfg: Cfg, say: Callable[[str], None]) -> None:
        self.cfg = cfg
        self.say = say
        self.tmp = tempfile.TemporaryDirectory(prefix="lp-bench-")
        self.logs = Path(self.tmp.name)
        self.redis: LocalRedis | None = None
        self.procs: dict[str, Proc] = {}
        self.sims: list[Any] = []
        self.env: dict[str, str] = {}
        self.toml = ""

    # -- setup ---------------------------------------------------------------------------------
    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_group("", timeout=10)
        for sim in self.sims:
            sim.stop()
        if self.redis is not None:
            self.redis.stop()
        self.tmp.cleanup()

    def start_common(self) -> None:
        c = self.cfg
        t0 = time.perf_counter()
        self.redis = start_redis_server()
        self.r = redis.Redis.from_url(self.redis.url)
        self.naive_url = self.redis.url.rsplit("/", 1)[0] + "/2"
        self.smile = SmileSimulator(rate_per_s=None).start()
        self.okendo = OkendoSimulator(rate_per_s=None).start()
        self.ps_e2e = BenchPostscript(rate_per_s=None).start()
        self.ps_rl = BenchPostscript(rate_per_s=c.rl_rate).start()
        self.ps_wh = BenchPostscript(rate_per_s=15).start()
        self.ps_bulk = BenchPostscript(rate_per_s=c.bulk_rate).start()
        self.sims = [self.smile, self.okendo, self.ps_e2e, self.ps_rl, self.ps_wh, self.ps_bulk]
        per = c.e2e_transactions // c.e2e_merchants
        self.e2e = [SmileTenant(f"e2e{i + 1}", f"sk_e2e{i + 1}", self.ps_e2e, self.smile,
                                customers=c.e2e_customers // c.e2e_merchants, transactions=per, seed=c.seed + i,
                                sync_interval_s=86400) for i in range(c.e2e_merchants)]
        self.rl = SmileTenant("rl", "sk_rl", self.ps_rl, self.smile, customers=c.rl_customers,
                              transactions=c.rl_transactions, seed=c.seed + 10, sync_interval_s=86400)
        self.bulk = SmileTenant("bulk", "sk_bulk", self.ps_bulk, self.smile, customers=c.bulk_customers,
                                transactions=0, seed=c.seed + 20, sync_interval_s=86400)
        self.seeded = {t.merchant: {sid: dict(s["properties"]) for sid, s in t.shop.subscribers.items()}
                       for t in (*self.e2e, self.rl, self.bulk)}
        self.wh_store = self.okendo.add_store("user-wh", "okendo-key-wh")
        self.wh_shop = self.ps_wh.add_shop("sk_wh")
        self.wh_secret = "whsec_" + base64.b64encode(b"bench-okendo-webhook-secret-0001").decode()
        env = {**os.environ, "REDIS_URL": self.redis.url, "CONNECTIONS_FILE": str(self.logs / "connections.toml"),
               "LOG_LEVEL": "WARNING", "NAIVE_BROKER_URL": self.naive_url,
               "WH_OKENDO_CREDENTIAL": "user-wh:okendo-key-wh", "WH_OKENDO_WEBHOOK_SECRET": self.wh_secret,
               "WH_POSTSCRIPT_API_KEY": "sk_wh"}
        for key in ("BROKER_URL", "METRICS_PORT", "SENTRY_DSN"):
            env.pop(key, None)
        toml = ""
        for t in self.e2e:  # section 1: no limit may bind, so both limiters are set out of the way
            toml += self._smile_toml(t.merchant, self.ps_e2e.base_url, UNLIMITED, provider_rate=UNLIMITED)
        toml += self._smile_toml("rl", self.ps_rl.base_url, c.rl_rate, provider_rate=UNLIMITED)
        toml += self._smile_toml("bulk", self.ps_bulk.base_url, c.bulk_rate)  # Smile at its real 10 rps
        toml += (f'\n[merchants.wh.provider]\nkind = "okendo"\nbase_url = "{self.okendo.base_url}/enterprise"\n'
                 f'credential_env = "WH_OKENDO_CREDENTIAL"\nwebhook_secret_env = "WH_OKENDO_WEBHOOK_SECRET"\n'
                 f'sync_interval_s = 86400\n\n[[merchants.wh.platforms]]\nkind = "postscript"\n'
                 f'base_url = "{self.ps_wh.base_url}"\ncredential_env = "WH_POSTSCRIPT_API_KEY"\n')
        for t in (*self.e2e, self.rl, self.bulk):
            env.update(t.env)
        (self.logs / "connections.toml").write_text(toml)
        self.env, self.toml = env, toml
        self.capp = Celery("bench-control")
        self.capp.conf.update(celery_config(Settings(redis_url=self.redis.url)))
        self.napp = Celery("naive-control", broker=self.naive_url)
        self.napp.conf.update(task_default_queue="naive", broker_connection_retry_on_startup=True)
        self.counters = RedisCounters(self.r)
        self.progress = RedisBulkProgress(self.r)
        self.say(f"redis {self.redis.url}; simulators seeded in {time.perf_counter() - t0:.1f}s "
                 f"({c.e2e_transactions} transactions over {c.e2e_merchants} merchants, {c.bulk_customers} bulk customers)")

    def _smile_toml(self, m: str, ps_url: str, ps_rate: float | None, *, provider_rate: float | None = None) -> str:
        smile_url = self.smile.base_url
        p = m.upper()
        out = (f'\n[merchants.{m}.provider]\nkind = "smile"\nbase_url = "{smile_url}/v1"\n'
               f'credential_env = "{p}_SMILE_API_KEY"\nsync_interval_s = 86400\n')
        if provider_rate:
            out += f"rate_per_s = {provider_rate}\n"
        out += (f'\n[[merchants.{m}.platforms]]\nkind = "postscript"\nbase_url = "{ps_url}"\n'
                f'credential_env = "{p}_POSTSCRIPT_API_KEY"\n')
        if ps_rate:
            out += f"rate_per_s = {ps_rate}\n"
        return out

    # -- processes -----------------------------------------------------------------------------
    def _celery(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "celery", *args]

    def start_pipeline(self, n: int) -> None:
        t0 = time.perf_counter()
        for i in range(n):
            self.procs[f"pipe{i}"] = Proc(f"pipe{i}", self._celery(
                "-A", "workers.app", "worker", "-Q", QUEUES, "--pool", "threads", "-c", str(self.cfg.concurrency),
                "-O", "fair", "--without-gossip", "--without-mingle", "-n", f"bench-pipe{i}@%h",
                "--loglevel", "WARNING"), self.env, self.logs)
        if "beat" not in self.procs:
            self.procs["beat"] = Proc("beat", self._celery("-A", "workers.app", "beat", "-s",
                                                           str(self.logs / "beat-schedule"), "--loglevel", "WARNING"),
                                      self.env, self.logs)
        self._wait_workers(self.capp, [f"bench-pipe{i}@" for i in range(n)], "pipe")
        self.say(f"{n} pipeline worker processes (threads -c {self.cfg.concurrency}) and beat ready "
                 f"in {time.perf_counter() - t0:.1f}s")

    def start_web(self) -> None:
        import httpx
        port = free_port()
        self.procs["web"] = Proc("web", [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--bind",
                                         f"127.0.0.1:{port}", "workers.web:application"], self.env, self.logs)
        self.web_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{self.web_url}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False
        self._wait(up, 30, "web process /healthz")

    def start_naive(self, n: int, rate_limit: str) -> None:
        t0 = time.perf_counter()
        env = {**self.env, "NAIVE_RATE_LIMIT": rate_limit}
        for i in range(n):
            self.procs[f"naive{i}"] = Proc(f"naive{i}", self._celery(
                "-A", "bench.naive", "worker", "--pool", "threads", "-c", str(self.cfg.concurrency),
                "--without-gossip", "--without-mingle", "-n", f"bench-naive{i}@%h", "--loglevel", "WARNING"),
                env, self.logs)
        self._wait_workers(self.napp, [f"bench-naive{i}@" for i in range(n)], "naive")
        self.say(f"{n} naive worker processes ready in {time.perf_counter() - t0:.1f}s (rate_limit {rate_limit})")

    def stop_group(self, prefix: str, timeout: float = 10.0) -> None:
        """Stop a group (SIGTERM: warm shutdown, then SIGKILL after ``timeout``); leftovers are
        dropped with this run's Redis."""
        procs = [self.procs.pop(k) for k in list(self.procs) if k.startswith(prefix)]
        for p in procs:
            p.signal_stop()
        deadline = time.monotonic() + timeout
        for p in procs:
            p.stop(max(0.1, deadline - time.monotonic()))

    def pids(self, prefix: str) -> list[int]:
        return [p.pid for k, p in self.procs.items() if k.startswith(prefix)]

    def _check_alive(self) -> None:
        for name, p in self.procs.items():
            if not p.alive():
                raise RuntimeError(f"{name} exited ({p.p.returncode}); log ends with:\n{p.tail()}")

    def _wait(self, cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = cond()
            if value:
                return value
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            time.sleep(interval)

    def _wait_workers(self, app: Celery, prefixes: list[str], what: str) -> None:
        def ready() -> bool:
            replies = app.control.ping(timeout=0.3) or []
            names = {name for reply in replies for name in reply}
            return all(any(n.startswith(p) for n in names) for p in prefixes)
        self._wait(ready, 60, f"{what} workers to answer ping", interval=0.2)

    def _cpu(self, prefix: str) -> dict[str, float]:
        return {"workers": sum(proc_cpu_s(pid) for pid in self.pids(prefix)), "bench_and_sims": self_cpu_s(),
                "redis": proc_cpu_s(self.redis._process.pid) if self.redis and self.redis._process else 0.0}

    @staticmethod
    def _cpu_delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
        return {k: round(b[k] - a[k], 2) for k in a}

    def redis_calls(self) -> Counter[str]:
        return Counter({k.removeprefix("cmdstat_"): v["calls"] for k, v in self.r.info("commandstats").items()})

    @staticmethod
    def calls_per(a: Counter[str], b: Counter[str], n: int, top: int = 8) -> dict[str, float]:
        d = b - a
        out = {k: round(v / n, 2) for k, v in d.most_common(top)}
        out["total"] = round(sum(d.values()) / n, 2)
        return out

    def finished(self, merchant: str) -> int:
        c = self.counters.get(merchant)
        return sum(c[k] for k in FINISHED)

    # -- section 1: end-to-end throughput --------------------------------------------------------
    def _reset_e2e(self) -> None:
        for t in self.e2e:
            self.ps_e2e.reset_shop(t.shop, self.seeded[t.merchant])
        self.ps_e2e.clear_requests()

    def _expected_events(self) -> int:
        return sum(sum(t.expected().values()) for t in self.e2e)

    def _events_in(self) -> int:
        return sum(len(t.shop.events) for t in self.e2e)

    def _e2e_summary(self, label: str, t_trigger: float, cpu0: dict[str, float], prefix: str) -> dict[str, Any]:
        cpu = self._cpu_delta(cpu0, self._cpu(prefix))
        log = self.ps_e2e.log()
        events = [(t, r) for t, r in log if r.method == "POST" and r.path == "/api/v2/events" and r.status < 300]
        t_last = max(t for t, _ in events)
        secs = t_last - t_trigger
        statuses = Counter(r.status for _, r in log)
        problems = [p for t in self.e2e for p in t.problems()]
        n = len(events)
        out = {"events": n, "requests": len(log), "secs": round(secs, 2), "events_per_s": round(n / secs, 1),
               "requests_per_s": round(len(log) / secs, 1), "statuses": dict(statuses), "cpu_s": cpu,
               "worker_cpu_ms_per_event": round(cpu["workers"] * 1000 / n, 3) if cpu.get("workers") else None,
               "correct": not problems, "problems": problems[:5]}
        self.say(f"  {label}: {n} events in {secs:.2f}s = {n / secs:.0f} events/s "
                 f"({len(log)} requests); cpu {cpu}; {'OK' if not problems else problems[:2]}")
        return out

    def e2e_pipeline(self) -> dict[str, Any]:
        self._reset_e2e()
        want = self._expected_events()
        timeout = 60 + want / 100
        cpu0, calls0 = self._cpu("pipe"), self.redis_calls()
        t0 = time.time()
        for t in self.e2e:
            self.capp.send_task("lp.sync_connection", args=(t.merchant,), kwargs={"scheduled": False}, queue="ingest")

        def done() -> bool:
            if self._events_in() < want:
                return False
            cs = [self.counters.get(t.merchant) for t in self.e2e]
            return all(c["syncs_completed"] >= 1 and sum(c[k] for k in FINISHED) >= c["enqueued"] for c in cs)
        self._wait(done, timeout, "pipeline e2e delivery")
        out = self._e2e_summary("pipeline", t0, cpu0, "pipe")
        out["redis_calls_per_event"] = self.calls_per(calls0, self.redis_calls(), out["events"])
        self.e2e_log = [(r.method, r.path, r.query, r.body, r.headers.get("authorization", "")) for _, r in self.ps_e2e.log()]
        self.e2e_bodies = self._event_bodies()
        return out

    def _event_bodies(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for _, r in self.ps_e2e.log():
            if r.method in ("POST", "PATCH") and r.status < 300:
                b = body_json(r) or {}
                b.pop("external_id", None)
                out[r.method + json.dumps(b, sort_keys=True)] += 1
        return out

    def e2e_naive(self) -> dict[str, Any]:
        self._reset_e2e()
        want = self._expected_events()
        subscribed = sum(len(t.shop.subscribers) for t in self.e2e)
        cpu0, calls0 = self._cpu("naive"), self.redis_calls()
        t0 = time.time()
        for t in self.e2e:
            self.napp.send_task("naive.sync", args=(f"{self.smile.base_url}/v1", t.account.api_key,
                                                     self.ps_e2e.base_url, t.shop.api_key))
        self._wait(lambda: self._events_in() >= want and sum(len(t.shop.patches) for t in self.e2e) >= subscribed,
                   60 + want / 50, "naive e2e delivery")
        out = self._e2e_summary("naive", t0, cpu0, "naive")
        out["redis_calls_per_event"] = self.calls_per(calls0, self.redis_calls(), out["events"])
        same = self._event_bodies() == self.e2e_bodies
        out["same_payloads_as_pipeline"] = same
        if not same:
            self.say("  WARNING: naive payloads differ from the pipeline's")
        return out

    def e2e_raw(self, threads: int) -> dict[str, Any]:
        self._reset_e2e()
        path = self.logs / "raw.jsonl"
        with path.open("w") as f:
            for method, rpath, query, body, auth in self.e2e_log:
                qs = urlencode(query, doseq=True)
                f.write(json.dumps({"m": method, "u": rpath + (f"?{qs}" if qs else ""),
                                    "b": body.decode() if body else None, "k": auth.partition(" ")[2]}) + "\n")
        cpu0 = self_cpu_s()
        res = subprocess.run([sys.executable, str(ROOT / "bench" / "raw.py"), self.ps_e2e.base_url, str(path),
                              str(threads)], capture_output=True, text=True, timeout=600, cwd=ROOT)
        if res.returncode:
            raise RuntimeError(res.stderr[-2000:])
        d = json.loads(res.stdout)
        sim_cpu = self_cpu_s() - cpu0
        events = sum(1 for m, p, *_ in self.e2e_log if m == "POST" and p == "/api/v2/events")
        problems = [p for t in self.e2e for p in t.problems()]
        out = {"threads": threads, "events": events, "requests": d["n"], "secs": round(d["secs"], 2),
               "events_per_s": round(events / d["secs"], 1), "requests_per_s": round(d["n"] / d["secs"], 1),
               "statuses": d["statuses"], "cpu_s": {"client": round(d["client_cpu_s"], 2), "bench_and_sims": round(sim_cpu, 2)},
               "correct": not problems, "problems": problems[:5]}
        self.say(f"  raw httpx x{threads}: {events} events in {d['secs']:.2f}s = {events / d['secs']:.0f} events/s; "
                 f"client cpu {d['client_cpu_s']:.1f}s, sim cpu {sim_cpu:.1f}s")
        return out

    # -- section 2: rate-limit use -------------------------------------------------------------------
    def _ratelimit(self, label: str, prefix: str, trigger: Callable[[], None]) -> dict[str, Any]:
        c = self.cfg
        self.ps_rl.reset_shop(self.rl.shop, self.seeded["rl"])
        self.ps_rl.clear_requests()
        calls0, cpu0 = self.redis_calls(), self._cpu(prefix)
        trigger()
        self._wait(lambda: self.ps_rl.stamps, 30, "the first rate-limited request")
        t_first = self.ps_rl.stamps[0]
        lo, hi = t_first + c.rl_warm_s, t_first + c.rl_warm_s + c.rl_window_s
        time.sleep(max(0.0, hi - time.time()) + 0.2)
        log = [(t, r) for t, r in self.ps_rl.log() if t <= hi]
        cpu = self._cpu_delta(cpu0, self._cpu(prefix))
        ok_window = sum(1 for t, r in log if lo <= t < hi and r.status < 300)
        statuses = Counter(r.status for _, r in log)
        total = len(log)
        accepted = sum(v for k, v in statuses.items() if k < 300)
        backlog_left = sum(self.rl.expected().values()) - len(self.rl.shop.events)
        achieved = ok_window / c.rl_window_s
        timeline: list[list[int]] = [[0, 0] for _ in range(int(hi - t_first) + 1)]
        for t, r in log:
            timeline[int(t - t_first)][0 if r.status < 300 else 1] += 1
        out = {"rate_limit_rps": c.rl_rate, "window_s": c.rl_window_s, "achieved_rps": round(achieved, 2),
               "achieved_over_limit": round(achieved / c.rl_rate, 3), "requests": total, "statuses": dict(statuses),
               "share_429": round(statuses.get(429, 0) / total, 4) if total else None,
               "backlog_left_at_end": backlog_left, "per_second_ok_and_429": timeline,
               "redis_calls_per_accepted_request": self.calls_per(calls0, self.redis_calls(), max(1, accepted)),
               "cpu_s": cpu, "worker_cpu_ms_per_accepted_request": round(cpu["workers"] * 1000 / max(1, accepted), 2)}
        self.say(f"  {label}: {achieved:.1f} rps accepted of {c.rl_rate} (= {achieved / c.rl_rate:.2f}); "
                 f"429 share {out['share_429']:.1%} of {total} requests; backlog left {backlog_left}")
        if backlog_left <= 0:
            self.say("  WARNING: the backlog ran out inside the window: the rate is understated")
        return out

    def ratelimit_pipeline(self) -> dict[str, Any]:
        return self._ratelimit("pipeline", "pipe", lambda: self.capp.send_task(
            "lp.sync_connection", args=("rl",), kwargs={"scheduled": False}, queue="ingest"))

    def ratelimit_naive(self, n: int) -> dict[str, Any]:
        """Celery's rate_limit is per worker process and per task type: R/n each (workers started with it)."""
        per = f"{self.cfg.rl_rate / n:g}/s"
        out = self._ratelimit(f"naive (rate_limit {per} per task type and worker process)", "naive", lambda: self.napp.send_task(
            "naive.sync", args=(f"{self.smile.base_url}/v1", self.rl.account.api_key, self.ps_rl.base_url,
                                self.rl.shop.api_key)))
        out["celery_rate_limit"] = per
        return out

    # -- section 3: webhook latency ---------------------------------------------------------------------
    def latency(self) -> dict[str, Any]:
        c = self.cfg
        self.ps_wh.clear_requests()
        sender = OkendoWebhookSender(f"{self.web_url}/webhooks/okendo/wh", self.wh_secret)
        n = int(c.lat_rate * c.lat_secs)
        sent: dict[str, tuple[float, float, int]] = {}
        cpu0 = self._cpu("pipe")
        start = time.time() + 0.2
        for i in range(n):
            email = f"lat{i}@example.test"
            resource = self.wh_store.add_review(email, 5)
            delay = start + i / c.lat_rate - time.time()
            if delay > 0:
                time.sleep(delay)
            t_send = time.time()
            status = sender.deliver("review", "create", resource)
            sent[email] = (t_send, time.time(), status)

        def acks() -> dict[str, float]:
            got: dict[str, float] = {}
            for t, r in self.ps_wh.log():
                if r.method == "POST" and r.path == "/api/v2/events" and r.status < 300:
                    got.setdefault((body_json(r) or {}).get("email"), t)
            return got
        try:
            self._wait(lambda: len(acks()) >= n, 30, "webhook events at Postscript", interval=0.2)
        except TimeoutError as exc:
            self.say(f"  WARNING: {exc}")
        got = acks()
        cpu = self._cpu_delta(cpu0, self._cpu("pipe"))
        lat = [(got[e] - s[0]) * 1000 for e, s in sent.items() if e in got]
        acks_sorted = sorted(got.values())
        gaps = {t: (t - prev) * 1000 for prev, t in zip(acks_sorted, acks_sorted[1:])}
        slow = [(got[e] - s[0]) * 1000 for e, s in sent.items() if e in got and (got[e] - s[0]) * 1000 > 50]
        slow_paced = sum(1 for e, s in sent.items() if e in got and (got[e] - s[0]) * 1000 > 50
                         and gaps.get(got[e], 1e9) < 1000 / 15 / 0.97 + 10)
        receipt = [(s[1] - s[0]) * 1000 for s in sent.values()]
        statuses = Counter(r.status for _, r in self.ps_wh.log())
        out = {"webhooks": n, "rate_per_s": c.lat_rate, "delivered": len(lat),
               "accepted_202": sum(1 for s in sent.values() if s[2] == 202),
               "p50_ms": _r(percentile(lat, 50)), "p95_ms": _r(percentile(lat, 95)), "p99_ms": _r(percentile(lat, 99)),
               "max_ms": _r(max(lat) if lat else None), "webhook_answer_p50_ms": _r(percentile(receipt, 50)),
               "webhook_answer_p99_ms": _r(percentile(receipt, 99)), "postscript_statuses": dict(statuses),
               "over_50ms": len(slow), "over_50ms_right_after_previous_ack": slow_paced,
               "cpu_s": cpu}
        self.say(f"  {len(lat)}/{n} webhooks delivered: p50 {out['p50_ms']} ms, p95 {out['p95_ms']} ms, "
                 f"p99 {out['p99_ms']} ms, max {out['max_ms']} ms (web answered in p50 {out['webhook_answer_p50_ms']} ms)")
        return out

    # -- section 4/5: bulk initial sync and balance sync --------------------------------------------
    def bulk_initial(self) -> dict[str, Any]:
        c = self.cfg
        self.ps_bulk.clear_requests()
        rss0 = {pid: proc_status_kb(pid, "VmRSS") for pid in self.pids("pipe")}
        cli = str(Path(sys.executable).with_name("loyalty-pipeline"))
        log = (self.logs / "sync-initial.log").open("wb")
        cpu0, calls0 = self._cpu("pipe"), self.redis_calls()
        t0 = time.time()
        p = subprocess.Popen([cli, "sync", "initial", "--connection", "bulk"], env=self.env, cwd=ROOT, stdout=log,
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
        self._wait(lambda: "rc" in result, 120 + c.bulk_customers / 100, "sync initial to hand over")
        log.close()
        if result["rc"]:
            raise RuntimeError(f"sync initial failed: {(self.logs / 'sync-initial.log').read_text()[-2000:]}")

        def settled() -> bool:
            prog = self.progress.get("bulk")
            return prog.get("status") == "done" and self.finished("bulk") >= int(prog.get("deliveries", "0"))
        self._wait(settled, 3 * bound_s + 120, "bulk deliveries", interval=0.2)
        cpu = self._cpu_delta(cpu0, self._cpu("pipe"))
        log_ = self.ps_bulk.log()
        t_last = max(t for t, _ in log_)
        secs = t_last - t0
        statuses = Counter(r.status for _, r in log_)
        methods = Counter(r.method for _, r in log_ if r.status < 300)
        ok = sum(methods.values())
        bound_measured = ok / c.bulk_rate
        oks = sorted(t for t, r in log_ if r.status < 300)
        per_s = Counter(int(t - oks[0]) for t in oks)
        steady = sorted(per_s[k] for k in range(1, int(oks[-1] - oks[0])))  # whole seconds only
        problems = self.bulk.problems()
        hwm = {pid: proc_status_kb(pid, "VmHWM") for pid in self.pids("pipe")}
        out = {"customers": c.bulk_customers, "rate_limit_rps": c.bulk_rate, "secs": round(secs, 1),
               "handover_secs": round(result["done_at"] - t0, 1), "requests": len(log_), "statuses": dict(statuses),
               "accepted_by_method": dict(methods), "requests_per_customer": round(ok / c.bulk_customers, 3),
               "bound_secs": round(bound_measured, 1), "secs_over_bound": round(secs / bound_measured, 3),
               "customers_per_s": round(c.bulk_customers / secs, 1), "cpu_s": cpu,
               "first_request_after_s": round(oks[0] - t0, 2),
               "steady_rps_median": percentile([float(x) for x in steady], 50),
               "steady_over_limit": _ratio(percentile([float(x) for x in steady], 50), c.bulk_rate),
               "worker_cpu_ms_per_customer": round(cpu["workers"] * 1000 / c.bulk_customers, 3),
               "redis_calls_per_customer": self.calls_per(calls0, self.redis_calls(), c.bulk_customers),
               "worker_rss_start_mib": _mib(max(v or 0 for v in rss0.values())),
               "worker_peak_rss_mib": _mib(max(v or 0 for v in hwm.values())),
               "worker_peak_rss_each_mib": [_mib(v or 0) for v in hwm.values()],
               "cli_peak_rss_mib": _mib(result["maxrss_kb"]), "correct": not problems, "problems": problems[:3]}
        self.say(f"  {c.bulk_customers} customers in {secs:.1f}s, bound {bound_measured:.1f}s ({ok} requests at "
                 f"{c.bulk_rate} rps): ratio {secs / bound_measured:.2f}; 429s {statuses.get(429, 0)}; "
                 f"worker peak RSS {out['worker_peak_rss_mib']} MiB (start {out['worker_rss_start_mib']}), "
                 f"CLI {out['cli_peak_rss_mib']} MiB; {'OK' if not problems else problems[:2]}")
        return out

    def balance(self) -> dict[str, Any]:
        c = self.cfg
        rng = random.Random(c.seed)
        account = self.bulk.account
        changed = rng.sample(sorted(account.customers), max(1, int(len(account.customers) * c.balance_share)))
        for cid in changed:
            account.update_customer(cid, points_balance=account.customers[cid]["points_balance"] + 10)
        subscribed = {s["email"] for s in self.bulk.shop.subscribers.values()}
        changed_subscribers = sum(1 for cid in changed if account.customers[cid]["email"] in subscribed)
        self.ps_bulk.clear_requests()
        before = self.progress.get("bulk").get("started_at")
        fin0 = self.finished("bulk")
        cpu0, calls0 = self._cpu("pipe"), self.redis_calls()
        t0 = time.time()
        self.capp.send_task("lp.balance_sync", args=("bulk",), queue="ingest")

        def settled() -> bool:
            prog = self.progress.get("bulk")
            return (prog.get("started_at") != before and prog.get("status") == "done"
                    and self.finished("bulk") - fin0 >= int(prog.get("deliveries", "0")))
        self._wait(settled, 120 + c.bulk_customers / 50, "balance sync", interval=0.2)
        secs = time.time() - t0
        cpu = self._cpu_delta(cpu0, self._cpu("pipe"))
        log_ = self.ps_bulk.log()
        methods = Counter(f"{r.method} {r.status}" for _, r in log_)
        problems = self.bulk.problems()
        out = {"customers": len(account.customers), "changed": len(changed), "changed_subscribers": changed_subscribers,
               "requests": len(log_), "by_method_status": dict(methods),
               "requests_per_customer": round(len(log_) / len(account.customers), 5),
               "requests_per_changed_customer": round(len(log_) / len(changed), 3), "secs": round(secs, 1),
               "counters_delta": {k: v for k, v in self.counters.get("bulk").items() if k in FINISHED},
               "cpu_s": cpu, "worker_cpu_ms_per_customer": round(cpu["workers"] * 1000 / len(account.customers), 3),
               "redis_calls_per_customer": self.calls_per(calls0, self.redis_calls(), len(account.customers)),
               "worker_peak_rss_mib": _mib(max(proc_status_kb(pid, "VmHWM") or 0 for pid in self.pids("pipe"))),
               "correct": not problems, "problems": problems[:3]}
        self.say(f"  {len(changed)} of {len(account.customers)} changed ({changed_subscribers} subscribers): "
                 f"{len(log_)} requests = {out['requests_per_customer']} per customer in {secs:.1f}s; "
                 f"{'OK' if not problems else problems[:2]}")
        return out


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def _mib(kb: int) -> float:
    return round(kb / 1024, 1)


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def table(res: dict[str, Any]) -> str:
    rows: list[tuple[str, str]] = []
    e = res.get("e2e", {})
    pe = e.get("pipeline", {}).get("events_per_s")
    for key, label in (("pipeline", "pipeline"), ("naive", "naive Celery (task per event)"),
                       ("raw_1", "raw httpx, sequential"), ("raw_4", "raw httpx, 4 threads")):
        if key in e:
            d = e[key]
            rows.append((f"1. e2e events/s: {label}", f"{d['events_per_s']:.0f} ev/s ({d['events']} events, "
                         f"{d['secs']} s){'' if d.get('correct', True) else ' INCORRECT'}"))
    if pe:
        for key, label in (("naive", "naive"), ("raw_1", "raw sequential"), ("raw_4", "raw 4 threads")):
            if key in e:
                rows.append((f"   pipeline / {label}", f"{_ratio(pe, e[key]['events_per_s'])}"))
    for who in ("pipeline", "naive"):
        d = res.get("ratelimit", {}).get(who)
        if d:
            rows.append((f"2. rate-limit use, {who}", f"achieved/R = {d['achieved_over_limit']} "
                         f"({d['achieved_rps']} of {d['rate_limit_rps']} rps), 429 share {d['share_429'] or 0:.1%}"))
    d = res.get("latency")
    if d:
        rows.append(("3. webhook → ack latency", f"p50 {d['p50_ms']} / p95 {d['p95_ms']} / p99 {d['p99_ms']} ms "
                     f"({d['delivered']}/{d['webhooks']} at {d['rate_per_s']:g}/s)"))
    d = res.get("bulk")
    if d:
        rows.append(("4. bulk initial sync", f"{d['customers']} customers in {d['secs']} s; time/bound = "
                     f"{d['secs_over_bound']} (bound {d['bound_secs']} s at {d['rate_limit_rps']} rps, "
                     f"{d['requests_per_customer']} req/customer)"))
        rows.append(("   worker peak RSS (VmHWM)", f"{d['worker_peak_rss_mib']} MiB (at start "
                     f"{d['worker_rss_start_mib']} MiB); CLI {d['cli_peak_rss_mib']} MiB"))
    d = res.get("balance")
    if d:
        rows.append(("5. balance sync, 1% changed", f"{d['requests_per_customer']} requests/customer "
                     f"({d['requests']} for {d['customers']} customers, {d['changed']} changed) in {d['secs']} s"))
    width = max(len(k) for k, _ in rows) if rows else 0
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes; finishes in under 3 minutes on 2 cores")
    ap.add_argument("--json", dest="json_path", help="write the results here")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for sections 1, 3, 4, 5 (default 2)")
    ap.add_argument("--concurrency", type=int, default=8, help="threads per worker process (default 8)")
    ap.add_argument("--only", default="1,2,3,4,5", help="sections to run, e.g. 1,4")
    args = ap.parse_args()
    cfg = Cfg(args.quick, args.workers, args.concurrency)
    only = {s.strip() for s in args.only.split(",")}
    baselines = "1" in only  # "1p": the pipeline's end-to-end run only, without naive and raw
    if "1p" in only:
        only.add("1")
    started = time.perf_counter()

    def say(msg: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f}s] {msg}", flush=True)

    res: dict[str, Any] = {"command": " ".join(["bench/run.py", *sys.argv[1:]]), "mode": "quick" if args.quick else "full",
                           "machine": machine(), "config": {k: v for k, v in vars(cfg).items()},
                           "loadavg_at_start": os.getloadavg()}
    errors: dict[str, str] = {}

    def section(name: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - report and go on with the other sections
            errors[name] = f"{type(exc).__name__}: {exc}"
            say(f"  FAILED {name}: {errors[name][:500]}")
            return None

    with Bench(cfg, say) as b:
        b.start_common()
        if "4" in only:
            res["sim_lookup_cost"] = lookup_cost(int(cfg.bulk_customers * 0.8), lookups=50)
        b.start_pipeline(cfg.workers)
        if "3" in only:
            b.start_web()
        if "4" in only:
            say("4. bulk initial sync")
            res["bulk"] = section("bulk", b.bulk_initial)
            if res["bulk"] and "5" in only:
                say("5. balance sync after 1% changed")
                res["balance"] = section("balance", b.balance)
        if "3" in only:
            say("3. webhook → acknowledgement latency")
            res["latency"] = section("latency", b.latency)
        if "1" in only:
            say("1. end-to-end throughput")
            res["e2e"] = {"pipeline": section("e2e pipeline", b.e2e_pipeline)}
        if "2" in only:
            if cfg.workers != cfg.rl_workers:
                b.stop_group("pipe")
                b.start_pipeline(cfg.rl_workers)
            say(f"2. rate-limit use at {cfg.rl_rate} rps, {cfg.rl_workers} worker processes")
            res["ratelimit"] = {"pipeline": section("ratelimit pipeline", b.ratelimit_pipeline)}
        b.stop_group("pipe", timeout=3)
        b.stop_group("beat")
        b.stop_group("web")
        if baselines and res["e2e"].get("pipeline"):
            b.start_naive(cfg.workers, f"{UNLIMITED}/s")
            res["e2e"]["naive"] = section("e2e naive", b.e2e_naive)
        if "2" in only:
            b.stop_group("naive", timeout=3)
            b.start_naive(cfg.rl_workers, f"{cfg.rl_rate / cfg.rl_workers:g}/s")
            res["ratelimit"]["naive"] = section("ratelimit naive", lambda: b.ratelimit_naive(cfg.rl_workers))
        b.stop_group("naive", timeout=3)
        if baselines and res["e2e"].get("pipeline"):
            res["e2e"]["raw_1"] = section("raw 1", lambda: b.e2e_raw(1))
            res["e2e"]["raw_4"] = section("raw 4", lambda: b.e2e_raw(4))
    e = res.get("e2e") or {}
    pe = (e.get("pipeline") or {}).get("events_per_s")
    res["ratios"] = {f"pipeline_over_{k}": _ratio(pe, (e.get(k) or {}).get("events_per_s"))
                     for k in ("naive", "raw_1", "raw_4")}
    res["errors"] = errors
    res["elapsed_s"] = round(time.perf_counter() - started, 1)
    res["loadavg_at_end"] = os.getloadavg()
    for k in [k for k, v in res.items() if v is None]:
        res.pop(k)
    if "e2e" in res:
        res["e2e"] = {k: v for k, v in res["e2e"].items() if v is not None}
    print()
    print(table(res))
    print(f"\nelapsed {res['elapsed_s']} s{'; errors: ' + json.dumps(errors) if errors else ''}")
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(res, indent=2, default=str))
        print(f"results written to {args.json_path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
