"""The raw ceiling: replay platform requests straight at a simulator or the sink, with no pipeline.

usage: raw.py BASE_URL REQUESTS.jsonl THREADS [WARM_PATH] [--client httpx|http.client]
Each line: {"m": method, "u": path with query, "b": body text or null, "h": headers to send
(authorization, revision, content-type, accept: whatever the pipeline sent)}.
The requests are dealt round robin to THREADS threads, each with its own keep-alive client
(``httpx.Client``, the project's declared client, by default; ``http.client.HTTPConnection`` with
``--client http.client``), which first sends ``GET WARM_PATH`` (default /api/v2/me) with its first
request's headers so the connection is open before the clock starts.
Prints one JSON line: n, secs (first request to last answer), statuses, client CPU seconds.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

Send = Callable[[str, str, Any, dict[str, str]], int]


def _httpx(base: str) -> tuple[Send, Callable[[], None]]:
    client = httpx.Client(base_url=base, timeout=10.0)

    def send(method: str, url: str, body: Any, headers: dict[str, str]) -> int:
        return client.request(method, url, content=body, headers=headers).status_code

    return send, client.close


def _stdlib(base: str) -> tuple[Send, Callable[[], None]]:
    parts = urlsplit(base)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=10.0)
    prefix = parts.path.rstrip("/")

    def send(method: str, url: str, body: Any, headers: dict[str, str]) -> int:
        conn.request(method, prefix + url, body=body.encode() if isinstance(body, str) else body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status

    return send, conn.close


CLIENTS = {"httpx": _httpx, "http.client": _stdlib}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("path")
    ap.add_argument("threads", type=int)
    ap.add_argument("warm", nargs="?", default="/api/v2/me")
    ap.add_argument("--client", choices=sorted(CLIENTS), default="httpx")
    args = ap.parse_args()
    threads = args.threads
    with open(args.path) as f:
        reqs = [json.loads(line) for line in f]
    shares = [reqs[i::threads] for i in range(threads)]
    statuses: list[Counter[int]] = [Counter() for _ in range(threads)]
    start = threading.Barrier(threads + 1)

    def run(i: int) -> None:
        send, close = CLIENTS[args.client](args.base)
        try:
            if shares[i]:
                send("GET", args.warm, None, {k: v for k, v in shares[i][0]["h"].items() if k != "content-type"})
            start.wait()
            for r in shares[i]:
                statuses[i][send(r["m"], r["u"], r["b"], r["h"])] += 1
        finally:
            close()

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
    print(
        json.dumps(
            {
                "n": len(reqs),
                "threads": threads,
                "client": args.client,
                "secs": secs,
                "statuses": dict(total),
                "client_cpu_s": (c1.user + c1.system) - (c0.user + c0.system),
            }
        )
    )


if __name__ == "__main__":
    main()
