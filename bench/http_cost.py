"""Client CPU per POST /api/v2/events against the Postscript simulator (in another process).

    .venv/bin/python bench/http_cost.py [N]

Compares the pipeline's client (``httpx.Client`` with ``json=``, and with pre-encoded
``content=``) with the standard library's ``http.client`` on one keep-alive connection,
sequentially. The simulator runs in a child process so only the client's CPU is counted.
"""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

import httpx  # noqa: E402

from sandbox.localredis import free_port  # noqa: E402

SIM = """
import sys
sys.path.insert(0, {root!r})
from bench.simx import BenchPostscript
sim = BenchPostscript(rate_per_s=None, port={port}).start()
sim.add_shop("sk_x")
print("ready", flush=True)
sys.stdin.read()
"""
BODY = {"type": "Smile_Points_Earned", "email": "customer1.11@example.test", "occurred_at": "2026-01-01 10:00:00.000000",
        "properties": {"Points": 120, "Description": "Placed an order", "Transaction ID": 825673452},
        "external_id": "0b6f6c58-1d1c-5b0e-9d59-4c1f6a4e7f00"}


def timed(name: str, n: int, fn) -> dict[str, float]:
    for _ in range(200):
        fn()
    c0, t0 = os.times(), time.perf_counter()
    for _ in range(n):
        fn()
    dt, c1 = time.perf_counter() - t0, os.times()
    cpu = (c1.user + c1.system) - (c0.user + c0.system)
    out = {"client": name, "req_per_s": round(n / dt), "client_cpu_ms_per_req": round(cpu * 1000 / n, 3)}
    print(json.dumps(out), flush=True)
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    port = free_port()
    sim = subprocess.Popen([sys.executable, "-c", SIM.format(root=str(ROOT), port=port)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True)
    try:
        assert sim.stdout is not None and sim.stdout.readline().strip() == "ready"
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": "Bearer sk_x"})
        raw = json.dumps(BODY, separators=(",", ":")).encode()
        timed("httpx.Client json=", n, lambda: client.post("/api/v2/events", json=BODY).raise_for_status())
        timed("httpx.Client content=", n, lambda: client.post(
            "/api/v2/events", content=raw, headers={"Content-Type": "application/json"}).raise_for_status())
        conn = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"Content-Type": "application/json", "Authorization": "Bearer sk_x"}

        def stdlib() -> None:
            conn.request("POST", "/api/v2/events", body=raw, headers=headers)
            resp = conn.getresponse()
            resp.read()
            assert resp.status == 202
        timed("http.client", n, stdlib)
    finally:
        if sim.stdin:
            sim.stdin.close()
        sim.wait(10)


if __name__ == "__main__":
    main()
