"""What the benchmark runs on: sizes (``Cfg``), Redis, the simulators and their seeded merchants,
the connections file, and the worker / beat / web processes (``Stack``).

The simulators run inside the benchmark process (their CPU is counted as "bench_and_sims");
every process it starts gets its own session so it can be stopped as a group, and everything
is stopped in ``Stack.__exit__`` (also on Ctrl-C).
"""

from __future__ import annotations

import base64
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from bench.simx import BenchKlaviyo, BenchPostscript, Proc, proc_cpu_s, self_cpu_s
from pipeline.bulk import RedisBulkProgress
from pipeline.settings import Settings
from pipeline.state.counters import RedisCounters
from sandbox.demo.tenants import SmileTenant
from sandbox.localredis import LocalRedis, free_port, start_redis_server
from sandbox.sim import OkendoSimulator, SmileSimulator
from workers.config import celery_config

ROOT = Path(__file__).resolve().parents[1]
QUEUES = "ingest,webhooks,bulk,deliver.postscript,deliver.attentive,deliver.klaviyo"
FINISHED = ("delivered", "skipped", "unchanged", "dead_lettered", "duplicates_dropped")
UNLIMITED = 100000  # rps given to limiters that must not bind (section 1)
UNLIMITED_SCALE = 10000  # rate_scale that lifts every documented window out of the way (section 1)


class Cfg:
    def __init__(self, quick: bool, workers: int, concurrency: int) -> None:
        self.quick = quick
        self.workers = workers
        self.concurrency = concurrency
        self.e2e_merchants = 4  # per platform variant of section 1
        self.e2e_transactions = 5000 if quick else 20000
        self.e2e_customers = 400 if quick else 1000
        self.rl_rate = 50
        self.rl_workers = 4
        self.rl_warm_s = 3.0 if quick else 5.0
        self.rl_window_s = 12.0 if quick else 60.0
        self.rl_transactions = int(self.rl_rate * (self.rl_warm_s + self.rl_window_s) * 1.6)
        self.rl_customers = 50
        # webhooks/s. Each new review costs 3 Postscript requests since issue 11 (subscriber lookup,
        # the event, the PATCH of seed 001s review aggregates): 4/s = 12 rps, under the 15 rps limit.
        self.lat_rate = 4.0
        self.lat_secs = 12.0 if quick else 60.0
        self.bulk_customers = 5000 if quick else 100000
        self.bulk_rate = 250  # Postscript rps for the bulk sync (sim and connection)
        self.balance_share = 0.01
        self.seed = 11
        # sections 6-8 (bench/sinkstack.py, bench/scenarios/sinkruns.py): the sink, Procfile workers
        # processes started from the Procfile's worker line: one per core, as docs/operations.md runs it
        self.procfile_workers = os.cpu_count() or 1
        self.scale_merchants = (60, 200)
        self.scale_latency_ms = 100.0
        self.scale_warm_s = 4.0 if quick else 10.0
        self.scale_window_s = 8.0 if quick else 30.0
        self.scale_customers = 5  # per merchant (a lookup and a PATCH each)
        # a backlog that lasts the warm-up and the window at the full allowed rate, with a margin
        self.scale_transactions = int(15 * (self.scale_warm_s + self.scale_window_s) * 1.3)
        self.cpu_merchants = 4
        self.cpu_customers = 50 if quick else 200
        self.cpu_transactions = 500 if quick else 2500
        self.cpu_latency_ms = 0.0
        self.ingest_merchants = 4
        self.ingest_customers = 250 if quick else 1000
        self.ingest_transactions = 2500 if quick else 10000


def _env_prefix(merchant: str) -> str:
    return merchant.upper().replace("-", "_")


class Stack:
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
        self.sinkbench: Any = None  # bench/sinkstack.SinkBench when sections 6-8 run

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_group("", timeout=10)
        if self.sinkbench is not None:
            self.sinkbench.stop()
        for sim in self.sims:
            sim.stop()
        if self.redis is not None:
            self.redis.stop()
        self.tmp.cleanup()

    # -- Redis, simulators, merchants, connections file -----------------------------------------
    def start_common(self, sections: set[str]) -> None:
        """Seeds only what ``sections`` need (the 100k customers of section 4 take a while)."""
        c = self.cfg
        t0 = time.perf_counter()
        self.redis = start_redis_server()
        self.r = redis.Redis.from_url(self.redis.url)
        self.naive_url = self.redis.url.rsplit("/", 1)[0] + "/2"
        self.smile = SmileSimulator(rate_per_s=None).start()
        self.okendo = OkendoSimulator(rate_per_s=None).start()
        self.ps_e2e = BenchPostscript(rate_per_s=None).start()
        self.kl_e2e = BenchKlaviyo(limits=None).start()
        self.ps_rl = BenchPostscript(rate_per_s=c.rl_rate).start()
        self.ps_wh = BenchPostscript(rate_per_s=15).start()
        self.ps_bulk = BenchPostscript(rate_per_s=c.bulk_rate).start()
        self.sims = [self.smile, self.okendo, self.ps_e2e, self.kl_e2e, self.ps_rl, self.ps_wh, self.ps_bulk]
        unused_ps = BenchPostscript(rate_per_s=None)  # seed_demo wants a shop; Klaviyo merchants have none
        per = c.e2e_transactions // c.e2e_merchants
        e2e_size = dict(customers=c.e2e_customers // c.e2e_merchants, transactions=per, sync_interval_s=86400)
        # The Klaviyo merchants are seeded like the Postscript ones (same seeds: same data shape).
        self.e2e = [SmileTenant(f"e2e{i + 1}", f"sk_e2e{i + 1}", self.ps_e2e, self.smile, seed=c.seed + i, **e2e_size)
                    for i in range(c.e2e_merchants)]
        self.e2e_kl = [SmileTenant(f"kl{i + 1}", f"sk_kl{i + 1}", unused_ps, self.smile, seed=c.seed + i, **e2e_size)
                       for i in range(c.e2e_merchants)]
        self.kl_accounts = {t.merchant: self.kl_e2e.add_account(f"kl_key_{t.merchant}") for t in self.e2e_kl}
        self.rl = SmileTenant("rl", "sk_rl", self.ps_rl, self.smile, customers=c.rl_customers,
                              transactions=c.rl_transactions, seed=c.seed + 10, sync_interval_s=86400)
        bulk_n = c.bulk_customers if sections & {"4", "5"} else 10
        self.bulk = SmileTenant("bulk", "sk_bulk", self.ps_bulk, self.smile, customers=bulk_n,
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
            toml += self._smile_toml(t.merchant, provider_rate=UNLIMITED)
            toml += self._platform_toml(t.merchant, "postscript", self.ps_e2e.base_url, UNLIMITED)
        for t in self.e2e_kl:  # every Klaviyo window out of the way (rate_scale lifts the minute windows too)
            toml += self._smile_toml(t.merchant, provider_rate=UNLIMITED)
            toml += self._platform_toml(t.merchant, "klaviyo", self.kl_e2e.base_url, UNLIMITED, scale=UNLIMITED_SCALE)
            env[f"{_env_prefix(t.merchant)}_KLAVIYO_API_KEY"] = self.kl_accounts[t.merchant].api_key
        toml += self._smile_toml("rl", provider_rate=UNLIMITED)
        toml += self._platform_toml("rl", "postscript", self.ps_rl.base_url, c.rl_rate)
        toml += self._smile_toml("bulk")  # Smile at its real 10 rps
        toml += self._platform_toml("bulk", "postscript", self.ps_bulk.base_url, c.bulk_rate)
        toml += (f'\n[merchants.wh.provider]\nkind = "okendo"\nbase_url = "{self.okendo.base_url}/enterprise"\n'
                 f'credential_env = "WH_OKENDO_CREDENTIAL"\nwebhook_secret_env = "WH_OKENDO_WEBHOOK_SECRET"\n'
                 f'sync_interval_s = 86400\n\n[[merchants.wh.platforms]]\nkind = "postscript"\n'
                 f'base_url = "{self.ps_wh.base_url}"\ncredential_env = "WH_POSTSCRIPT_API_KEY"\n')
        for t in (*self.e2e, *self.e2e_kl, self.rl, self.bulk):
            env.update(t.env)
        if sections & {"6", "7", "8"}:
            from bench.sinkstack import SinkBench

            self.sinkbench = SinkBench(self, sections)
            toml += self.sinkbench.toml_and_env(env, limited={"scale"})
        (self.logs / "connections.toml").write_text(toml)
        self.env, self.toml = env, toml
        self.capp = Celery("bench-control")
        self.capp.conf.update(celery_config(Settings(redis_url=self.redis.url)))
        self.napp = Celery("naive-control", broker=self.naive_url)
        self.napp.conf.update(task_default_queue="naive", broker_connection_retry_on_startup=True)
        self.counters = RedisCounters(self.r)
        self.progress = RedisBulkProgress(self.r)
        self.say(f"redis {self.redis.url}; simulators seeded in {time.perf_counter() - t0:.1f}s "
                 f"({c.e2e_transactions} transactions over {c.e2e_merchants} merchants per platform, "
                 f"{bulk_n} bulk customers)")

    def _smile_toml(self, m: str, *, provider_rate: float | None = None) -> str:
        out = (f'\n[merchants.{m}.provider]\nkind = "smile"\nbase_url = "{self.smile.base_url}/v1"\n'
               f'credential_env = "{_env_prefix(m)}_SMILE_API_KEY"\nsync_interval_s = 86400\n')
        return out + (f"rate_per_s = {provider_rate}\n" if provider_rate else "")

    @staticmethod
    def _platform_toml(m: str, kind: str, url: str, rate: float | None, *, scale: float | None = None) -> str:
        out = (f'\n[[merchants.{m}.platforms]]\nkind = "{kind}"\nbase_url = "{url}"\n'
               f'credential_env = "{_env_prefix(m)}_{kind.upper()}_API_KEY"\n')
        return out + (f"rate_per_s = {rate}\n" if rate else "") + (f"rate_scale = {scale}\n" if scale else "")

    # -- processes -------------------------------------------------------------------------------
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
        self.wait(up, 30, "web process /healthz")

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

    def wait(self, cond: Callable[[], Any], timeout: float, what: str, interval: float = 0.05) -> Any:
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
        self.wait(ready, 60, f"{what} workers to answer ping", interval=0.2)

    def worker_log_problems(self) -> dict[str, list[str]]:
        """ERROR / CRITICAL / Traceback lines of every worker log written so far (first few each)."""
        out: dict[str, list[str]] = {}
        for log in sorted(self.logs.glob("*.log")):
            lines = [ln for ln in log.read_text(errors="replace").splitlines()
                     if "ERROR" in ln or "CRITICAL" in ln or ln.startswith("Traceback")]
            if lines:
                out[log.stem] = [f"{len(lines)} lines"] + lines[:5]
        return out

    # -- measurements ----------------------------------------------------------------------------
    def cpu(self, prefix: str) -> dict[str, float]:
        return {"workers": sum(proc_cpu_s(pid) for pid in self.pids(prefix)), "bench_and_sims": self_cpu_s(),
                "redis": proc_cpu_s(self.redis._process.pid) if self.redis and self.redis._process else 0.0}

    @staticmethod
    def cpu_delta(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
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

    def settled(self, merchants: list[str]) -> bool:
        """Every merchant's first sync completed and each delivery it enqueued finished."""
        cs = [self.counters.get(m) for m in merchants]
        return all(c["syncs_completed"] >= 1 and sum(c[k] for k in FINISHED) >= c["enqueued"] for c in cs)
