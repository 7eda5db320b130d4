"""Benchmark plumbing: instrumented simulator subclasses, process handling, /proc readings.

Nothing here changes library behaviour. ``BenchPostscript`` and ``BenchKlaviyo`` are the
library's simulators with what only a benchmark needs:

* every recorded request also gets a wall-clock stamp (``stamps``, parallel to ``requests``),
  taken when the answer is ready, i.e. the platform's acknowledgement time (both);
* ``reset_shop`` / ``reset_account`` forget what was delivered, so one seeded merchant serves
  the pipeline, the naive baseline and the raw replay in turn;
* ``GET /api/v2/subscribers?email__eq=`` is answered from an email index instead of the
  simulator's linear scan over every subscriber (which costs O(subscribers) per lookup under
  the simulator's global lock: see ``lookup_cost`` and docs/performance.md). The answer is the
  same (same subscribers, same order, same page shape); the index is rebuilt whenever the
  number of subscribers changes. Subscribers' emails never change in these runs (every seeded
  subscriber has one, and a PATCH only sets an email that is missing).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sandbox.sim.klaviyo import KlaviyoAccount, KlaviyoSimulator
from sandbox.sim.postscript import PostscriptShop, PostscriptSimulator
from sandbox.sim.server import RecordedRequest, Request, Response, json_response

ROOT = Path(__file__).resolve().parents[1]
CLK_TCK = os.sysconf("SC_CLK_TCK")


class _Stamped:
    """Mixin for a SimServer: a wall-clock stamp per recorded request (the acknowledgement time)."""

    lock: Any
    requests: list[RecordedRequest]
    stamps: list[float]

    def _record(self, req: Request, status: int) -> None:
        rec = RecordedRequest(req.method, req.path, req.query, req.headers, req.body, status)
        stamp = time.time()
        with self.lock:
            self.requests.append(rec)
            self.stamps.append(stamp)

    def clear_requests(self) -> None:
        with self.lock:
            self.requests.clear()
            self.stamps.clear()

    def log(self) -> list[tuple[float, RecordedRequest]]:
        with self.lock:
            return list(zip(self.stamps, self.requests))


class BenchKlaviyo(_Stamped, KlaviyoSimulator):
    """The Klaviyo simulator, stamped; ``limits=None`` (unlimited) unless given."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("limits", None)
        super().__init__(**kwargs)
        self.stamps = []

    def reset_account(self, account: KlaviyoAccount) -> None:
        """Forget the account's events, profiles and jobs (each run starts from an empty account)."""
        with self.lock:
            account.events.clear()
            account._seen.clear()
            account.deduplicated = 0
            account.profiles.clear()
            account.jobs.clear()
            account.profile_imports.clear()

    def jobs_pending(self) -> int:
        self.run_jobs()
        with self.lock:
            return sum(1 for a in self.accounts.values() for j in a.jobs.values()
                       if j["status"] in ("queued", "processing"))


class BenchPostscript(_Stamped, PostscriptSimulator):
    def __init__(self, *, indexed: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stamps = []
        self.indexed = indexed
        self._index: dict[str, tuple[int, dict[str, list[dict[str, Any]]]]] = {}

    def _email_index(self, shop: PostscriptShop) -> dict[str, list[dict[str, Any]]]:
        n = len(shop.subscribers)
        cached = self._index.get(shop.api_key)
        if cached is None or cached[0] != n:
            index: dict[str, list[dict[str, Any]]] = {}
            for sub in shop.subscribers.values():
                index.setdefault((sub["email"] or "").lower(), []).append(sub)
            cached = self._index[shop.api_key] = (n, index)
        return cached[1]

    def _list_subscribers(self, req: Request) -> Response:
        email = req.arg("email__eq")
        if not self.indexed or email is None or set(req.query) != {"email__eq"} or self.duplicate_across_pages:
            return super()._list_subscribers(req)
        shop = self._shop(req)
        with self.lock:
            subs = [dict(s) for s in self._email_index(shop).get(email.lower(), ())]
        total = max(1, math.ceil(len(subs) / self.page_size))
        chunk = subs[: self.page_size]
        self.page_built(req, chunk)
        return json_response(200, {"page_info": {"page": 1, "total_pages": total}, "subscribers": chunk})

    def reset_shop(self, shop: PostscriptShop, properties: dict[str, dict[str, Any]]) -> None:
        """Forget what was delivered to ``shop``; restore its subscribers' seeded properties."""
        with self.lock:
            shop.events.clear()
            shop.events_by_external_id.clear()
            shop.patches.clear()
            for sid, props in properties.items():
                shop.subscribers[sid]["properties"] = dict(props)
        if self.limiter is not None:
            self.limiter.reset()


def lookup_cost(subscribers: int, lookups: int = 200) -> dict[str, float]:
    """CPU per email lookup in the stock simulator (linear scan) vs the index, in-process."""
    out: dict[str, float] = {}
    for indexed in (False, True):
        sim = BenchPostscript(indexed=indexed, rate_per_s=None)
        shop = sim.add_shop("sk_cost")
        for i in range(subscribers):
            shop.add_subscriber(email=f"c{i}@example.test")
        req = lambda i: Request("GET", "/api/v2/subscribers", {"email__eq": [f"c{i * 7919 % subscribers}@example.test"]},  # noqa: E731
                                {}, b"", ctx=(shop, "sk_cost"))
        sim._list_subscribers(req(0))  # build the index
        t0 = time.process_time()
        for i in range(lookups):
            sim._list_subscribers(req(i))
        out["indexed_ms" if indexed else "scan_ms"] = (time.process_time() - t0) * 1000 / lookups
    return out


# -- processes ---------------------------------------------------------------------------------
class Proc:
    """A child process in its own session (so its whole group can be stopped), logging to a file."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], logdir: Path, cwd: Path = ROOT) -> None:
        self.name = name
        self.log = logdir / f"{name}.log"
        handle = self.log.open("ab")
        self.p = subprocess.Popen(args, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        handle.close()

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def signal_stop(self) -> None:
        """Send SIGTERM to the group without waiting (so several can shut down in parallel)."""
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, timeout: float = 10.0) -> None:
        if self.p.poll() is not None:
            return
        try:
            os.killpg(self.p.pid, signal.SIGTERM)
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.p.pid, signal.SIGKILL)
            self.p.wait()
        except ProcessLookupError:
            pass

    def tail(self, n: int = 2000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def proc_cpu_s(pid: int) -> float:
    """utime + stime of one process (all its threads), in seconds; 0 if gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status_kb(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def self_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def machine() -> dict[str, Any]:
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        total_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                            if l.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration):
        total_kb = 0
    try:
        redis_v = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, timeout=5).stdout.split()[2]
    except Exception:  # noqa: BLE001
        redis_v = "?"
    import celery
    import httpx
    return {"cpus": os.cpu_count(), "cpu_model": model, "mem_gib": round(total_kb / 2**20, 1),
            "kernel": os.uname().release, "python": sys.version.split()[0], "redis_server": redis_v,
            "celery": celery.__version__, "httpx": httpx.__version__}


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def body_json(rec: RecordedRequest) -> Any:
    try:
        return json.loads(rec.body)
    except ValueError:
        return None
