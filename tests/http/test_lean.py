"""LeanClient over real loopback sockets: framing (Content-Length, chunked, read-to-close, 1xx),
broken servers as httpx errors, URLs and headers exactly as httpx writes them, TLS, and one
shared pool that holds no more connections than requests in flight."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from pipeline.http.lean import MAX_HEADER_BYTES, ConnectionPool, LeanClient

Script = Callable[[bytes], bytes]


class RawServer:
    """Answers each request on a connection with ``script(request bytes)``; b"" closes it."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self.close_each = False
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        buf = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buf) < length:
                    buf += conn.recv(65536)
                request, buf = head + b"\r\n\r\n" + buf[:length], buf[length:]
                self.requests.append(request)
                answer = self.script(request)
                if not answer:
                    return
                conn.sendall(answer)
                if self.close_each or b"connection: close" in answer.lower():
                    return

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.sock.close()


@pytest.fixture()
def serve() -> Iterator[Callable[[Script], RawServer]]:
    servers: list[RawServer] = []

    def start(script: Script) -> RawServer:
        servers.append(RawServer(script))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def client(url: str, pool: ConnectionPool | None = None, **kw: object) -> LeanClient:
    return LeanClient(base_url=url, headers={"Authorization": "Bearer k", "Accept": "application/json"},
                      timeout_s=2, pool=pool or ConnectionPool(), **kw)  # type: ignore[arg-type]


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body)


def test_chunked_answers_with_extensions_and_trailers_and_the_connection_is_reused(serve) -> None:  # type: ignore[no-untyped-def]
    chunked = (b"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
               b"5;ext=1\r\n{\"ok\"\r\n6\r\n:true}\r\n0\r\nX-Trailer: t\r\n\r\n")
    srv = serve(lambda _: chunked)
    c = client(srv.url)
    answers = [c.post("/e", json={"n": i}) for i in range(3)]
    assert [a.status_code for a in answers] == [202] * 3 and answers[0].json() == {"ok": True}
    assert answers[0].headers["x-a"] == "1, 2" and "transfer-encoding" not in answers[0].headers
    assert srv.connections == 1


def test_interim_answers_are_skipped_and_a_body_without_length_runs_to_close(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda _: b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\": 1}")
    c = client(srv.url)
    assert c.get("/x").json() == {"a": 1}
    assert c.get("/x").json() == {"a": 1}
    assert srv.connections == 2  # a connection the server closes is never pooled


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"cut",  # closed mid-body
    b"SMTP ready\r\n\r\n",  # not HTTP
    b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * (MAX_HEADER_BYTES + 10),  # headers without end
    b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n{}",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"",  # closed before answering
])
def test_a_broken_answer_is_an_httpx_transport_error_and_the_connection_is_dropped(serve, answer: bytes) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda _: answer)
    srv.close_each = True
    pool = ConnectionPool()
    with pytest.raises(httpx.RemoteProtocolError):
        client(srv.url, pool).post("/e", json={})
    assert pool._idle.get(("http", "127.0.0.1", srv.port), []) == []  # noqa: SLF001


@pytest.mark.parametrize(("base", "url", "params"), [
    ("http://h.test/v1", "/customers", {"page": 2, "updated_at_min": "2026-01-01T00:00:00Z", "x": True}),
    ("http://h.test/v1/", "customers", None),
    ("http://h.test", "/api/v2/subscribers", {"email__eq": "a+b@example.test", "none": None}),
    ("http://h.test/api", "/events?cursor=a%20b", {"filter": "equals(x,'y z')"}),
    ("http://h.test/v1", "http://other.test:8080/v1/next?page[cursor]=abc", None),
    ("http://h.test/v1", "/ids", {"ids": ["1", "2"]}),
])
def test_targets_are_written_as_httpx_writes_them(base: str, url: str, params: dict[str, object] | None) -> None:
    c = LeanClient(base_url=base, headers={}, timeout_s=1, pool=ConnectionPool())
    origin, host, target = c._target(url, params)  # noqa: SLF001
    expected = httpx.Client(base_url=base).build_request("GET", url, params=params).url  # type: ignore[arg-type]
    assert (origin[1], origin[2], host) == (expected.host, expected.port or 80, expected.netloc.decode())
    assert httpx.URL(f"http://x{target}").params == expected.params
    assert target.partition("?")[0] == expected.raw_path.decode().partition("?")[0]


def test_headers_defaults_overrides_and_hooks(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda _: ok())
    seen: list[tuple[str, ...]] = []
    c = client(srv.url, before_request=lambda m, p: seen.append((m, p)),
               after_response=lambda p, r: seen.append((p, str(r.status_code))))
    c.request("POST", "/e?x=1", content=b'{"a":1}', headers={"Content-Type": "application/vnd.api+json",
                                                            "accept": "application/vnd.api+json"})
    head = srv.requests[-1].split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert head[0] == "POST /e?x=1 HTTP/1.1" and f"Host: 127.0.0.1:{srv.port}" in head
    names = [h.split(":")[0].lower() for h in head[1:]]
    assert names.count("accept") == 1 and "accept: application/vnd.api+json" in [h.lower() for h in head]
    assert "Authorization: Bearer k" in head and "Content-Length: 7" in head and "Accept-Encoding: identity" in head
    assert seen == [("POST", "/e"), ("/e", "200")]
    c.get("/g")
    assert not any(h.lower().startswith("content-length") for h in srv.requests[-1].decode().split("\r\n"))


def test_the_shared_pool_holds_no_more_connections_than_requests_in_flight(serve) -> None:  # type: ignore[no-untyped-def]
    srv = serve(lambda _: ok())
    pool = ConnectionPool()
    clients = [client(srv.url, pool) for _ in range(20)]  # e.g. twenty merchants on one platform
    threads = [threading.Thread(target=lambda i=i: [clients[(i + j) % 20].post("/e", json={}) for j in range(30)])
               for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(srv.requests) == 120 and srv.connections <= 4


def test_https_with_the_pool_s_context(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    srv.socket = server_ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        trusted = ssl.create_default_context(cafile=str(cert))
        c = client(f"https://localhost:{srv.server_address[1]}", ConnectionPool(ssl_context=trusted))
        assert [c.get("/x").json() for _ in range(2)] == [{}, {}]
        with pytest.raises(httpx.ConnectError):  # an untrusted certificate is refused
            client(f"https://localhost:{srv.server_address[1]}").get("/x")
    finally:
        srv.shutdown()
        srv.server_close()
