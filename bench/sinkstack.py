"""What sections 6-8 run on: the sink process (bench/sink.py), their Smile merchants (each with
its own platform key on the sink), and worker processes started as the Procfile starts them.

The ``worker`` line of the Procfile is read at run time (``procfile_worker``), so the bench follows
it when it changes: its command, pool and concurrency are used as they are. Two things are added,
neither of which changes how a worker runs: ``-n bench-<group><i>@%h`` (a node name, so the bench
can wait for each process) when the line has none; and for the ingest-only phases, ``-Q`` keeps
the line's queues except ``deliver.*`` (deliveries wait in their queues until the delivery phase).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.simx import Proc, proc_cpu_s, proc_status_kb
from bench.sinkproc import SinkProc
from sandbox.demo.tenants import SmileTenant
from sandbox.sim import PostscriptSimulator

if TYPE_CHECKING:
    from bench.stack import Stack

ROOT = Path(__file__).resolve().parents[1]
PROCFILE = ROOT / "Procfile"
_ENV_DEFAULT = re.compile(r"\$\{(\w+):-([^}]*)\}")


def procfile_worker(name: str = "worker", procfile: Path = PROCFILE) -> list[str]:
    """The argv of the Procfile's ``name`` line (``${VAR:-default}`` and ``$VAR`` expanded)."""
    for line in procfile.read_text().splitlines():
        if line.startswith(f"{name}:"):
            cmd = _ENV_DEFAULT.sub(lambda m: os.environ.get(m[1], m[2]), line.split(":", 1)[1].strip())
            return shlex.split(os.path.expandvars(cmd))
    raise LookupError(f"no {name!r} line in {procfile}")


def option(args: list[str], *names: str) -> str | None:
    """The value of the first of ``names`` (``-c 16``, ``--concurrency 16``, ``--concurrency=16``)."""
    for i, a in enumerate(args):
        for n in names:
            if a == n and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(n + "=") and n.startswith("--"):
                return a.split("=", 1)[1]
    return None


def replace_option(args: list[str], names: tuple[str, ...], value: str) -> list[str]:
    out, skip = [], False
    for i, a in enumerate(args):
        if skip:
            skip = False
            continue
        if a in names and i + 1 < len(args):
            skip = True
            continue
        if any(a.startswith(n + "=") for n in names if n.startswith("--")):
            continue
        out.append(a)
    return [*out, names[0], value]


def worker_shape(args: list[str]) -> dict[str, Any]:
    """Pool, concurrency and queues of a worker command (no ``-Q``: every queue the app declares)."""
    conc = option(args, "--concurrency", "-c")
    queues = option(args, "--queues", "-Q")
    if queues is None:
        from workers.config import queue_names

        queues = ",".join(queue_names())
    return {
        "command": shlex.join(args),
        "pool": option(args, "--pool", "-P") or "prefork",
        "concurrency": int(conc) if conc and conc.isdigit() else None,
        "queues": queues.split(","),
    }


class SinkBench:
    """Merchants of sections 6 (``scale<M>_<i>``), 7 (``cpup<i>`` to Postscript, ``cpua<i>`` to
    Attentive) and 8 (``ing<i>``), all Smile, seeded in the bench's Smile simulator."""

    def __init__(self, st: Stack, sections: set[str]) -> None:
        self.st = st
        self.sink = SinkProc(latency_ms=0, postscript_rate_per_s=0, attentive_rate_per_s=0, log=st.logs / "sink.log")
        self.worker_args = procfile_worker()
        self.shape = worker_shape(self.worker_args)
        self.paper = PostscriptSimulator(rate_per_s=None)  # never started: seed_demo wants a shop
        self.groups: dict[str, list[SmileTenant]] = {}
        self.platform: dict[str, str] = {}
        t0 = time.perf_counter()
        try:
            self._seed(sections)
        except BaseException:
            self.sink.stop()  # the Stack never saw this object: stop the sink here
            raise
        st.say(
            f"sink on {self.sink.base_url} (pid {self.sink.pid}); sections 6-8 merchants seeded in "
            f"{time.perf_counter() - t0:.1f}s: { {g: len(ts) for g, ts in self.groups.items()} }"
        )

    def _seed(self, sections: set[str]) -> None:
        c = self.st.cfg
        if "6" in sections:
            for m in c.scale_merchants:
                self._add(f"scale{m}", m, "postscript", c.scale_customers, c.scale_transactions)
        if "7" in sections:
            self._add("cpup", c.cpu_merchants, "postscript", c.cpu_customers, c.cpu_transactions)
            self._add("cpua", c.cpu_merchants, "attentive", c.cpu_customers, c.cpu_transactions)
        if "8" in sections:
            self._add("ing", c.ingest_merchants, "postscript", c.ingest_customers, c.ingest_transactions)

    def _add(self, group: str, n: int, platform: str, customers: int, transactions: int) -> None:
        self.platform[group] = platform
        self.groups[group] = [
            SmileTenant(
                f"{group}_{i + 1}",
                f"sk_{group}_{i + 1}",
                self.paper,
                self.st.smile,
                customers=customers,
                transactions=transactions,
                seed=self.st.cfg.seed + 100 + i,
                sync_interval_s=86400,
            )
            for i in range(n)
        ]

    def key(self, t: SmileTenant, group: str) -> str:
        return f"sk_{t.merchant}" if self.platform[group] == "postscript" else f"at_{t.merchant}"

    def toml_and_env(self, env: dict[str, str], limited: set[str]) -> str:
        """Connections of every group to the sink; the groups in ``limited`` keep the platform's
        documented rate, the others get limits out of the way (UNLIMITED)."""
        from bench.stack import UNLIMITED

        out = ""
        for group, tenants in self.groups.items():
            kind = self.platform[group]
            for t in tenants:
                out += self.st._smile_toml(t.merchant, provider_rate=UNLIMITED)
                out += self.st._platform_toml(
                    t.merchant, kind, self.sink.base_url, None if group.startswith(tuple(limited)) else UNLIMITED
                )
                env.update({k: v for k, v in t.env.items() if "POSTSCRIPT" not in k})
                env[f"{t.merchant.upper()}_{kind.upper()}_API_KEY"] = self.key(t, group)
        return out

    def merchants(self, group: str) -> list[str]:
        return [t.merchant for t in self.groups[group]]

    def expected_events(self, group: str) -> int:
        return sum(sum(t.expected().values()) for t in self.groups[group])

    def records(self, group: str) -> int:
        """What the provider holds for the group: customers, points transactions, reward fulfillments."""
        return sum(
            len(t.account.customers) + len(t.account.points_transactions) + len(t.account.reward_fulfillments)
            for t in self.groups[group]
        )

    # -- processes -------------------------------------------------------------------------------
    def start_workers(self, group: str, n: int, *, ingest_only: bool = False) -> None:
        args = list(self.worker_args)
        if not ingest_only and not any(q.startswith("deliver.") for q in self.shape["queues"]):
            raise RuntimeError(f"the Procfile's worker line consumes no deliver.* queue: {self.shape['command']}")
        if ingest_only:
            queues = [q for q in self.shape["queues"] if q and not q.startswith("deliver.")]
            args = replace_option(args, ("-Q", "--queues"), ",".join(queues))
        if args[0] == "celery":
            args = [sys.executable, "-m", "celery", *args[1:]]
        t0 = time.perf_counter()
        for i in range(n):
            argv = args if option(args, "-n", "--hostname") else [*args, "-n", f"bench-{group}{i}@%h"]
            self.st.procs[f"{group}{i}"] = Proc(f"{group}{i}", argv, self.st.env, self.st.logs)
        self.st._wait_workers(self.st.capp, [f"bench-{group}{i}@" for i in range(n)], group)
        self.st.say(
            f"  {n} {'ingest-only ' if ingest_only else ''}worker process(es) from the Procfile "
            f"ready in {time.perf_counter() - t0:.1f}s"
        )

    def cpu(self, group: str) -> dict[str, float]:
        """CPU seconds so far of each process group: workers (``group``), sink, Redis, bench (+ sims)."""
        st = self.st
        redis_pid = st.redis._process.pid if st.redis and st.redis._process else None
        return {
            "workers": sum(proc_cpu_s(p) for p in st.pids(group)),
            "sink": self.sink.cpu_s(),
            "redis": proc_cpu_s(redis_pid) if redis_pid else 0.0,
            "bench_and_sims": st.cpu("-")["bench_and_sims"],
        }

    def rss_mib(self, group: str) -> dict[str, Any]:
        rss = [proc_status_kb(p, "VmRSS") or 0 for p in self.st.pids(group)]
        hwm = [proc_status_kb(p, "VmHWM") or 0 for p in self.st.pids(group)]
        return {
            "per_process_mib": [round(r / 1024, 1) for r in rss],
            "total_mib": round(sum(rss) / 1024, 1),
            "peak_per_process_mib": [round(r / 1024, 1) for r in hwm],
        }

    def fresh_redis(self) -> None:
        """Between runs (no worker running): the pipeline's Redis database emptied, so no queued task,
        lease or limiter state of a previous run is left."""
        self.st.r.flushdb()

    def stop(self) -> None:
        self.sink.stop()
