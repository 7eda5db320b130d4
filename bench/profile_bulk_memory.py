"""Memory of ``loyalty-pipeline sync initial`` as the number of customers grows (tracemalloc).

    .venv/bin/python bench/profile_bulk_memory.py [--stub-enqueue] [--no-trace] [CUSTOMERS ...]   (default: 5000 20000)

Smile is read at its documented 10 rps (the connection sets no rate), as in bench/run.py.

For each size: a private redis-server, the Smile simulator seeded with that many customers in a
child process, and the ``sync initial`` command run in this process under tracemalloc (no
workers: the command only pages Smile and enqueues the bulk deliveries). Prints peak RSS,
traced memory still held when the command returns, and the allocation sites that grew most.
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import tempfile
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

SIM = """
import sys
sys.path.insert(0, {root!r})
from sandbox.sim import PostscriptSimulator, SmileSimulator
from sandbox.sim.seed import seed_demo
smile = SmileSimulator(rate_per_s=None, port={port}).start()
account = smile.add_account("smile_mem")
seed_demo(account, PostscriptSimulator().add_shop("sk_unused"), customers={n}, transactions=0, seed=3)
print("ready", flush=True)
sys.stdin.read()
"""

CHILD = """
import os, sys, tracemalloc, gc
sys.path.insert(0, {root!r})
if {trace!r}:
    tracemalloc.start(12)
from workers.cli import main
if {stub!r}:  # enqueue nothing: is the growth in paging/mapping or in Celery's publishing?
    from workers.tasks.deliver import deliver_batch
    deliver_batch.apply_async = lambda *a, **k: None
gc.collect()
before = tracemalloc.take_snapshot() if {trace!r} else None
try:
    main(["sync", "initial", "--connection", "mem"], standalone_mode=False)
except SystemExit:
    pass
gc.collect()
after = tracemalloc.take_snapshot() if {trace!r} else None
current, peak = tracemalloc.get_traced_memory() if {trace!r} else (0, 0)
status = {{l.split(":")[0]: int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("Vm")}}
print(f"RESULT customers={n} enqueue={{'stubbed' if {stub!r} else 'celery'}} vmhwm_mib={{status['VmHWM'] / 1024:.1f}} "
      f"vmrss_at_end_mib={{status['VmRSS'] / 1024:.1f}} traced_now_mib={{current / 2**20:.1f}} "
      f"traced_peak_mib={{peak / 2**20:.1f}}")
stats = after.compare_to(before, "traceback") if {trace!r} else []
for s in stats[:3]:
    print(f"--- +{{s.size_diff / 2**20:.1f}} MiB in {{s.count_diff}} blocks, allocated at:")
    for line in s.traceback.format()[-24:]:
        print("   ", line)
"""


def run(n: int, stub: bool = False, trace: bool = True) -> None:
    from sandbox.localredis import free_port, start_redis_server

    local = start_redis_server()
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-c", SIM.format(root=str(ROOT), port=port, n=n)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None and sim.stdout.readline().strip() == "ready"
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "connections.toml"
            path.write_text(f'[merchants.mem.provider]\nkind = "smile"\nbase_url = "http://127.0.0.1:{port}/v1"\n'
                            f'credential_env = "MEM_SMILE_API_KEY"\n\n[[merchants.mem.platforms]]\n'
                            f'kind = "postscript"\nbase_url = "http://127.0.0.1:9"\ncredential_env = "MEM_PS_KEY"\n')
            env = {**os.environ, "REDIS_URL": local.url, "CONNECTIONS_FILE": str(path), "MEM_SMILE_API_KEY": "smile_mem",
                   "MEM_PS_KEY": "sk_unused", "LOG_LEVEL": "WARNING"}
            out = subprocess.run([sys.executable, "-c", CHILD.format(root=str(ROOT), n=n, stub=stub, trace=trace)], env=env, cwd=ROOT,
                                 capture_output=True, text=True, timeout=1200)
            print("\n".join(line for line in out.stdout.splitlines()), flush=True)
            if out.returncode:
                print(out.stderr[-3000:])
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(10)
        local.stop()


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    for size in [int(a) for a in args] or [5000, 20000]:
        run(size, stub="--stub-enqueue" in sys.argv, trace="--no-trace" not in sys.argv)
