"""The raw ceiling: replay recorded Postscript requests straight at the simulator with httpx.Client.

usage: raw.py BASE_URL REQUESTS.jsonl THREADS
Each line: {"m": method, "u": path with query, "b": body text or null, "k": shop key}.
The requests are dealt round robin to THREADS threads, each with its own keep-alive client.
Prints one JSON line: n, secs (first request to last answer), statuses, client CPU seconds.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter

import httpx


def main() -> None:
    base, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(path) as f:
        reqs = [json.loads(line) for line in f]
    shares = [reqs[i::threads] for i in range(threads)]
    statuses: list[Counter[int]] = [Counter() for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def run(i: int) -> None:
        with httpx.Client(base_url=base, timeout=10.0) as client:
            client.get("/api/v2/me", headers={"Authorization": f"Bearer {shares[i][0]['k']}"}) if shares[i] else None
            start.wait()
            for r in shares[i]:
                headers = {"Authorization": f"Bearer {r['k']}"}
                if r["b"] is not None:
                    headers["Content-Type"] = "application/json"
                resp = client.request(r["m"], r["u"], content=r["b"], headers=headers)
                statuses[i][resp.status_code] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    c0, t0 = os.times(), time.perf_counter()
    for w in workers:
        w.join()
    secs = time.perf_counter() - t0
    c1 = os.times()
    total: Counter[int] = Counter()
    for s in statuses:
        total.update(s)
    print(json.dumps({"n": len(reqs), "threads": threads, "secs": secs, "statuses": dict(total),
                      "client_cpu_s": (c1.user + c1.system) - (c0.user + c0.system)}))


if __name__ == "__main__":
    main()
