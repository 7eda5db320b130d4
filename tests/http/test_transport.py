"""The pipeline's clients (LeanClient, and httpx on KeepAliveTransport) over real loopback HTTP: keep-alive reuse, a connection the server
closed is never written to, timeouts and refused connections as httpx's own errors."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from pipeline.http.client import build_client
from pipeline.http.transport import KeepAliveTransport
from sandbox.localredis import free_port


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[tuple[str, int]] = set()

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Handler.connections.add(self.client_address)  # a new connection comes from a new port
        if self.path == "/slow":
            time.sleep(0.5)
        out = json.dumps({"echo": json.loads(body), "encoding": self.headers.get("Accept-Encoding")}).encode()
        self.send_response(200 if self.path != "/close" else 202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        if self.path == "/close":
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    Handler.connections = set()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_requests_share_one_keep_alive_connection_and_bodies_round_trip(server: str) -> None:
    client = build_client(base_url=server, headers={"Authorization": "Bearer k"}, timeout_s=5)
    answers = [client.post("/ok", json={"n": i}) for i in range(5)]
    assert [a.json()["echo"] for a in answers] == [{"n": i} for i in range(5)]
    assert answers[0].json()["encoding"] == "identity" and answers[0].status_code == 200
    assert len(Handler.connections) == 1


def test_a_connection_the_server_closed_is_replaced_not_written_to(server: str) -> None:
    client = build_client(base_url=server, headers={}, timeout_s=5)
    assert client.post("/close", json={}).status_code == 202  # the server closes after answering
    assert client.post("/ok", json={"after": True}).json()["echo"] == {"after": True}
    assert len(Handler.connections) == 2


def test_timeouts_and_refused_connections_are_httpx_errors(server: str) -> None:
    client = build_client(base_url=server, headers={}, timeout_s=0.1)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/slow", json={})
    assert build_client(base_url=server, headers={}, timeout_s=5).post("/ok", json={}).status_code == 200
    with pytest.raises(httpx.ConnectError):
        build_client(base_url=f"http://127.0.0.1:{free_port()}", headers={}, timeout_s=1).post("/ok", json={})


def test_each_thread_has_its_own_connection(server: str) -> None:
    transport = KeepAliveTransport()
    client = build_client(base_url=server, headers={}, timeout_s=5, transport=transport)
    threads = [threading.Thread(target=lambda: [client.post("/ok", json={}) for _ in range(3)]) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(Handler.connections) == 3
    transport.close()


def test_reconnecting_reuses_the_thread_s_connection_object(server: str) -> None:
    transport = KeepAliveTransport()
    client = build_client(base_url=server, headers={}, timeout_s=5, transport=transport)
    for _ in range(3):
        assert client.post("/close", json={}).status_code == 202  # closed by the server each time
    assert len(Handler.connections) == 3 and len(transport._all) == 1  # noqa: SLF001 - nothing piles up
