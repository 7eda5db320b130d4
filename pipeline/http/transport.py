"""An httpx transport on the standard library's ``http.client``: one keep-alive connection per
thread and origin.

Measured on this machine (bench/http_cost.py, POST /api/v2/events to the simulator in another
process): httpx's default transport costs about 1.0 ms of client CPU per request, this one
about 0.7 ms (httpx's own models and hooks are most of the rest; bare ``http.client`` 0.2 ms).
The pipeline sends one request per event to Postscript and Attentive, so this is per-event
CPU. The httpx API (hooks, timeouts, ``Response``) and its exception types are kept, so
callers, the limiter hooks and the error policy do not change.

A connection is reused only if the server has not closed it (the socket is not readable while
idle, as httpcore checks), so a request is never written to a connection the server dropped.

With ``proxy`` (an ``http://[user:password@]host:port`` URL; ``build_client`` mounts one per
proxy variable, pipeline/http/proxy.py), plain-http requests go to the proxy in absolute form
and https requests through a CONNECT tunnel (TLS end to end with the origin), as httpx does.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import threading
from base64 import b64encode
from urllib.parse import unquote

import httpx

__all__ = ["KeepAliveTransport"]


def _idle_and_open(conn: http.client.HTTPConnection) -> bool:
    sock = conn.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable  # an idle keep-alive socket has nothing to read unless it was closed


class KeepAliveTransport(httpx.BaseTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext | None = None, proxy: str | None = None) -> None:
        self._proxy: httpx.URL | None = None
        self._proxy_headers: dict[str, str] = {}
        if proxy is not None:
            self._proxy = httpx.URL(proxy)
            if self._proxy.scheme != "http":
                raise ValueError(f"only http:// proxies are supported, got {self._proxy.scheme}://")
            if self._proxy.username or self._proxy.password:
                token = f"{unquote(self._proxy.username)}:{unquote(self._proxy.password or '')}".encode()
                self._proxy_headers["Proxy-Authorization"] = "Basic " + b64encode(token).decode()
        self._local = threading.local()
        self._ssl = ssl_context  # made on first https use (loading the CA store costs ~10 ms)
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _connection(self, url: httpx.URL, timeout_s: float | None) -> http.client.HTTPConnection:
        pool: dict[tuple[str, str, int], http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        port = url.port or (443 if url.scheme == "https" else 80)
        key = (url.scheme, url.host, port)
        conn = pool.get(key)
        if conn is not None and conn.sock is not None and not _idle_and_open(conn):
            conn.close()  # the server closed it: the same object connects again on the next request
        if conn is None:
            host, host_port = url.host, port
            if self._proxy is not None:  # connect to the proxy; https tunnels through it to the origin
                host, host_port = self._proxy.host, self._proxy.port or 80
            if url.scheme == "https":
                if self._ssl is None:
                    self._ssl = ssl.create_default_context()
                conn = http.client.HTTPSConnection(host, host_port, timeout=timeout_s, context=self._ssl)
                if self._proxy is not None:
                    conn.set_tunnel(url.host, port, headers=self._proxy_headers or None)
            else:
                conn = http.client.HTTPConnection(host, host_port, timeout=timeout_s)
            pool[key] = conn
            with self._lock:
                self._all.append(conn)
        conn.timeout = timeout_s
        if conn.sock is not None:
            conn.sock.settimeout(timeout_s)
        return conn

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout_s = timeouts.get("read") or timeouts.get("connect")
        conn = self._connection(request.url, timeout_s)
        target = request.url.raw_path.decode("ascii")
        body = request.read()
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers.raw}
        headers.pop("Host", None)
        if self._proxy is not None and request.url.scheme == "http":  # absolute form, to the proxy
            origin = f"http://{request.url.netloc.decode('ascii')}"
            target = origin + target
            headers["Host"] = request.url.netloc.decode("ascii")
            headers.update(self._proxy_headers)
        headers["Accept-Encoding"] = "identity"  # http.client does not decompress
        try:
            conn.request(request.method, target, body=body or None, headers=headers)
            raw = conn.getresponse()
            content = raw.read()
        except TimeoutError as exc:
            connected = conn.sock is not None
            conn.close()
            raise (httpx.ReadTimeout if connected else httpx.ConnectTimeout)(
                str(exc) or "timed out", request=request
            ) from None
        except (ConnectionRefusedError, socket.gaierror) as exc:
            conn.close()
            raise httpx.ConnectError(str(exc), request=request) from None
        except (http.client.HTTPException, OSError) as exc:
            conn.close()
            raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}", request=request) from None
        if raw.will_close:
            conn.close()
        headers_out = [
            (k, v) for k, v in raw.getheaders() if k.lower() not in ("transfer-encoding", "content-encoding")
        ]
        return httpx.Response(
            raw.status, headers=headers_out, content=content, request=request, extensions={"http_version": b"HTTP/1.1"}
        )

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
