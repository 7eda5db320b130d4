"""A fast loopback platform endpoint for the throughput sections (a bench instrument, not library code).

    .venv/bin/python bench/sink.py [--port 0] [--latency-ms 100] [--postscript-rate-per-s 15]
                                   [--attentive-rate-per-s 150]

One asyncio process (its CPU is read apart from the workers'), HTTP/1.1 keep-alive, built on
``asyncio.Protocol`` with no dependency. Every answer leaves ``--latency-ms`` after its request
arrived, 429s included: answers wait in one queue released by a single ``loop.call_at`` timer on
1 ms ticks (no sleeping thread, no timer per request; at most 1 ms late; a connection's answers keep
their order). What is answered is in bench/sinkapp.py. Prints one JSON line ``{"port": N, "pid": P}``
on stdout when it listens.

Served, with the documented answer shapes (the stdlib simulators sandbox/sim/postscript.py and
sandbox/sim/attentive.py serve the same endpoints; tests/bench/test_sink.py holds both to the specs):

* Postscript Partner API v2 (../shared/specs/postscript/postscript-partner-api-openapi.yml):
  ``POST /api/v2/events`` 202 ``{"event_ids": [id]}``; ``GET /api/v2/subscribers?email__eq=|phone_number__eq=``
  200 ``{"page_info": {"page", "total_pages"}, "subscribers": [subscriber]}``, one synthetic subscriber per
  identifier (its id derived from it, so every customer is a subscriber); ``GET|PATCH /api/v2/subscribers/{id}``
  200 subscriber; ``POST /api/v2/subscribers`` 201 ``{"subscriber_id", "is_pending": true}``
  (developers.postscript.io/reference/create-subscriber); ``GET /api/v2/me`` 200. Errors in Postscript's
  ``{"error_code", "error_message", "success": false}`` envelope, as the simulator answers them.
  Rate limit: ``--postscript-rate-per-s`` (15, Postscript's documented limit) per shop key in fixed
  one-second windows opened by a key's first request, refused requests counted (sandbox/sim/limiters.py).
* Attentive API v1 (../shared/specs/attentive/attentive-v1-openapi.yaml, server ``/v1``):
  ``POST /v1/events/custom`` and ``POST /v1/attributes/custom`` 200 "Ok" (no body); ``GET /v1/me`` 200
  ``GetMeResponseDto``; v2 (attentive-v2-openapi.yaml) ``POST /v2/bulk/user/attributes`` 202. Rate limit
  ``--attentive-rate-per-s`` (150) per token, refused requests not counted, ``x-ratelimit-limit`` /
  ``x-ratelimit-remaining`` on every answer; errors ``{"error": {"id", "message"}}``.

Bodies are checked only as far as cheap (a JSON object with an event ``type`` and a user); nothing is
stored but counts. Control, on the same port: ``GET /_sink/stats`` (per key label: requests, 2xx, 429,
other, events, duplicate event ids; per path; 2xx and 429 per wall-clock second of the answer; the
sink's own CPU), ``POST /_sink/reset``, ``POST /_sink/config`` with any of ``latency_ms``,
``postscript_rate_per_s``, ``attentive_rate_per_s`` (0 = no limit). Keys appear only as ``key_label(key)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import re
import sys
import time
from collections import deque
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1])]

from bench.sinkapp import REASONS, Sink, key_label  # noqa: E402

__all__ = ["HttpProtocol", "Releaser", "Sink", "key_label", "main", "serve"]

MAX_HEADER_BYTES = 65536
HEADERS = re.compile(rb"\r\n(content-length|authorization|connection|transfer-encoding)[ \t]*:([^\r]*)", re.I)
TICK_S = 0.001  # answers are released on 1 ms boundaries: at most 1 ms after their latency


class Releaser:
    """Answers wait here until due, in one queue for every connection: the latency is the same for
    all, so arrival order is due order (a later, shorter latency waits behind earlier answers: never
    early). One timer at a time, on ``TICK_S`` boundaries, releases every answer due by then."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sink: Sink) -> None:
        self.loop = loop
        self.sink = sink
        self.queue: deque[tuple[float, HttpProtocol, bytes, bool]] = deque()
        self.armed = False

    def add(self, due: float, proto: HttpProtocol, data: bytes, close: bool) -> None:
        self.queue.append((due, proto, data, close))
        if not self.armed:
            self._arm(due)

    def _arm(self, due: float) -> None:
        self.armed = True
        self.loop.call_at(math.ceil(due / TICK_S) * TICK_S, self.release)

    def release(self) -> None:
        self.armed = False
        now = self.loop.time() + 1e-6
        q = self.queue
        while q and q[0][0] <= now:
            _, proto, data, close = q.popleft()
            proto.write(data, close)
        if q:
            self._arm(q[0][0])


class HttpProtocol(asyncio.Protocol):
    """HTTP/1.1, keep-alive, Content-Length bodies (no chunked requests: 411); answers in order."""

    def __init__(self, sink: Sink, releaser: Releaser) -> None:
        self.sink = sink
        self.releaser = releaser
        self.loop = releaser.loop
        self.buf = bytearray()
        self.waiting = 0  # answers of this connection in the releaser
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.sink.stats.connections += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.stats.connections -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while self.transport is not None:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > MAX_HEADER_BYTES:
                    self.transport.close()
                return
            line_end = self.buf.find(b"\r\n", 0, end)
            try:
                method, target, version = self.buf[: end if line_end < 0 else line_end].decode("latin-1").split(" ", 2)
            except ValueError:
                self.transport.close()
                return
            # only the headers the sink reads, found by one regex over the header block
            headers = {
                k.lower().decode(): v.decode("latin-1").strip() for k, v in HEADERS.findall(self.buf, 0, end + 2)
            }
            if "chunked" in headers.get("transfer-encoding", "").lower():
                self._send(411, b"", [], close=True)
                return
            size = int(headers.get("content-length") or 0)
            if len(self.buf) < end + 4 + size:
                return
            body = bytes(self.buf[end + 4 : end + 4 + size])
            del self.buf[: end + 4 + size]
            close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
            status, out, extra = self.sink.handle(method, target, headers, body, self.loop.time(), time.time())
            self._send(status, out, extra, close)

    def _send(self, status: int, body: bytes, extra: list[tuple[str, str]], close: bool) -> None:
        head = f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\nContent-Length: {len(body)}\r\n"
        if body:
            head += "Content-Type: application/json\r\n"
        for name, value in extra:
            head += f"{name}: {value}\r\n"
        if close:
            head += "Connection: close\r\n"
        data = head.encode() + b"\r\n" + body
        self.sink.stats.flight(1)
        delay = self.sink.latency_s
        if delay <= 0 and not self.waiting:
            self.write(data, close, queued=False)
            return
        self.waiting += 1
        self.releaser.add(self.loop.time() + delay, self, data, close)

    def write(self, data: bytes, close: bool, *, queued: bool = True) -> None:
        self.sink.stats.flight(-1)
        self.waiting -= queued
        if self.transport is None or self.transport.is_closing():
            return
        self.transport.write(data)
        if close:
            self.transport.close()


async def serve(sink: Sink, host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    releaser = Releaser(loop, sink)
    server = await loop.create_server(
        lambda: HttpProtocol(sink, releaser), host, port, backlog=4096, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(json.dumps({"port": bound, "pid": os.getpid()}), flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port (printed on stdout)")
    ap.add_argument("--latency-ms", type=float, default=0.0, help="delay of every answer")
    ap.add_argument("--postscript-rate-per-s", type=float, default=15, help="per shop key; 0 = no limit")
    ap.add_argument("--attentive-rate-per-s", type=float, default=150, help="per token; 0 = no limit")
    ap.add_argument(
        "--loop",
        choices=("asyncio", "uvloop"),
        default="asyncio",
        help="event loop (uvloop only if installed: it is not a project dependency)",
    )
    args = ap.parse_args(argv)
    sink = Sink(args.latency_ms, args.postscript_rate_per_s, args.attentive_rate_per_s)
    with contextlib.suppress(KeyboardInterrupt):
        if args.loop == "uvloop":
            import uvloop  # type: ignore[import-not-found]

            uvloop.run(serve(sink, args.host, args.port))
        else:
            asyncio.run(serve(sink, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
