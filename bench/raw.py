"""The raw ceiling: replay recorded platform requests straight at the simulator with httpx.Client.

usage: raw.py BASE_URL REQUESTS.jsonl THREADS [WARM_PATH]
Each line: {"m": method, "u": path with query, "b": body text or null, "h": headers to send
(authorization, revision, content-type, accept: whatever the pipeline sent)}.
The requests are dealt round robin to THREADS threads, each with its own keep-alive client,
which first sends ``GET WARM_PATH`` (default /api/v2/me) with its first request's headers so the
connection is open before the clock starts.
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
    warm = sys.argv[4] if len(sys.argv) > 4 else "/api/v2/me"
    with open(path) as f:
        reqs = [json.loads(line) for line in f]
    shares = [reqs[i::threads] for i in range(threads)]
    statuses: list[Counter[int]] = [Counter() for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def run(i: int) -> None:
        with httpx.Client(base_url=base, timeout=10.0) as client:
            if shares[i]:
                client.get(warm, headers={k: v for k, v in shares[i][0]["h"].items() if k != "content-type"})
            start.wait()
            for r in shares[i]:
                resp = client.request(r["m"], r["u"], content=r["b"], headers=r["h"])
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
