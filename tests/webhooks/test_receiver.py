"""The webhook endpoint over real loopback HTTP: valid, forged, stale and replayed deliveries."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from pipeline.clock import SystemClock
from pipeline.config import Secret
from pipeline.webhooks.replay import RedisReplayGuard
from pipeline.webhooks.receiver import Endpoint, make_app
from pipeline.webhooks.signatures import hmac_sign, svix_sign
from tests.support.wsgi import serve

pytestmark = [pytest.mark.redis]

SVIX_SECRET = "whsec_" + base64.b64encode(b"okendo-test-secret-bytes").decode()
HMAC_SECRET = "rediem-test-secret"
BODY = json.dumps({"resourceType": "loyalty_earning_transaction", "topic": "create", "sequenceNumber": 1,
                   "version": "2025-02-01", "resource": {"transactionId": "t1"}}).encode()


class Harness:
    def __init__(self, base_url: str, accepted: list[tuple[str, str, str]]) -> None:
        self.url = base_url
        self.accepted = accepted
        self.client = httpx.Client(base_url=base_url, timeout=5)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.client.post(path, content=body, headers={"content-type": "application/json", **headers})


@pytest.fixture
def harness(real_redis: redis.Redis) -> Iterator[Harness]:
    accepted: list[tuple[str, str, str]] = []
    failing = {"on": False}
    guard = RedisReplayGuard(real_redis)

    def accept(provider: str, merchant: str, message_id: str) -> None:
        if failing["on"]:
            raise ConnectionError("broker down")
        stored = guard.load(provider, merchant, message_id)
        assert stored is not None  # the body is in Redis before the task is queued
        accepted.append((provider, merchant, stored.body.decode()))

    endpoints = {("okendo", "acme"): Endpoint("okendo", "acme", "svix", Secret(SVIX_SECRET)),
                 ("rediem", "beta"): Endpoint("rediem", "beta", "hmac", Secret(HMAC_SECRET))}
    app = make_app(resolve=lambda p, m: endpoints.get((p, m)), accept=accept, replays=guard,
                   clock=SystemClock(), max_body_bytes=4096)
    with serve(app) as url:
        h = Harness(url, accepted)
        h.failing = failing  # type: ignore[attr-defined]
        yield h


def test_valid_delivery_is_accepted_once(harness: Harness) -> None:
    headers = svix_sign(SVIX_SECRET, "msg_1", int(time.time()), BODY)
    first = harness.post("/webhooks/okendo/acme", BODY, headers)
    assert first.status_code == 202 and first.json() == {"status": "accepted", "id": "msg_1"}
    assert harness.accepted == [("okendo", "acme", BODY.decode())]


def test_replayed_delivery_is_answered_but_not_accepted_again(harness: Harness) -> None:
    headers = svix_sign(SVIX_SECRET, "msg_2", int(time.time()), BODY)
    assert harness.post("/webhooks/okendo/acme", BODY, headers).status_code == 202
    replay = harness.post("/webhooks/okendo/acme", BODY, headers)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert len(harness.accepted) == 1


@pytest.mark.parametrize("forgery", ["wrong secret", "tampered body", "no signature", "wrong scheme"])
def test_forged_deliveries_are_refused(harness: Harness, forgery: str) -> None:
    now = int(time.time())
    body = BODY
    if forgery == "wrong secret":
        headers = svix_sign("whsec_" + base64.b64encode(b"someone-else").decode(), "msg_3", now, BODY)
    elif forgery == "tampered body":
        headers = svix_sign(SVIX_SECRET, "msg_3", now, BODY)
        body = BODY.replace(b'"t1"', b'"t2"')
    elif forgery == "no signature":
        headers = {"svix-id": "msg_3", "svix-timestamp": str(now)}
    else:
        headers = hmac_sign(SVIX_SECRET, "msg_3", now, BODY)
    response = harness.post("/webhooks/okendo/acme", body, headers)
    assert response.status_code == 401 and "signature" in response.json()["error"]
    assert SVIX_SECRET not in response.text
    assert harness.accepted == []


def test_stale_delivery_is_refused(harness: Harness) -> None:
    headers = svix_sign(SVIX_SECRET, "msg_4", int(time.time()) - 3600, BODY)
    response = harness.post("/webhooks/okendo/acme", BODY, headers)
    assert response.status_code == 401 and "svix-timestamp is more than" in response.json()["error"]
    assert harness.accepted == []


def test_hmac_scheme_for_rediem(harness: Harness) -> None:
    body = b'{"id": "a1"}'
    ok = harness.post("/webhooks/rediem/beta", body, hmac_sign(HMAC_SECRET, "r1", int(time.time()), body))
    bad = harness.post("/webhooks/rediem/beta", body, hmac_sign("nope", "r2", int(time.time()), body))
    assert (ok.status_code, bad.status_code) == (202, 401)


def test_unknown_connection_oversized_and_wrong_method(harness: Harness) -> None:
    headers = svix_sign(SVIX_SECRET, "msg_5", int(time.time()), BODY)
    assert harness.post("/webhooks/okendo/nobody", BODY, headers).status_code == 404
    assert harness.post("/webhooks/smile/acme", BODY, headers).status_code == 404
    big = b"{" + b" " * 5000 + b"}"
    assert harness.post("/webhooks/okendo/acme", big, svix_sign(SVIX_SECRET, "m6", int(time.time()), big)
                        ).status_code == 413
    assert harness.client.get("/webhooks/okendo/acme").status_code == 405
    assert harness.client.get("/healthz").json() == {"status": "ok"}


def test_queue_failure_answers_503_and_lets_the_sender_retry(harness: Harness) -> None:
    headers = svix_sign(SVIX_SECRET, "msg_7", int(time.time()), BODY)
    harness.failing["on"] = True  # type: ignore[attr-defined]
    assert harness.post("/webhooks/okendo/acme", BODY, headers).status_code == 503
    harness.failing["on"] = False  # type: ignore[attr-defined]
    assert harness.post("/webhooks/okendo/acme", BODY, headers).status_code == 202
    assert len(harness.accepted) == 1


def test_redis_down_is_503_with_retry_after_and_loses_nothing(real_redis: redis.Redis) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead_port = s.getsockname()[1]  # nothing listens there once closed
    dead = redis.Redis(port=dead_port, socket_connect_timeout=0.5, socket_timeout=0.5)
    accepted: list[str] = []
    endpoints = {("okendo", "acme"): Endpoint("okendo", "acme", "svix", Secret(SVIX_SECRET))}

    def app_for(client: redis.Redis) -> object:
        return make_app(resolve=lambda p, m: endpoints.get((p, m)), clock=SystemClock(),
                        accept=lambda p, m, message_id: accepted.append(message_id), replays=RedisReplayGuard(client))

    headers = svix_sign(SVIX_SECRET, "msg_down", int(time.time()), BODY)
    with serve(app_for(dead)) as url:
        response = httpx.post(f"{url}/webhooks/okendo/acme", content=BODY, headers=headers, timeout=5)
    assert response.status_code == 503 and int(response.headers["retry-after"]) > 0
    assert accepted == []
    with serve(app_for(real_redis)) as url:  # Redis is back: the sender's retry is taken
        assert httpx.post(f"{url}/webhooks/okendo/acme", content=BODY, headers=headers, timeout=5).status_code == 202
    assert accepted == ["msg_down"]
