"""A lean HTTP/1.1 client for the pipeline's own requests: the subset of ``httpx.Client`` the
adapters and providers call (``request``/``get``/``post``/``patch``), answering real
``httpx.Response`` objects and raising httpx's exception types, so the error policy
(pipeline/http/policy.py), the adapters and their tests are unchanged.

Why not ``httpx.Client``: the pipeline sends one request per event to Postscript and
Attentive, so the client's CPU is per-event CPU. Measured side by side on this machine
(bench/http_cost.py, POST /api/v2/events, keep-alive, loopback): ``httpx.Client`` on our
``KeepAliveTransport`` 0.94 ms of client CPU per request, bare ``http.client`` 0.32 ms, this
client 0.08 ms. httpx's cost is its request model (URL parsing, header merging, cookies,
hooks); ``http.client``'s is its header parser (``email.parser``). This client writes the
request in one ``sendall`` from pre-encoded header bytes and parses the status line, the
headers and a ``Content-Length`` or chunked body itself. ``build_client`` still gives an
``httpx.Client`` when a transport is injected (tests) or a proxy is configured.

Connections are kept per origin in a ``ConnectionPool`` shared by every client of a process
(all merchants of one platform share ``api.postscript.io``), so a process holds at most as
many sockets as it has requests in flight, whatever the number of merchants. A pooled
connection is reused only if the server has not closed it (nothing to read while idle, as
httpcore checks), so a request is never written to a connection the server dropped.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import select
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

__all__ = ["ConnectionPool", "LeanClient", "MAX_HEADER_BYTES"]

#: An answer whose status line and headers exceed this is refused (a broken or hostile server).
MAX_HEADER_BYTES = 64 * 1024
_CHUNK = 65536
Origin = tuple[str, str, int]  # (scheme, host, port)


class _Connection:
    __slots__ = ("buf", "origin", "sock")

    def __init__(self, origin: Origin, sock: socket.socket) -> None:
        self.origin = origin
        self.sock = sock
        self.buf = bytearray()

    def idle_and_open(self) -> bool:
        try:
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable and not self.buf  # an idle keep-alive socket has nothing to read

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class ConnectionPool:
    """Idle keep-alive connections per origin (last in, first out), shared by threads."""

    def __init__(self, *, max_idle_per_origin: int = 512, ssl_context: ssl.SSLContext | None = None) -> None:
        self._idle: dict[Origin, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._max_idle = max_idle_per_origin
        self._ssl = ssl_context  # made on first https use (loading the CA store costs ~10 ms)

    def checkout(self, origin: Origin, timeout_s: float | None) -> tuple[_Connection, bool]:
        """A connection to ``origin`` and whether it was reused (a new one is connected here)."""
        while True:
            with self._lock:
                idle = self._idle.get(origin)
                conn = idle.pop() if idle else None
            if conn is None:
                break
            if conn.idle_and_open():
                conn.sock.settimeout(timeout_s)
                return conn, True
            conn.close()  # the server closed it meanwhile
        scheme, host, port = origin
        try:
            sock = socket.create_connection((host, port), timeout=timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                sock = self._ssl.wrap_socket(sock, server_hostname=host)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "timed out") from None
        except (OSError, ssl.SSLError) as exc:
            raise httpx.ConnectError(f"{type(exc).__name__}: {exc}") from None
        return _Connection(origin, sock), False

    def checkin(self, conn: _Connection) -> None:
        with self._lock:
            idle = self._idle.setdefault(conn.origin, [])
            if len(idle) < self._max_idle:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            conns = [c for idle in self._idle.values() for c in idle]
            self._idle.clear()
        for conn in conns:
            conn.close()


def _text(value: Any) -> str:
    """A query value as httpx writes it (JSON-style booleans, None as empty)."""
    return "true" if value is True else "false" if value is False else "" if value is None else str(value)


class LeanClient:
    """One account's client: base URL, default headers (credential included), timeout, hooks.

    Args:
        before_request: called with (method, path) before every request, e.g. the limiter's wait.
        after_response: called with (path, response) after every response, e.g. to learn from a 429.
    """

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        timeout_s: float,
        pool: ConnectionPool,
        before_request: Callable[[str, str], None] | None = None,
        after_response: Callable[[str, httpx.Response], None] | None = None,
    ) -> None:
        base = urlsplit(base_url)
        if base.scheme not in ("http", "https") or not base.hostname:
            raise ValueError(f"base_url must be an absolute http(s) URL, got {base.scheme or '?'}://")
        self._origin: Origin = (base.scheme, base.hostname, base.port or (443 if base.scheme == "https" else 80))
        self._host = base.netloc.rpartition("@")[2]
        self._base_path = base.path.rstrip("/")
        self._headers = {**headers, "Accept-Encoding": "identity"}  # the body is never decompressed
        self._lower = {k.lower() for k in self._headers}
        self._block = "".join(f"{k}: {v}\r\n" for k, v in self._headers.items())
        self._timeout_s = timeout_s
        self._pool = pool
        self._before = before_request
        self._after = after_response

    # -- the httpx.Client surface the pipeline uses ----------------------------------------------

    def get(
        self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.request("GET", url, params=params, headers=headers)

    def post(self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None) -> httpx.Response:
        return self.request("POST", url, json=json, headers=headers)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        origin, host, target = self._target(url, params)
        block = self._block if origin == self._origin else ""
        extra: dict[str, str] = dict(headers or {})
        if json is not None:
            content = jsonlib.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
            extra.setdefault("Content-Type", "application/json")
        if extra and self._lower & {k.lower() for k in extra}:  # a default header overridden
            merged = {k: v for k, v in self._headers.items() if k.lower() not in {e.lower() for e in extra}}
            block = "".join(f"{k}: {v}\r\n" for k, v in merged.items()) if origin == self._origin else ""
        head = f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n{block}"
        head += "".join(f"{k}: {v}\r\n" for k, v in extra.items())
        if content is not None or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(content or b'')}\r\n"
        path = target.partition("?")[0]
        if self._before is not None:
            self._before(method, path)
        response = self._exchange(origin, head.encode("latin-1") + b"\r\n" + (content or b""), method)
        if self._after is not None:
            self._after(path, response)
        return response

    def close(self) -> None:
        """Connections belong to the shared pool; nothing of this client's to close."""

    # -- internals ---------------------------------------------------------------------------------

    def _target(self, url: str, params: Mapping[str, Any] | None) -> tuple[Origin, str, str]:
        if url.startswith(("http://", "https://")):  # an absolute link (e.g. a "next" page)
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            origin: Origin = (parts.scheme, parts.hostname or "", port)
            host = parts.netloc.rpartition("@")[2]
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        else:
            origin, host = self._origin, self._host
            target = f"{self._base_path}/{url.lstrip('/')}" if url else self._base_path or "/"
        if params is not None:  # as httpx does: ``params`` replace the URL's own query
            query = urlencode(
                [(k, _text(v)) for k, vs in params.items() for v in (vs if isinstance(vs, list | tuple) else [vs])]
            )
            target = target.partition("?")[0] + (f"?{query}" if query else "")
        return origin, host, target

    def _exchange(self, origin: Origin, raw: bytes, method: str) -> httpx.Response:
        conn, reused = self._pool.checkout(origin, self._timeout_s)
        try:
            conn.sock.sendall(raw)
            status, headers, keep = _read_head(conn)
            body = b"" if method == "HEAD" or status in (204, 304) else _read_body(conn, headers, keep)
        except TimeoutError as exc:
            conn.close()
            raise httpx.ReadTimeout(str(exc) or "timed out") from None
        except (OSError, ValueError, _Closed) as exc:
            conn.close()
            if isinstance(exc, _Closed) and reused:
                raise httpx.RemoteProtocolError("the server closed a kept-alive connection") from None
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from None
        framed = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
        if keep and (framed or method == "HEAD" or status in (204, 304)):
            self._pool.checkin(conn)
        else:
            conn.close()
        return httpx.Response(status, headers=list(_pairs(headers)), content=body)


class _Closed(Exception):
    """The server closed the connection before a whole answer arrived."""


def _pairs(headers: dict[str, str]) -> Iterable[tuple[str, str]]:
    return ((k, v) for k, v in headers.items() if k not in ("transfer-encoding", "content-encoding"))


def _fill(conn: _Connection) -> None:
    chunk = conn.sock.recv(_CHUNK)
    if not chunk:
        raise _Closed()
    conn.buf += chunk


def _read_head(conn: _Connection) -> tuple[int, dict[str, str], bool]:
    """Status, headers (lower-case names; repeated ones joined with ", ") and keep-alive, after
    any 1xx interim answers."""
    while True:
        while (end := conn.buf.find(b"\r\n\r\n")) < 0:
            if len(conn.buf) > MAX_HEADER_BYTES:
                raise ValueError(f"answer headers exceed {MAX_HEADER_BYTES} bytes")
            _fill(conn)
        head = bytes(conn.buf[:end]).decode("latin-1")
        del conn.buf[: end + 4]
        line, *lines = head.split("\r\n")
        version, _, rest = line.partition(" ")
        if not version.startswith("HTTP/1.") or not rest[:3].isdigit():
            raise ValueError(f"not an HTTP/1.x status line: {line[:40]!r}")
        status = int(rest[:3])
        if 100 <= status < 200:
            continue  # 100 Continue and other interim answers
        headers: dict[str, str] = {}
        for h in lines:
            name, sep, value = h.partition(":")
            if not sep:
                raise ValueError(f"malformed header line: {h[:40]!r}")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        connection = headers.get("connection", "").lower()
        keep = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
        return status, headers, keep


def _read_body(conn: _Connection, headers: dict[str, str], keep: bool) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return _read_chunked(conn)
    if (length := headers.get("content-length")) is not None:
        if not length.isdigit():
            raise ValueError(f"bad Content-Length {length[:20]!r}")
        n = int(length)
        while len(conn.buf) < n:
            _fill(conn)
        body = bytes(conn.buf[:n])
        del conn.buf[:n]
        return body
    while True:  # neither: the body runs until the server closes
        try:
            _fill(conn)
        except _Closed:
            body = bytes(conn.buf)
            conn.buf.clear()
            return body


def _read_chunked(conn: _Connection) -> bytes:
    out = bytearray()
    while True:
        while (eol := conn.buf.find(b"\r\n")) < 0:
            _fill(conn)
        size_text = bytes(conn.buf[:eol]).split(b";")[0].strip()
        size = int(size_text, 16)  # ValueError on garbage: a protocol error
        del conn.buf[: eol + 2]
        if size == 0:
            while (end := conn.buf.find(b"\r\n")) != 0:  # trailers, then the blank line
                if end > 0:
                    del conn.buf[: end + 2]
                else:
                    _fill(conn)
            del conn.buf[:2]
            return bytes(out)
        while len(conn.buf) < size + 2:
            _fill(conn)
        out += conn.buf[:size]
        del conn.buf[: size + 2]
