"""``loyalty-pipeline demo``: the whole pipeline, end to end, on one machine.

Starts (only what is missing) Redis, the Smile and Postscript simulators seeded with
customers and points transactions, a Celery worker and a Celery beat as separate
processes; waits for one full sync to be delivered; checks what the simulated Postscript
received against what was seeded; prints a report; stops everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis

from pipeline.localredis import LocalRedis, ensure_redis
from pipeline.sim import PostscriptSimulator, SmileSimulator, seed_demo
from pipeline.state.counters import RedisCounters

__all__ = ["DemoOptions", "DemoResult", "Stack", "demo_stack", "run_demo", "verify"]

QUEUES = "ingest,webhooks,deliver.postscript"


@dataclass(frozen=True, kw_only=True)
class DemoOptions:
    merchants: int = 8
    customers: int = 300
    transactions: int = 2000
    seed: int = 7
    sync_interval_s: float = 2.0
    worker_concurrency: int = 16
    timeout_s: float = 300.0
    postscript_rate_per_s: float = 15.0
    smile_rate_per_s: float = 10.0
    redis_url: str | None = None
    allow_fake_redis: bool = True
    log_level: str = "WARNING"


@dataclass
class DemoResult:
    counters: dict[str, int]
    expected_events: int
    received_events: int
    missing_events: int
    duplicate_events: int
    profiles_expected: int
    profiles_matching: int
    elapsed_s: float
    redis: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _connections_toml(merchants: list[str], smile_url: str, postscript_url: str, opts: DemoOptions) -> str:
    parts = []
    for m in merchants:
        env = m.upper().replace("-", "_")
        parts.append(f"""
[merchants.{m}.provider]
kind = "smile"
base_url = "{smile_url}/v1"
credential_env = "{env}_SMILE_API_KEY"
sync_interval_s = {opts.sync_interval_s}
rate_per_s = {opts.smile_rate_per_s}

[[merchants.{m}.platforms]]
kind = "postscript"
base_url = "{postscript_url}"
credential_env = "{env}_POSTSCRIPT_API_KEY"
unknown_subscriber = "skip"
rate_per_s = {opts.postscript_rate_per_s}
""")
    return "".join(parts)


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", *args], env=env,
                            stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@dataclass
class Stack:
    """Everything the demo started, for the report and for end-to-end tests."""

    redis: LocalRedis
    smile: SmileSimulator
    postscript: PostscriptSimulator
    merchants: list[str]
    seeds: dict[str, tuple[Any, Any, Any]]
    processes: dict[str, subprocess.Popen[bytes]]
    logs: Path

    def counters(self) -> dict[str, dict[str, int]]:
        counters = RedisCounters(redis.Redis.from_url(self.redis.url))
        return {m: counters.get(m) for m in self.merchants}

    def wait_settled(self, timeout_s: float) -> list[str]:
        """Wait until every merchant's first sync is delivered; returns problems (empty = fine)."""
        deadline = time.monotonic() + timeout_s
        while True:
            dead = [f"{name} exited with {p.returncode}; its log ends with:\n"
                    + (self.logs / f"{name}.log").read_text()[-3000:]
                    for name, p in self.processes.items() if p.poll() is not None]
            if dead:
                return dead
            if all(_settled(c) for c in self.counters().values()):
                return []
            if time.monotonic() > deadline:
                return [f"timed out after {timeout_s:.0f}s waiting for delivery; counters: {self.counters()}"]
            time.sleep(0.25)


@contextmanager
def demo_stack(opts: DemoOptions, *, say: Callable[[str], None] = print) -> Iterator[Stack]:
    """Start Redis (if needed), seeded simulators, a worker and a beat; stop them all on exit."""
    local: LocalRedis | None = None
    smile = SmileSimulator(rate_per_s=opts.smile_rate_per_s)
    postscript = PostscriptSimulator(rate_per_s=opts.postscript_rate_per_s)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    workdir = tempfile.TemporaryDirectory(prefix="lp-demo-")
    try:
        local = ensure_redis(opts.redis_url, allow_fake=opts.allow_fake_redis)
        say(f"redis: {local.describe()}")
        smile.start()
        postscript.start()
        run_id = f"{os.getpid() % 10000:04d}{int(time.time()) % 1000:03d}"
        merchants = [f"demo{run_id}-{i + 1}" for i in range(opts.merchants)]
        logs = Path(workdir.name)
        env = {**os.environ, "REDIS_URL": local.url, "CONNECTIONS_FILE": str(logs / "connections.toml"),
               "LOG_LEVEL": opts.log_level}
        env.pop("BROKER_URL", None)
        seeds = {}
        for i, m in enumerate(merchants):
            prefix = m.upper().replace("-", "_")
            smile_key, ps_key = f"smile_demo_{m}", f"sk_demo_{m}"
            env[f"{prefix}_SMILE_API_KEY"], env[f"{prefix}_POSTSCRIPT_API_KEY"] = smile_key, ps_key
            account, shop = smile.add_account(smile_key), postscript.add_shop(ps_key)
            per_c = opts.customers // opts.merchants + (1 if i < opts.customers % opts.merchants else 0)
            per_t = opts.transactions // opts.merchants + (1 if i < opts.transactions % opts.merchants else 0)
            seeds[m] = (account, shop, seed_demo(account, shop, customers=per_c, transactions=per_t,
                                                 seed=opts.seed + i))
        (logs / "connections.toml").write_text(_connections_toml(merchants, smile.base_url, postscript.base_url, opts))
        say(f"simulators: smile {smile.base_url}, postscript {postscript.base_url}; "
            f"{opts.merchants} merchants, {opts.customers} customers, {opts.transactions} transactions")
        processes["worker"] = _spawn(["worker", "-Q", QUEUES, "--pool", "threads", "-c",
                                      str(opts.worker_concurrency), "-n", f"demo-{run_id}@%h", "--without-gossip",
                                      "--without-mingle", "--loglevel", opts.log_level], env, logs / "worker.log")
        processes["beat"] = _spawn(["beat", "-s", str(logs / "beat-schedule"), "--loglevel", opts.log_level], env,
                                   logs / "beat.log")
        say("worker and beat started; waiting for the first full sync to be delivered ...")
        yield Stack(redis=local, smile=smile, postscript=postscript, merchants=merchants, seeds=seeds,
                    processes=processes, logs=logs)
    finally:
        for p in processes.values():
            _stop(p)
        postscript.stop()
        smile.stop()
        if local is not None:
            local.stop()
        workdir.cleanup()


def run_demo(opts: DemoOptions, *, say: Callable[[str], None] = print) -> DemoResult:
    """Run the demo; everything started here is stopped before returning (also on Ctrl-C)."""
    started = time.monotonic()
    with demo_stack(opts, say=say) as stack:
        problems = stack.wait_settled(opts.timeout_s)
        result = verify(stack.seeds, stack.counters())
        result.problems[:0] = problems
        result.redis = stack.redis.kind
    result.elapsed_s = time.monotonic() - started
    return result


def _settled(c: dict[str, int]) -> bool:
    finished = c["delivered"] + c["skipped"] + c["dead_lettered"] + c["duplicates_dropped"]
    return c["syncs_completed"] >= 1 and c["enqueued"] > 0 and finished >= c["enqueued"]


def verify(seeds: dict[str, tuple[Any, Any, Any]], counters: dict[str, dict[str, int]]) -> DemoResult:
    """Compare what each simulated Postscript shop accepted with what its Smile account holds."""
    from pipeline.destinations.encoding.postscript import event_type

    total = {k: sum(c[k] for c in counters.values()) for k in next(iter(counters.values()))}
    expected = received = missing = duplicates = profiles_expected = profiles_ok = 0
    problems: list[str] = []
    for merchant, (account, shop, _summary) in seeds.items():
        by_txn: dict[str, list[dict]] = {}
        for event in shop.events:
            by_txn.setdefault(str(event.get("properties", {}).get("Transaction ID")), []).append(event)
        received += len(shop.events)
        for txn in account.points_transactions.values():
            expected += 1
            got = by_txn.get(str(txn["id"]), [])
            if not got:
                missing += 1
            elif len(got) > 1:
                duplicates += len(got) - 1
            else:
                name = _expected_event_name(txn)
                if got[0]["type"] != event_type(name):
                    problems.append(f"{merchant}: transaction {txn['id']} arrived as {got[0]['type']}, expected "
                                    f"{event_type(name)}")
        subscribers = {s["email"]: s for s in shop.subscribers.values() if s.get("email")}
        for customer in account.customers.values():
            sub = subscribers.get(customer["email"])
            if sub is None:
                continue
            profiles_expected += 1
            props = sub.get("properties", {})
            if (props.get("Smile Points Balance") == customer["points_balance"]
                    and props.get("Enrolled in Smile") == (customer["state"] == "member")):
                profiles_ok += 1
    if missing:
        problems.append(f"{missing} of {expected} seeded transactions never reached Postscript")
    if duplicates:
        problems.append(f"{duplicates} events reached Postscript more than once")
    if profiles_ok != profiles_expected:
        problems.append(f"{profiles_expected - profiles_ok} of {profiles_expected} subscriber profiles do not "
                        "match Smile")
    return DemoResult(counters=total, expected_events=expected, received_events=received, missing_events=missing,
                      duplicate_events=duplicates, profiles_expected=profiles_expected,
                      profiles_matching=profiles_ok, elapsed_s=0.0, redis="", problems=problems)


def _expected_event_name(txn: dict) -> str:
    """An independent statement of the catalog's Smile rules, so the demo checks the catalog too."""
    if txn.get("internal_note"):
        return "Smile Points Adjusted"
    return "Smile Points Earned" if txn["points_change"] > 0 else "Smile Points Redeemed"
