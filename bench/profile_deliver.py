"""CPU profile of the delivery path, one thread, no Celery: where a delivered event's CPU goes.

    .venv/bin/python bench/profile_deliver.py [--events 3000] [--profiles] [--threads 1]

Starts a private redis-server and the Postscript simulator in a separate process (so the
simulator's CPU is not in the profile), builds the workers' real ``Runtime`` from a connections
file, and runs ``Deliverer.deliver`` on batches of 100 deliveries the way ``lp.deliver_batch``
does (``Delivery.from_dict`` first). Prints CPU ms per delivery, Redis commands per delivery,
and the cProfile lines that matter. ``--profiles`` sends profile updates (lookup + PATCH)
instead of events. ``--threads N`` runs N threads without cProfile, to show what contention
for one interpreter costs per delivery.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import redis  # noqa: E402

from pipeline.config import load_connections  # noqa: E402
from sandbox.localredis import free_port, start_redis_server  # noqa: E402
from pipeline.settings import Settings  # noqa: E402
from pipeline.types import Customer, Delivery, Event, ProfileUpdate  # noqa: E402
from workers.wiring import Runtime  # noqa: E402

SIM = """
import sys, time
sys.path.insert(0, {root!r})
from bench.simx import BenchPostscript
sim = BenchPostscript(rate_per_s=None, port={port}).start()
shop = sim.add_shop("sk_prof")
for i in range({subs}):
    shop.add_subscriber(email=f"c{{i}}@example.test")
print("ready", flush=True)
sys.stdin.read()
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=3000)
    ap.add_argument("--profiles", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rate", type=float, default=100000, help="the connection's rate_per_s (default: unlimited)")
    args = ap.parse_args()
    local = start_redis_server()
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-c", SIM.format(root=str(ROOT), port=port, subs=args.events + 200)],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None and sim.stdout.readline().strip() == "ready"
        tmp = tempfile.TemporaryDirectory()
        path = Path(tmp.name) / "connections.toml"
        path.write_text(f'[merchants.prof.provider]\nkind = "smile"\nbase_url = "http://127.0.0.1:9/v1"\n'
                        f'credential_env = "PROF_SMILE_API_KEY"\n\n[[merchants.prof.platforms]]\nkind = "postscript"\n'
                        f'base_url = "http://127.0.0.1:{port}"\ncredential_env = "PROF_POSTSCRIPT_API_KEY"\n'
                        f'rate_per_s = {args.rate}\n')
        env = {"PROF_SMILE_API_KEY": "x", "PROF_POSTSCRIPT_API_KEY": "sk_prof"}
        rt = Runtime(Settings(redis_url=local.url), load_connections(path, env))
        now = datetime.now(timezone.utc)

        def delivery(i: int) -> dict:
            customer = Customer(provider_id=str(i), email=f"c{i}@example.test")
            if args.profiles:
                item = ProfileUpdate(id=f"p{i}", merchant="prof", provider="smile", as_of=now, customer=customer,
                                     properties={"Enrolled in Smile": True, "Smile Points Balance": i})
            else:
                item = Event(id=f"e{i}", merchant="prof", provider="smile", name="Smile Points Earned", occurred_at=now,
                             customer=customer, properties={"Points": 120, "Description": "Placed an order",
                                                            "Transaction ID": 825673452 + i})
            return Delivery(platform="postscript", item=item).to_dict()

        warm = [delivery(100000 + i) for i in range(100)]
        rt.deliverer("prof", "postscript").deliver([Delivery.from_dict(d) for d in warm])
        batches = [[delivery(i) for i in range(b, min(b + 100, args.events))] for b in range(0, args.events, 100)]
        r = redis.Redis.from_url(local.url)
        calls0 = Counter({k: v["calls"] for k, v in r.info("commandstats").items()})

        def run(mine: list[list[dict]]) -> None:
            for batch in mine:
                result = rt.deliverer("prof", "postscript").deliver([Delivery.from_dict(d) for d in batch])
                assert result.delivered + result.skipped == len(batch), result

        half = len(batches) // 2
        c0, t0 = time.process_time(), time.perf_counter()
        prof = None
        if args.threads == 1:  # first half plain (the figures), second half under cProfile (the shares)
            run(batches[:half])
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
            prof = cProfile.Profile(time.process_time)  # CPU time, not time spent waiting on sockets
            prof.enable()
            run(batches[half:])
            prof.disable()
        else:
            ts = [threading.Thread(target=run, args=(batches[i::args.threads],)) for i in range(args.threads)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        if prof is None:
            cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        calls = Counter({k: v["calls"] for k, v in r.info("commandstats").items()}) - calls0
        n = args.events
        timed = sum(len(b) for b in batches[:half]) if prof is not None else n
        kind = "profile updates" if args.profiles else "events"
        print(f"{timed} {kind}, {args.threads} thread(s): {cpu * 1000 / timed:.3f} ms CPU and "
              f"{wall * 1000 / timed:.3f} ms wall per delivery ({timed / wall:.0f}/s on one process)")
        print("redis commands per delivery (Lua-internal ones included):",
              {k.removeprefix("cmdstat_"): round(v / n, 2) for k, v in calls.most_common(10)})
        if prof is not None:
            out = io.StringIO()
            stats = pstats.Stats(prof, stream=out)
            total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]

            def cum(fragment: str, name: str) -> float:
                return max((v[3] for k, v in stats.stats.items() if fragment in k[0] and k[2] == name),  # type: ignore[attr-defined]
                           default=0.0)
            parts = {
                "httpx request (hooks included)": cum("httpx/_client.py", "request"),
                "  of which the limiter hook (Throttle.before)": cum("ratelimit/throttle.py", "before"),
                "ledger claim": cum("state/ledger.py", "claim"),
                "ledger release": cum("state/ledger.py", "release"),
                "ledger mark": cum("state/ledger.py", "mark"),
                "ledger which_exist": cum("state/ledger.py", "which_exist"),
                "subscriber cache get/put": cum("state/subscribers.py", "get") + cum("state/subscribers.py", "put"),
                "profile states get/put": cum("state/profiles.py", "get") + cum("state/profiles.py", "put"),
                "Delivery.id (uuid5, recomputed)": cum("pipeline/types.py", "id"),
                "Delivery.from_dict": cum("pipeline/types.py", "from_dict"),
                "encode_event": cum("encoding/postscript.py", "encode_event"),
                "pauses (get, streak)": cum("state/pauses.py", "get") + cum("state/pauses.py", "streak"),
                "metrics (observe_latency)": cum("observability/metrics.py", "observe_latency"),
            }
            m = n - timed
            print(f"\nshare of the profiled CPU time ({total:.2f}s for {m} deliveries under cProfile, "
                  f"which inflates it; the shares are what matters):")
            for name, secs in parts.items():
                print(f"  {secs / total:6.1%}  {name}")
            stats.sort_stats(os.environ.get("PROF_SORT", "tottime")).print_stats(int(os.environ.get("PROF_N", "18")))
            print("\n".join(out.getvalue().splitlines()[:int(os.environ.get("PROF_N", "18")) + 30]))
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(10)
        local.stop()


if __name__ == "__main__":
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    main()
