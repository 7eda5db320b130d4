"""The web process as deployed: ``gunicorn -c python:workers.gunicorn_conf workers.web:application``
over real loopback HTTP, with a real Redis as state and broker (issue 12).

* ``/metrics`` and ``/readyz`` answer on the operational listener only, never on the public port;
* a chunked body (no Content-Length) is read up to the limit: 202, or 413 beyond it;
* the broker message names the delivery and carries no personal data;
* slow clients (headers or body a byte at a time) held open do not stop signed deliveries from
  being answered (a generous deadline, not a timing measurement).
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import redis

from sandbox.localredis import LocalRedis
from pipeline.webhooks.signatures import svix_sign
from tests.support.webproc import WebProcess, web_process

pytestmark = [pytest.mark.redis]

SECRET = "whsec_" + base64.b64encode(b"web-process-test-secret").decode()
EMAIL = "jane.web@example.test"
CONNECTIONS = """
[merchants.webshop.provider]
kind = "okendo"
credential_env = "WEBSHOP_OKENDO_CREDENTIAL"
webhook_secret_env = "WEBSHOP_OKENDO_WEBHOOK_SECRET"

[[merchants.webshop.platforms]]
kind = "postscript"
credential_env = "WEBSHOP_POSTSCRIPT_API_KEY"
"""
SLOW_CLIENTS = 24          # well over the old 4 threads, and over gthread's 8
DEADLINE_S = 15.0          # generous: a starved process answers in 30 s or never


class Web(WebProcess):
    def body(self, msg_id: str) -> bytes:
        return json.dumps({"resourceType": "loyalty_customer", "topic": "update", "sequenceNumber": "7",
                           "version": "2025-02-01", "resource": {"loyaltyCustomerId": "lc-1",
                                                                "customer": {"email": EMAIL}, "note": msg_id}}).encode()

    def deliver(self, msg_id: str, client: httpx.Client | None = None) -> httpx.Response:
        body = self.body(msg_id)
        headers = {**svix_sign(SECRET, msg_id, int(time.time()), body), "content-type": "application/json"}
        return (client or httpx).post(f"{self.url}/webhooks/okendo/webshop", content=body, headers=headers,
                                      timeout=DEADLINE_S)


@pytest.fixture(scope="module")
def web(redis_server: LocalRedis, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Web]:
    """One gunicorn for the module (it takes seconds to start); each test uses its own message ids."""
    env = {"WEBSHOP_OKENDO_CREDENTIAL": "user:key", "WEBSHOP_OKENDO_WEBHOOK_SECRET": SECRET,
           "WEBSHOP_POSTSCRIPT_API_KEY": "ps-key", "WEBHOOK_READ_TIMEOUT_S": "5"}
    with web_process(redis_server.url, CONNECTIONS, env, tmp_path_factory.mktemp("web")) as started:
        yield Web(started.url, started.ops_url, started.process, started.log)


def test_metrics_and_readyz_only_on_the_operational_listener(web: Web) -> None:
    assert web.deliver("msg_metrics").status_code == 202
    for path in ("/metrics", "/readyz"):
        public = httpx.get(web.url + path, timeout=5)
        assert public.status_code == 404, path
        assert b"lp_" not in public.content and b"python_info" not in public.content
    # a Host header naming the other port does not reach it either
    assert httpx.get(web.url + "/metrics", headers={"Host": web.ops_url[7:]}, timeout=5).status_code == 404
    metrics = httpx.get(web.ops_url + "/metrics", timeout=5)
    assert metrics.status_code == 200
    assert re.search(r'^lp_webhook_intake_total\{outcome="accepted",provider="okendo"\} [1-9]', metrics.text, re.M)
    assert 'lp_dlq_depth{merchant="webshop",platform="postscript"} 0.0' in metrics.text  # listed, not scanned
    assert httpx.get(web.ops_url + "/readyz", timeout=5).status_code == 200
    assert httpx.post(web.ops_url + "/webhooks/okendo/webshop", content=b"{}", timeout=5).status_code == 405


def test_chunked_bodies_are_read_up_to_the_limit(web: Web) -> None:
    body = web.body("msg_chunked")
    headers = {**svix_sign(SECRET, "msg_chunked", int(time.time()), body), "content-type": "application/json"}

    def chunks(data: bytes, size: int = 7) -> Iterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i:i + size]

    response = httpx.post(f"{web.url}/webhooks/okendo/webshop", content=chunks(body), headers=headers, timeout=10)
    assert response.status_code == 202 and response.json()["id"] == "msg_chunked"
    big = b" " * ((1 << 20) + 10)
    headers = svix_sign(SECRET, "msg_big", int(time.time()), big)
    too_big = httpx.post(f"{web.url}/webhooks/okendo/webshop", content=chunks(big, 65536), headers=headers, timeout=10)
    assert too_big.status_code == 413


def test_the_broker_message_carries_no_personal_data(web: Web, real_redis: redis.Redis) -> None:
    assert web.deliver("msg_private").status_code == 202
    [raw] = [m for m in real_redis.lrange("webhooks", 0, -1) if b"msg_private" in base64.b64decode(json.loads(m)["body"])]
    message = json.loads(raw)
    assert EMAIL.encode() not in raw and EMAIL.encode() not in base64.b64decode(message["body"])
    args, kwargs, _ = json.loads(base64.b64decode(message["body"]))
    assert args == ["okendo", "webshop"] and kwargs == {"ref": "msg_private"}
    assert "jane" not in json.dumps(message["headers"])  # argsrepr / kwargsrepr (what Flower shows)
    stored = real_redis.hget("lp:webhook-body:okendo:webshop:msg_private", "body")
    assert stored == web.body("msg_private")  # the body waits in the state Redis, byte for byte


def _slow_header_client(url: str, stop: threading.Event) -> None:
    host, port = url[7:].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        request = b"POST /webhooks/okendo/webshop HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
        for byte in request:
            if stop.is_set():
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return  # the server hung up on us: that is the defence working
            time.sleep(0.5)


def _slow_body_client(url: str, stop: threading.Event) -> None:
    host, port = url[7:].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"POST /webhooks/okendo/webshop HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                sock.sendall(b"{")
            except OSError:
                return
            time.sleep(0.5)


def test_slow_clients_do_not_block_signed_deliveries(web: Web) -> None:
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=SLOW_CLIENTS)
    try:
        for i in range(SLOW_CLIENTS):
            pool.submit(_slow_header_client if i % 2 else _slow_body_client, web.url, stop)
        time.sleep(1.0)  # every slow client is connected and holding its request open
        with httpx.Client() as client:
            started = time.monotonic()
            statuses = [web.deliver(f"msg_during_{i}", client).status_code for i in range(10)]
            answered_within = time.monotonic() - started
        assert statuses == [202] * 10
        assert answered_within < DEADLINE_S, f"signed deliveries took {answered_within:.1f}s behind slow clients"
    finally:
        stop.set()
        pool.shutdown(wait=True)


def _answer(sock: socket.socket, deadline_s: float) -> bytes:
    sock.settimeout(deadline_s)
    try:
        return sock.recv(200)
    except (TimeoutError, OSError):
        return b"<no answer>"


def test_a_stalled_body_or_header_is_cut_off(web: Web) -> None:
    host, port = web.url[7:].split(":")
    with socket.create_connection((host, int(port)), timeout=5) as body_client, \
            socket.create_connection((host, int(port)), timeout=5) as header_client:
        body_client.sendall(b"POST /webhooks/okendo/webshop HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        header_client.sendall(b"POST /webhooks/okendo/webshop HTTP/1.1\r\nHost: x\r\n")
        # the body must arrive within WEBHOOK_READ_TIMEOUT_S (5 s here): then 400, naming the reason
        answer = _answer(body_client, DEADLINE_S)
        assert answer.startswith(b"HTTP/1.1 400"), answer
        # headers must arrive within gunicorn's keepalive (5 s): then the connection is closed
        assert _answer(header_client, DEADLINE_S) == b""  # closed within the deadline, not left hanging
