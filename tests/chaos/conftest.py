"""Helpers for the chaos suite (``pytest -m chaos tests/chaos``).

Every chaos test runs the demo stack (sandbox/demo/stack.py: simulators, a Celery worker, beat
and the web process) against its own private Redis, so queues, unacked messages and due sets
left behind by one scenario can never leak into the next. Assertions are counts taken from the
simulators; time is only ever a deadline (or, in the fan-out test, a ratio of two runs).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from pipeline import keys
from sandbox.demo.stack import QUEUES, DemoOptions, Stack, _spawn
from sandbox.demo.tenants import SmileTenant
from sandbox.localredis import LocalRedis, start_redis_server
from sandbox.sim.klaviyo import KlaviyoAccount
from workers.config import queue_names


@pytest.fixture
def fresh_redis() -> Iterator[LocalRedis]:
    """A private redis-server for one test (no queue or unacked message is shared between tests)."""
    if shutil.which("redis-server") is None:
        pytest.skip("the chaos suite needs the redis-server binary")
    local = start_redis_server()
    yield local
    local.stop()


def stack_env(stack: Stack, opts: DemoOptions) -> dict[str, str]:
    """The environment ``demo_stack`` gave its processes (it does not expose it)."""
    env = {**os.environ, "REDIS_URL": stack.redis.url, "CONNECTIONS_FILE": str(stack.logs / "connections.toml"),
           "LOG_LEVEL": opts.log_level}
    env.pop("BROKER_URL", None)
    for t in stack.tenants:
        env.update(t.env)
    return env


def spawn_worker(stack: Stack, opts: DemoOptions, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    """A Celery worker like the demo's, in its own process group (``_spawn`` starts a new session)."""
    return _spawn(["celery", "-A", "workers.app", "worker", "-Q", QUEUES, "--pool", "threads",
                   "-c", str(opts.worker_concurrency), "-n", f"chaos-{name}@%h", "--without-gossip",
                   "--without-mingle", "--loglevel", opts.log_level], env, stack.logs / f"{name}.log")


def sigkill(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the whole process group, no chance to restore or ack anything, and reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=15)


def wait_for_log(path: Path, text: str, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        if process is not None and process.poll() is not None:
            return False
        time.sleep(0.1)
    return False


def wait_until(predicate: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout_s
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval_s)


# -- what the Smile merchant must produce at Postscript (or Klaviyo) -----------------------------

def smile_expected(tenant: SmileTenant, platform: str = "postscript") -> tuple[set[str], int]:
    """(seeded Smile transaction ids, number of events ``platform`` must receive in all)."""
    txns = {str(t["id"]) for t in tenant.account.points_transactions.values()}
    return txns, sum(tenant.expected_at(platform).values())


@dataclass
class Received:
    """What one Postscript shop accepted, counted."""

    events: int
    external_ids: int
    duplicated: dict[str, int]  # external_id -> times received, where > 1
    txn_ids: Counter[str]  # Transaction ID -> times received

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.duplicated.values())


def received(shop: Any) -> Received:
    with shop.sim.lock:
        events = list(shop.events)
        by_ext = {k: len(v) for k, v in shop.events_by_external_id.items()}
    txn_ids = Counter(str(e["properties"]["Transaction ID"]) for e in events
                      if "Transaction ID" in (e.get("properties") or {}))
    return Received(events=len(events), external_ids=len(by_ext), duplicated={k: n for k, n in by_ext.items() if n > 1},
                    txn_ids=txn_ids)


@dataclass
class KlaviyoReceived:
    """What one Klaviyo account recorded (after its dedup per metric, profile and unique_id) and
    what it was sent: every event in every request to the two event endpoints answered 202."""

    recorded: int
    unique_ids: Counter[str]  # unique_id -> times recorded
    txn_ids: Counter[str]  # Transaction ID -> times recorded
    via: Counter[str]  # "single" / "bulk" -> events recorded that way
    deduplicated: int  # events answered 202 but dropped as repeats (the simulator's count)
    sends: Counter[str]  # unique_id -> times sent (in accepted requests)
    sends_via: Counter[str]  # "single" / "bulk" -> events sent that way (in accepted requests)
    requests: Counter[str]  # "<path> <status>" -> requests to the event endpoints

    @property
    def duplicated(self) -> dict[str, int]:
        """unique_ids recorded more than once (the simulator's dedup makes this impossible)."""
        return {k: n for k, n in self.unique_ids.items() if n > 1}

    @property
    def duplicated_txns(self) -> dict[str, int]:
        """Transactions recorded more than once (under different unique_ids: a real duplicate)."""
        return {k: n for k, n in self.txn_ids.items() if n > 1}

    @property
    def sent(self) -> int:
        return sum(self.sends.values())

    @property
    def resent(self) -> dict[str, int]:
        """unique_id -> times sent, where more than once (what the dedup absorbed)."""
        return {k: n for k, n in self.sends.items() if n > 1}


def _sent_unique_ids(path: str, body: dict[str, Any]) -> tuple[str, list[str]]:
    """("single" or "bulk", the unique_ids of the events in one event request body)."""
    if path.startswith("/api/event-bulk-create-jobs"):
        entries = body["data"]["attributes"]["events-bulk-create"]["data"]
        return "bulk", [str(e["attributes"].get("unique_id")) for entry in entries
                        for e in entry["attributes"]["events"]["data"]]
    return "single", [str(body["data"]["attributes"].get("unique_id"))]


def klaviyo_recorded(account: KlaviyoAccount) -> int:
    """Distinct events the account recorded (cheap, for polling)."""
    with account.sim.lock:
        return len(account.events)


def klaviyo_received(account: KlaviyoAccount) -> KlaviyoReceived:
    sim = account.sim
    with sim.lock:
        events = list(account.events)
        deduplicated = account.deduplicated
        requests = [r for r in sim.requests if r.path.startswith("/api/event")
                    and r.headers.get("authorization", "").partition(" ")[2].strip() == account.api_key]
    sends: Counter[str] = Counter()
    sends_via: Counter[str] = Counter()
    for r in requests:
        if r.status == 202:
            via, ids = _sent_unique_ids(r.path, r.json())
            sends.update(ids)
            sends_via[via] += len(ids)
    return KlaviyoReceived(
        recorded=len(events), unique_ids=Counter(str(e["unique_id"]) for e in events),
        txn_ids=Counter(str(e["properties"]["Transaction ID"]) for e in events
                        if "Transaction ID" in (e.get("properties") or {})),
        via=Counter(e["via"] for e in events), deduplicated=deduplicated, sends=sends, sends_via=sends_via,
        requests=Counter(f"{r.path.rstrip('/')} {r.status}" for r in requests))


# -- the kill loop -------------------------------------------------------------------------------

@dataclass
class Kills:
    kills: int = 0
    at_kill: list[int] = field(default_factory=list)  # progress() at each kill
    restored: list[int] = field(default_factory=list)  # messages given back to their queues after each kill
    at_s: list[float] = field(default_factory=list)  # wall time of each kill (epoch seconds)


def kill_worker_repeatedly(stack: Stack, opts: DemoOptions, *, done: Callable[[], bool], progress: Callable[[], int],
                           redelivery: str, rng: Any, every_s: float, max_kills: int) -> Kills:
    """SIGKILL the stack's worker ~``every_s`` (jittered ±30 %) after each one says "ready." and start a
    new one, until ``done()`` or ``max_kills``; with ``redelivery == "redelivered"`` the killed
    worker's unacknowledged messages are also given back to their queues right after each kill.
    The last worker started is left running (``stack.processes["worker"]``)."""
    env = stack_env(stack, opts)
    worker = stack.processes["worker"]
    log = stack.logs / "worker.log"
    out = Kills()
    while out.kills < max_kills and not done():
        # kill only a worker that is consuming: ~every_s after it said "ready."
        if not wait_for_log(log, "ready.", 30, worker):
            pytest.fail(f"worker did not start: {log.read_text()[-2000:]}")
        time.sleep(every_s * rng.uniform(0.7, 1.3))
        if done():
            break
        sigkill(worker)
        out.kills += 1
        out.at_s.append(time.time())
        out.at_kill.append(progress())
        if redelivery == "redelivered":
            out.restored.append(redeliver_unacked(stack.redis.url))
        log = stack.logs / f"worker-{out.kills}.log"
        worker = stack.processes["worker"] = spawn_worker(stack, opts, env, f"worker-{out.kills}")
    return out


# -- what Redis holds: evidence for failure messages ---------------------------------------------

@dataclass
class BrokerState:
    queued: dict[str, int] = field(default_factory=dict)
    unacked: int = 0
    unacked_tasks: Counter[str] = field(default_factory=Counter)
    due: dict[str, int] = field(default_factory=dict)
    inflight_claims: int = 0
    dlq: dict[str, int] = field(default_factory=dict)

    def __str__(self) -> str:
        return (f"queued={self.queued} unacked(kombu hash)={self.unacked} unacked tasks={dict(self.unacked_tasks)} "
                f"due={self.due} inflight claims={self.inflight_claims} dlq={self.dlq}")


def broker_state(url: str, merchants: list[str], platforms: tuple[str, ...] = ("postscript",)) -> BrokerState:
    import json

    client = redis.Redis.from_url(url)
    try:
        state = BrokerState()
        state.queued = {q: int(client.llen(q)) for q in queue_names() if client.llen(q)}
        state.unacked = int(client.hlen("unacked"))
        for raw in client.hvals("unacked"):
            try:
                payload = json.loads(raw)[0]
                message = json.loads(payload) if isinstance(payload, str) else payload
                state.unacked_tasks[message.get("headers", {}).get("task", "?")] += 1
            except (ValueError, TypeError, KeyError, IndexError):
                state.unacked_tasks["?"] += 1
        state.due = {p: int(client.zcard(keys.due(p))) for p in platforms}
        state.inflight_claims = sum(1 for _ in client.scan_iter(match=f"{keys.PREFIX}:inflight:*", count=1000))
        state.dlq = {f"{m}/{p}": int(client.xlen(keys.dlq(m, p))) for m in merchants for p in platforms}
        return state
    finally:
        client.close()


def pipeline_idle(url: str, merchants: list[str], platforms: tuple[str, ...]) -> bool:
    """No delivery batch of ``platforms`` left: none queued, none in the due set (a batch stays there
    from its publish until the task that sent it finishes, and retries or deferrals go back there)."""
    state = broker_state(url, merchants, platforms)
    return not any(state.due.values()) and not any(q.startswith("deliver.") for q in state.queued)


def redeliver_unacked(url: str) -> int:
    """Put every unacknowledged message back on its queue now, the way kombu's Redis transport
    does once the visibility timeout has passed (``QoS.restore_visible`` with a timeout of 0).
    Only call it when no live worker holds messages. Returns how many were restored."""
    from kombu import Connection

    client = redis.Redis.from_url(url)
    try:
        before = int(client.hlen("unacked"))
    finally:
        client.close()
    with Connection(url, transport_options={"visibility_timeout": 0}) as conn:
        conn.default_channel.qos.restore_visible(num=100_000)
    return before


def stale_claims(url: str, merchant: str, platform: str, shop: Any = None, *,
                 arrived: set[str] | None = None) -> dict[str, int]:
    """In-flight claims left in Redis, split by whether their delivery ever reached the platform
    (by the Postscript ``shop``'s external_ids, or the delivery ids in ``arrived``) and whether the
    ledger marks it acknowledged."""
    client = redis.Redis.from_url(url)
    try:
        prefix = keys.inflight(merchant, platform, "")
        ids = [k.decode()[len(prefix):] for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if arrived is None:
            with shop.sim.lock:
                arrived = set(shop.events_by_external_id)
        out = Counter()
        for delivery_id in ids:
            acked = bool(client.exists(keys.delivered(merchant, platform, delivery_id)))
            out[f"{'arrived' if delivery_id in arrived else 'never arrived'}, "
                f"{'acknowledged' if acked else 'not acknowledged'}"] += 1
        return dict(out)
    finally:
        client.close()


class AofRedis:
    """A redis-server with AOF (``appendfsync everysec``, as deploy/docker-compose.yml runs it) on a
    fixed port and data directory, so it can be stopped and started again on the same data."""

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        from sandbox.localredis import free_port

        self.dir = data_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None
        self.starts += 1
        log = self.dir / f"redis-{self.starts}.log"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir), "--save", "",
             "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction",
             "--daemonize", "no", "--logfile", str(log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5, socket_timeout=2)
        try:
            def up() -> bool:
                assert self.process is not None and self.process.poll() is None, log.read_text()[-2000:]
                try:
                    # answers PING only once the AOF is loaded (LOADING error before)
                    return bool(client.ping())
                except (redis.RedisError, OSError):
                    return False
            if not wait_until(up, 30, interval_s=0.05):
                raise RuntimeError(f"redis-server did not start on port {self.port}")
        finally:
            client.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def keep_logs(stack: Stack, dest: Path) -> Path:
    """Copy the stack's process logs out of its temporary directory (removed when the stack stops)."""
    dest.mkdir(parents=True, exist_ok=True)
    for log in stack.logs.glob("*.log"):
        shutil.copy(log, dest / log.name)
    shutil.copy(stack.logs / "connections.toml", dest / "connections.toml")
    return dest


def wait_done_or_stuck(done: Callable[[], bool], progress: Callable[[], int], url: str, merchants: list[str], *,
                       timeout_s: float, stall_s: float = 15.0, platforms: tuple[str, ...] = ("postscript",)) -> bool:
    """Wait until ``done()``; give up early once nothing can make progress any more: ``progress()``
    has not moved for ``stall_s`` while no delivery is queued or due (a stuck unacked message is
    not progress: the broker gives it back only after the visibility timeout). Returns done()."""
    deadline = time.monotonic() + timeout_s
    last, since = progress(), time.monotonic()
    while not done():
        now = time.monotonic()
        if now > deadline:
            return False
        current = progress()
        if current != last:
            last, since = current, now
        elif now - since > stall_s:
            state = broker_state(url, merchants, platforms)
            if not any(q.startswith("deliver.") for q in state.queued) and not any(state.due.values()):
                return done()
        time.sleep(0.5)
    return True


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Prints the chaos results table (tests/chaos/report.py) when any scenario recorded a row."""
    from tests.chaos import report

    if report.ROWS:
        terminalreporter.write_sep("=", "chaos results")
        terminalreporter.write_line(report.table(report.ROWS))
        terminalreporter.write_line(f"written to {report.write_json(report.ROWS)}")
