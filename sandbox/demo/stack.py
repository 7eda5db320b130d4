"""Starting and stopping what the demo needs: Redis, simulators, web, worker and beat."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from sandbox.demo.tenants import SEED_002_SCOPES, OkendoTenant, OmneoTenant, RediemTenant, SmileTenant, Tenant
from sandbox.localredis import LocalRedis, ensure_redis, free_port
from sandbox.sim import (AttentiveSimulator, KlaviyoSimulator, OkendoSimulator, OmneoSimulator, PostscriptSimulator,
                          RediemSimulator, SmileSimulator)
from sandbox.sim.klaviyo import DEFAULT_LIMITS as KLAVIYO_LIMITS
from pipeline.redisurl import connect
from pipeline.state.counters import RedisCounters

__all__ = ["DemoOptions", "Stack", "demo_stack"]

from pipeline.destinations.registry import PLATFORM_SPECS  # noqa: E402  (queue names come from the platform specs)
QUEUES = ",".join(("ingest", "webhooks", "bulk", *(s.queue for s in PLATFORM_SPECS)))
PROVIDERS = ("smile", "okendo", "omneo", "rediem")


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    merchants: int = 4  # Smile merchants; one merchant for each other provider
    customers: int = 300
    transactions: int = 2000
    providers: tuple[str, ...] = PROVIDERS
    members: int = 25  # per Okendo/Omneo/Rediem merchant
    activities: int = 150
    seed: int = 7
    sync_interval_s: float = 2.0
    worker_concurrency: int = 16
    timeout_s: float = 300.0
    postscript_rate_per_s: float = 15.0
    smile_rate_per_s: float = 10.0
    redis_url: str | None = None
    allow_fake_redis: bool = True
    log_level: str = "WARNING"
    #: Where the Smile merchants deliver: "postscript" and/or "klaviyo" (sandbox/demo/tenants.py).
    smile_platforms: tuple[str, ...] = ("postscript",)
    #: How many Smile merchants (the last ones, always leaving one) have a key with only
    #: customer:read (seed 002): they deliver the two seed-002 properties, no points or reward events.
    smile_customer_read_only: int = 0
    #: The Klaviyo simulator's limits, (burst/s, steady/min) per endpoint class (sandbox/sim/klaviyo.py);
    #: None: unlimited.
    klaviyo_limits: Mapping[str, tuple[int, int] | None] | None = field(default_factory=lambda: dict(KLAVIYO_LIMITS),
                                                                        hash=False)
    #: Start the stack's own worker (False: the caller runs workers elsewhere, e.g. other hosts).
    worker: bool = True

    #: Beat processes: one leads, the others stand by (workers/beat.py); 0: none (the workers alone).
    beats: int = 1
    #: Platforms every merchant also delivers to (besides its own), e.g. ("attentive", "klaviyo").
    fanout: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.smile_platforms or set(self.smile_platforms) - set(SmileTenant.PLATFORMS):
            raise ValueError(f"smile_platforms: one or more of {SmileTenant.PLATFORMS}, got {self.smile_platforms}")


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=handle, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _settled(c: dict[str, int], *, pulls: bool) -> bool:
    finished = c["delivered"] + c["skipped"] + c["unchanged"] + c["dead_lettered"] + c["duplicates_dropped"]
    return (c["syncs_completed"] >= 1 or not pulls) and c["enqueued"] > 0 and finished >= c["enqueued"]


@dataclass
class Stack:
    """Everything the demo started, for the report and for end-to-end tests."""

    redis: LocalRedis
    smile: SmileSimulator
    postscript: PostscriptSimulator
    tenants: list[Tenant]
    processes: dict[str, subprocess.Popen[bytes]]
    logs: Path
    web_url: str
    klaviyo: KlaviyoSimulator | None = None

    @property
    def merchants(self) -> list[str]:
        return [t.merchant for t in self.tenants]

    def counters(self) -> dict[str, dict[str, int]]:
        counters = RedisCounters(connect(self.redis.url))
        return {m: counters.get(m) for m in self.merchants}

    def _dead(self) -> list[str]:
        return [f"{name} exited with {p.returncode}; its log ends with:\n" + (self.logs / f"{name}.log").read_text()[-3000:]
                for name, p in self.processes.items() if p.poll() is not None]

    def wait_settled(self, timeout_s: float) -> list[str]:
        """Wait until every merchant's first sync and pushes are delivered; returns problems."""
        deadline = time.monotonic() + timeout_s
        expected = {t.merchant: sum(t.expected().values()) for t in self.tenants}
        while True:
            if dead := self._dead():
                return dead
            counters = self.counters()
            if all(_settled(counters[t.merchant], pulls=t.pulls) and len(t.shop.events) >= expected[t.merchant]
                   and not t.problems() for t in self.tenants):
                return []
            if time.monotonic() > deadline:
                return [f"timed out after {timeout_s:.0f}s waiting for delivery; counters: {counters}"]
            time.sleep(0.5)


def _start_web(env: dict[str, str], logs: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # the deployed configuration (gevent worker, public and operational listeners), on loopback
    web_env = {**env, "WEB_HOST": "127.0.0.1", "PORT": str(port), "OPS_PORT": str(free_port())}
    process = _spawn(["gunicorn", "-c", "python:workers.gunicorn_conf", "workers.web:application"], web_env,
                     logs / "web.log")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    return process, url


@contextmanager
def demo_stack(opts: DemoOptions, *, say: Callable[[str], None] = print) -> Iterator[Stack]:
    """Start Redis (if needed), seeded simulators, web, worker and beat; stop them all on exit."""
    local: LocalRedis | None = None
    sims = {"smile": SmileSimulator(rate_per_s=opts.smile_rate_per_s), "okendo": OkendoSimulator(),
            "omneo": OmneoSimulator(), "rediem": RediemSimulator(), "attentive": AttentiveSimulator(),
            "klaviyo": KlaviyoSimulator(limits=opts.klaviyo_limits)}
    postscript = PostscriptSimulator(rate_per_s=opts.postscript_rate_per_s)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    workdir = tempfile.TemporaryDirectory(prefix="lp-demo-")
    logs = Path(workdir.name)
    try:
        local = ensure_redis(opts.redis_url, allow_fake=opts.allow_fake_redis)
        say(f"redis: {local.describe()}")
        for sim in (*sims.values(), postscript):
            sim.start()
        run = f"{os.getpid() % 10000:04d}{int(time.time()) % 1000:03d}"
        tenants: list[Tenant] = []
        if "smile" in opts.providers:
            read_only = min(opts.smile_customer_read_only, opts.merchants - 1)  # at least one full key
            for i in range(opts.merchants):
                share = lambda total: total // opts.merchants + (1 if i < total % opts.merchants else 0)  # noqa: E731
                tenants.append(SmileTenant(f"demo{run}-smile{i + 1}", f"sk_demo{run}_{i}", postscript, sims["smile"],
                                           customers=share(opts.customers), transactions=share(opts.transactions),
                                           seed=opts.seed + i, sync_interval_s=opts.sync_interval_s,
                                           platforms=opts.smile_platforms, sims=sims,
                                           scopes=SEED_002_SCOPES if i >= opts.merchants - read_only else None))
        if "okendo" in opts.providers:
            tenants.append(OkendoTenant(f"demo{run}-okendo", f"sk_demo{run}_ok", postscript, sims["okendo"],
                                        members=opts.members, seed=opts.seed))
            tenants[-1].connect("attentive", sims["attentive"])  # seed 004: Okendo Loyalty → Attentive
        if "omneo" in opts.providers:
            tenants.append(OmneoTenant(f"demo{run}-omneo", f"sk_demo{run}_om", postscript, sims["omneo"],
                                       profiles=opts.members, events=opts.activities, seed=opts.seed,
                                       sync_interval_s=opts.sync_interval_s))
        if "rediem" in opts.providers:
            tenants.append(RediemTenant(f"demo{run}-rediem", f"sk_demo{run}_re", postscript, sims["rediem"],
                                        members=opts.members, activities=opts.activities, seed=opts.seed,
                                        sync_interval_s=opts.sync_interval_s))
            tenants[-1].connect("klaviyo", sims["klaviyo"])
        for t in tenants:
            for kind in opts.fanout:
                if kind not in {f.kind for f in t.fanout}:
                    t.connect(kind, sims[kind])
        env = {**os.environ, "REDIS_URL": local.url, "CONNECTIONS_FILE": str(logs / "connections.toml"),
               "LOG_LEVEL": opts.log_level}
        env.pop("BROKER_URL", None)
        for t in tenants:
            env.update(t.env)
        (logs / "connections.toml").write_text("".join(t.toml(postscript.base_url, opts.postscript_rate_per_s)
                                                       for t in tenants))
        say(f"simulators: {', '.join(f'{k} {v.base_url}' for k, v in sims.items())}, postscript "
            f"{postscript.base_url}; merchants: {', '.join(t.provider for t in tenants)}; fan-out: "
            + ", ".join(f"{t.provider}→{f.kind}" for t in tenants for f in t.fanout))
        if opts.worker:
            processes["worker"] = _spawn(["celery", "-A", "workers.app", "worker", "-Q", QUEUES, "--pool", "threads",
                                          "-c", str(opts.worker_concurrency), "-n", f"demo-{run}@%h", "--without-gossip",
                                          "--without-mingle", "--loglevel", opts.log_level], env, logs / "worker.log")
        for n in range(opts.beats):
            name = "beat" if n == 0 else f"beat-{n + 1}"
            processes[name] = _spawn(["celery", "-A", "workers.app", "beat", "-s", str(logs / f"{name}-schedule"),
                                      "--loglevel", opts.log_level], env, logs / f"{name}.log")
        processes["web"], web_url = _start_web(env, logs)
        say(f"web {web_url}, worker and beat started; pushing webhooks and waiting for the first full sync ...")
        for t in tenants:
            t.push(web_url)
        yield Stack(redis=local, smile=sims["smile"], postscript=postscript, tenants=tenants, processes=processes,
                    logs=logs, web_url=web_url, klaviyo=sims["klaviyo"])
    finally:
        for p in processes.values():
            _stop(p)
        for sim in (*sims.values(), postscript):
            sim.stop()
        if local is not None:
            local.stop()
        workdir.cleanup()
