"""A small loopback HTTP/1.1 JSON server base for the provider/destination simulators.

Standard library only. Requests are routed by (method, regex path) to handler callables; every
request is recorded; a per-token limiter and fault modes (``fail_next``, ``slow_next``, ``on_page``
hooks, ``duplicate_across_pages``) let tests provoke 429s, 5xx, timeouts and paging races.
"""

from __future__ import annotations

import json
import re
import socket
import socketserver
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Self
from urllib.parse import parse_qs, urlsplit

from sandbox.sim.limiters import TokenBucket, WindowLimiter

__all__ = [
    "HttpError", "PageHook", "RecordedRequest", "Request", "Response", "SimServer", "TokenBucket",
    "WindowLimiter", "iso_ms", "json_response", "parse_iso", "parse_json_body", "utc_now",
]

NowFn = Callable[[], datetime]
Handler = Callable[["Request"], "Response"]
PageHook = Callable[["Request", list[Any]], None]  # (request, records about to be sent)


def utc_now() -> datetime:
    """The current UTC time, timezone-aware."""
    return datetime.now(timezone.utc)


def iso_ms(dt: datetime) -> str:
    """Format as ISO-8601 UTC with milliseconds and ``Z``: ``2024-12-07T20:15:27.893Z``."""
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_iso(value: str) -> datetime:
    """Parse an ISO-8601 timestamp (``Z`` or offset; naive means UTC). Raises ValueError."""
    dt = datetime.fromisoformat(value)
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it, with the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        """The body decoded as JSON."""
        return json.loads(self.body)


@dataclass
class Request:
    """A parsed incoming request handed to route handlers."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named regex groups of the route
    ctx: Any = None  # set by ``authenticate`` (account, shop, ...)

    def arg(self, name: str) -> str | None:
        """The first value of query parameter ``name``, or None."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class Response:
    """A status, a body and extra headers (Content-Type/Length are added by the server)."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(status: int, obj: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return Response(status, json.dumps(obj, separators=(",", ":")).encode(), dict(headers or {}))


class HttpError(Exception):
    """Raise from a handler to answer an error; the server shapes the body (``error_response``)."""

    def __init__(
        self, status: int, message: str, *, code: str | int | None = None,
        field: str | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code if code is not None else HTTPStatus(status).phrase.lower().replace(" ", "_")
        self.field = field
        self.headers = dict(headers or {})


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    sim: SimServer

    def server_bind(self) -> None:  # skip HTTPServer's reverse DNS lookup (getfqdn)
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        sim = self.server.sim
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self.send_error(400, "bad request body")
            return
        parts = urlsplit(self.path)
        req = Request(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        resp = sim.handle(req)
        sim._record(req, resp.status)
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        if resp.body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(resp.body)))
        try:
            self.end_headers()
            if self.command != "HEAD" and resp.body:
                self.wfile.write(resp.body)
        except ConnectionError:  # the client gave up (e.g. timed out on a slow_next response)
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve


class SimServer:
    """Base simulator: binds 127.0.0.1:``port`` (0 = any free port), serves in a daemon thread.

    Subclasses register routes with ``route`` and may override ``authenticate``, ``rate_key``,
    ``error_response`` and ``rate_limited_error``. Thread-safe: one lock (``self.lock``) guards
    all simulator state; ``requests`` records every request with the status it got. List
    handlers call ``page_built``; ``duplicate_across_pages`` makes them repeat the previous
    page's last record first (where the pagination style allows it).
    """

    def __init__(
        self, port: int = 0, *, rate_per_s: float | None = None, now: NowFn | None = None,
        monotonic: Callable[[], float] = time.monotonic, duplicate_across_pages: bool = False,
    ) -> None:
        self.port = port
        self.now: NowFn = now or utc_now
        self.limiter: WindowLimiter | TokenBucket | None = WindowLimiter(rate_per_s, monotonic) if rate_per_s else None
        self.duplicate_across_pages = duplicate_across_pages
        self._slow: list[tuple[float, str | None]] = []
        self._page_hooks: list[PageHook] = []
        self.lock = threading.RLock()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of handler crashes (answered 500)
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._faults: list[tuple[int, str | None]] = []
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Bind and serve in a daemon thread; returns self."""
        if self._httpd is None:
            httpd = _HTTPServer(("127.0.0.1", self.port), _RequestHandler)
            httpd.sim = self
            self.port = httpd.server_address[1]
            self._httpd = httpd
            self._thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.02},
                name=f"{type(self).__name__}:{self.port}", daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and drop open keep-alive connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self.lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (only once started)."""
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, n: int, status: int, *, path_prefix: str | None = None) -> None:
        """Answer the next ``n`` requests (optionally only those under ``path_prefix``) with ``status``."""
        with self.lock:
            self._faults.extend([(status, path_prefix)] * n)

    def slow_next(self, n: int, seconds: float, *, path_prefix: str | None = None) -> None:
        """Delay the next ``n`` responses (optionally only those under ``path_prefix``) by ``seconds``."""
        with self.lock:
            self._slow.extend([(seconds, path_prefix)] * n)

    def on_page(self, callback: PageHook | None) -> PageHook | None:
        """Call ``callback(request, page)`` after each list page is built, before it is sent.

        The page is the list of records about to be serialized (hooks may insert records into
        the store, or edit the page). ``None`` removes every hook. Returns ``callback``.
        """
        with self.lock:
            if callback is None:
                self._page_hooks.clear()
            else:
                self._page_hooks.append(callback)
        return callback

    def page_built(self, req: Request, page: list[Any]) -> None:
        """Run the ``on_page`` hooks (list handlers call this, outside ``self.lock``)."""
        for hook in list(self._page_hooks):
            hook(req, page)

    def clear_requests(self) -> None:
        """Forget recorded requests."""
        with self.lock:
            self.requests.clear()

    # -- routing & dispatch ------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        """Register ``handler`` for ``method`` on paths fully matching ``pattern``."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def handle(self, req: Request) -> Response:
        """Answer one request: faults, routing (404/405), auth, rate limit, handler."""
        try:
            delay = self._take(self._slow, req.path)
            if delay:
                time.sleep(delay)
            fault = self._take(self._faults, req.path)
            if fault is not None:
                return self.error_response(HttpError(fault, f"simulated {fault} failure"))
            handler = self._resolve(req)
            req.ctx = self.authenticate(req)
            key = self.rate_key(req)
            if key is not None and self.limiter is not None and not self.limiter.allow(key):
                return self.error_response(self.rate_limited_error())
            return handler(req)
        except HttpError as exc:
            return self.error_response(exc)
        except Exception:  # noqa: BLE001 - a simulator bug: answer 500 and keep it for tests
            with self.lock:
                self.errors.append(traceback.format_exc())
            return self.error_response(HttpError(500, "internal simulator error"))

    def _resolve(self, req: Request) -> Handler:
        allowed: list[str] = []
        for method, pattern, handler in self._routes:
            m = pattern.fullmatch(req.path)
            if m is None:
                continue
            if method == req.method:
                req.params = m.groupdict()
                return handler
            allowed.append(method)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            raise HttpError(405, f"method {req.method} not allowed; allowed: {allow}", headers={"Allow": allow})
        raise HttpError(404, f"no route for {req.path}")

    def _take(self, queue: list[tuple[Any, str | None]], path: str) -> Any:
        with self.lock:
            for i, (value, prefix) in enumerate(queue):
                if prefix is None or path.startswith(prefix):
                    del queue[i]
                    return value
        return None

    # -- overridable hooks -------------------------------------------------------------------
    def authenticate(self, req: Request) -> Any:
        """Return the auth context for ``req`` or raise HttpError(401). Default: no auth."""
        return None

    def rate_key(self, req: Request) -> str | None:
        """The token the limiter counts this request against (None = not limited)."""
        return None

    def rate_limited_error(self) -> HttpError:
        """The error answered when over the rate limit."""
        return HttpError(429, "rate limit exceeded")

    def error_response(self, exc: HttpError) -> Response:
        """Shape an error body; subclasses mimic their API's envelope."""
        return json_response(exc.status, {"error": {"code": exc.code, "message": exc.message}}, exc.headers)

    def _record(self, req: Request, status: int) -> None:
        rec = RecordedRequest(req.method, req.path, req.query, req.headers, req.body, status)
        with self.lock:
            self.requests.append(rec)

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self.lock:
            (self._conns.add if add else self._conns.discard)(conn)


def parse_json_body(req: Request, *, require_content_type: bool = True) -> Any:
    """Decode ``req.body`` as strict JSON (no NaN/Infinity); HttpError(400) otherwise."""
    ctype = req.headers.get("content-type", "")
    if require_content_type and ctype.split(";")[0].strip().lower() != "application/json":
        raise HttpError(400, f"Content-Type must be application/json, got {ctype!r}", field="Content-Type")

    def _bad_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        return json.loads(req.body.decode("utf-8"), parse_constant=_bad_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise HttpError(400, f"body is not valid JSON: {exc}", field="body") from None
