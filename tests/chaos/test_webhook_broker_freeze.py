"""The broker Redis frozen (SIGSTOP: a half-open connection) while the state Redis answers.

Without a socket timeout on the broker transport, the web process's publish waited forever:
the sender timed out, and the request held one of gevent's connection slots for as long as
the broker stayed frozen. Now the publish fails within the broker timeout, the answer is
503 with ``Retry-After``, and the sender's retry after the thaw is queued: nothing is lost.
"""

from __future__ import annotations

import base64
import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from pipeline import keys
from sandbox.localredis import LocalRedis, start_redis_server
from pipeline.webhooks.signatures import svix_sign
from tests.support.webproc import web_process

pytestmark = [pytest.mark.chaos]

SECRET = "whsec_" + base64.b64encode(b"chaos-broker-freeze-secret").decode()
CONNECTIONS = """
[merchants.frozen.provider]
kind = "okendo"
credential_env = "FROZEN_OKENDO_CREDENTIAL"
webhook_secret_env = "FROZEN_OKENDO_WEBHOOK_SECRET"

[[merchants.frozen.platforms]]
kind = "postscript"
credential_env = "FROZEN_POSTSCRIPT_API_KEY"
"""
ENV = {"FROZEN_OKENDO_CREDENTIAL": "u:k", "FROZEN_OKENDO_WEBHOOK_SECRET": SECRET, "FROZEN_POSTSCRIPT_API_KEY": "ps"}
#: The sender gives up long after the web process should have answered: without the broker
#: timeout, the request is still held here and the test fails on this, not on a timed assert.
SENDER_TIMEOUT_S = 60.0


def _body(msg_id: str) -> bytes:
    return json.dumps({"resource": {"loyaltyCustomerId": "lc-1", "status": "enrolled", "note": msg_id},
                       "resourceType": "loyalty_customer", "sequenceNumber": "1", "topic": "update",
                       "version": "2025-02-01"}).encode()


def _post(url: str, msg_id: str) -> httpx.Response:
    body = _body(msg_id)
    return httpx.post(f"{url}/webhooks/okendo/frozen", content=body, headers=svix_sign(SECRET, msg_id, int(time.time()), body),
                      timeout=SENDER_TIMEOUT_S)


@pytest.fixture
def broker() -> Iterator[LocalRedis]:
    local = start_redis_server()
    yield local
    if local._process is not None and local._process.poll() is None:  # noqa: SLF001 - ours
        local._process.send_signal(signal.SIGCONT)  # never leave it stopped, whatever failed
    local.stop()


def _queued_refs(client: redis.Redis) -> list[str]:
    return [json.loads(base64.b64decode(json.loads(raw)["body"]))[1]["ref"] for raw in client.lrange("webhooks", 0, -1)]


def test_a_frozen_broker_is_a_503_and_the_retry_is_queued(fresh_redis: LocalRedis, broker: LocalRedis,
                                                          tmp_path: Path) -> None:
    process = broker._process  # noqa: SLF001
    assert process is not None
    with web_process(fresh_redis.url, CONNECTIONS, ENV, tmp_path, broker_url=broker.url) as web:
        assert _post(web.url, "msg_before").status_code == 202  # the broker connection is open and used
        process.send_signal(signal.SIGSTOP)
        try:
            frozen = _post(web.url, "msg_frozen")
            healthy = httpx.get(f"{web.url}/healthz", timeout=5)
        finally:
            process.send_signal(signal.SIGCONT)
        assert frozen.status_code == 503, frozen.text
        assert int(frozen.headers["Retry-After"]) > 0
        assert healthy.status_code == 200
        # the sender retries after Retry-After (compressed here: the pending marker is gone already,
        # released by the failed attempt); it is queued, with its body stored for the task
        retried = _post(web.url, "msg_frozen")
        assert retried.status_code == 202, retried.text
    broker_client = redis.Redis.from_url(broker.url)
    state = redis.Redis.from_url(fresh_redis.url)
    refs = _queued_refs(broker_client)
    assert "msg_before" in refs and "msg_frozen" in refs
    assert state.hget(keys.webhook_body("okendo", "frozen", "msg_frozen"), "body") == _body("msg_frozen")
    assert state.get(keys.webhook_seen("okendo", "frozen", "msg_frozen")) == b"done"
