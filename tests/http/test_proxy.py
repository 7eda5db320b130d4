"""The outgoing transport honours HTTP_PROXY / HTTPS_PROXY / NO_PROXY as httpx does, through a real
forward proxy on loopback (absolute-form requests for http, CONNECT tunnels for https)."""

from __future__ import annotations

import base64
import http.client
import json
import select
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipeline.errors import ConfigError
from pipeline.http.client import build_client
from pipeline.http.proxy import environment_proxies
from pipeline.http.transport import KeepAliveTransport
from pipeline.settings import Settings


class Origin(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Origin.seen.append(self.path)
        out = json.dumps({"echo": json.loads(body), "host": self.headers["Host"],
                          "proxy_auth": self.headers.get("Proxy-Authorization")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class ProxyLog:
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, target, auth)


def _proxy_handler(log: ProxyLog) -> type[BaseHTTPRequestHandler]:
    class Proxy(BaseHTTPRequestHandler):
        """A minimal forward proxy: absolute-form requests are forwarded, CONNECT is tunnelled."""

        protocol_version = "HTTP/1.1"

        def do_CONNECT(self) -> None:  # noqa: N802
            log.requests.append(("CONNECT", self.path, self.headers.get("Proxy-Authorization")))
            host, _, port = self.path.rpartition(":")
            upstream = socket.create_connection((host, int(port)), timeout=5)
            self.send_response(200, "Connection established")
            self.end_headers()
            sockets = [self.connection, upstream]
            while True:
                readable, _, _ = select.select(sockets, [], [], 5)
                if not readable:
                    break
                for sock in readable:
                    data = sock.recv(65536)
                    if not data:
                        upstream.close()
                        self.close_connection = True
                        return
                    (upstream if sock is self.connection else self.connection).sendall(data)

        def do_POST(self) -> None:  # noqa: N802
            log.requests.append(("POST", self.path, self.headers.get("Proxy-Authorization")))
            url = urlsplit(self.path)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            upstream = http.client.HTTPConnection(url.hostname, url.port, timeout=5)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-authorization"}
            upstream.request("POST", url.path, body=body, headers=headers)
            answer = upstream.getresponse()
            content = answer.read()
            self.send_response(answer.status)
            self.send_header("Content-Type", answer.getheader("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    return Proxy


def _serve(server: ThreadingHTTPServer) -> None:
    threading.Thread(target=server.serve_forever, daemon=True).start()


@pytest.fixture()
def proxy() -> Iterator[tuple[str, ProxyLog]]:
    log = ProxyLog()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _proxy_handler(log))
    _serve(srv)
    yield f"127.0.0.1:{srv.server_address[1]}", log
    srv.shutdown()
    srv.server_close()


@pytest.fixture()
def origin() -> Iterator[str]:
    Origin.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    _serve(srv)
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_http_requests_go_through_http_proxy_with_its_credentials(proxy: tuple[str, ProxyLog], origin: str) -> None:
    address, log = proxy
    client = build_client(base_url=origin, headers={}, timeout_s=5,
                          env={"HTTP_PROXY": f"http://user:p%40ss@{address}"})
    answers = [client.post("/api/v2/events", json={"n": i}).json() for i in range(2)]
    assert [a["echo"] for a in answers] == [{"n": 0}, {"n": 1}]
    expected_auth = "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert log.requests == [("POST", f"{origin}/api/v2/events", expected_auth)] * 2  # absolute form
    assert answers[0]["host"] == origin.removeprefix("http://") and answers[0]["proxy_auth"] is None
    assert Origin.seen == ["/api/v2/events"] * 2


def test_no_proxy_bypasses_the_proxy(proxy: tuple[str, ProxyLog], origin: str) -> None:
    address, log = proxy
    for no_proxy in ("127.0.0.1", "*", "localhost,127.0.0.1"):
        client = build_client(base_url=origin, headers={}, timeout_s=5,
                              env={"HTTP_PROXY": f"http://{address}", "no_proxy": no_proxy})
        assert client.post("/x", json={}).status_code == 200
    assert log.requests == [] and Origin.seen == ["/x"] * 3


def test_an_https_proxy_variable_only_applies_to_https(proxy: tuple[str, ProxyLog], origin: str) -> None:
    address, log = proxy
    client = build_client(base_url=origin, headers={}, timeout_s=5, env={"HTTPS_PROXY": f"http://{address}"})
    assert client.post("/x", json={}).status_code == 200
    assert log.requests == []


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl to make a test certificate")
def test_https_requests_tunnel_through_the_proxy_with_tls_to_the_origin(
        proxy: tuple[str, ProxyLog], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    Origin.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    _serve(srv)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test certificate only
    address, log = proxy
    port = srv.server_address[1]
    try:
        client = build_client(base_url=f"https://localhost:{port}", headers={}, timeout_s=5,
                              env={"HTTPS_PROXY": f"http://tunnel:secret@{address}", "NO_PROXY": "example.com"})
        answers = [client.post("/api/v2/events", json={"n": i}).json() for i in range(2)]
    finally:
        srv.shutdown()
        srv.server_close()
    assert [a["echo"] for a in answers] == [{"n": 0}, {"n": 1}]
    # one tunnel, kept alive for both requests; the proxy never sees the path (TLS end to end)
    assert log.requests == [("CONNECT", f"localhost:{port}", "Basic " + base64.b64encode(b"tunnel:secret").decode())]
    assert Origin.seen == ["/api/v2/events"] * 2 and answers[0]["proxy_auth"] is None


def test_environment_rules_match_httpx() -> None:
    assert environment_proxies({"HTTP_PROXY": "proxy:3128", "http_proxy": "http://lower:1"}) == {
        "http://": "http://lower:1"}  # lower case wins, a bare host:port means http://
    assert environment_proxies({"ALL_PROXY": "http://p:1", "NO_PROXY": ".corp.com, ::1,10.0.0.1,localhost"}) == {
        "all://": "http://p:1", "all://*.corp.com": None, "all://[::1]": None, "all://10.0.0.1": None,
        "all://localhost": None}
    assert environment_proxies({"HTTPS_PROXY": "http://p:1", "NO_PROXY": "a.com,*"}) == {}
    assert environment_proxies({"http_proxy": ""}) == {}
    with pytest.raises(ConfigError, match="HTTPS_PROXY: only http:// proxies are supported, got socks5://"):
        environment_proxies({"HTTPS_PROXY": "socks5://p:1080"})


def test_a_proxy_the_transport_cannot_use_stops_the_process_at_start() -> None:
    with pytest.raises(ConfigError, match="^ALL_PROXY: only http:// proxies") as err:
        Settings.from_env({"ALL_PROXY": "https://user:hunter2@proxy:443"})
    assert "hunter2" not in str(err.value)
    with pytest.raises(ValueError, match="only http:// proxies"):
        KeepAliveTransport(proxy="socks5://p:1080")
