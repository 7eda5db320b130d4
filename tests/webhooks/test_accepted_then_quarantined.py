"""Signed but unreadable deliveries through the real web process and a real Celery worker: 202,
then quarantined with the reason, never lost and never mangled (issue 12, defects 4 and 6).
The worker reads the body by reference; once processed, the body is released."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from celery import Celery

from pipeline import keys, quarantine
from sandbox.localredis import LocalRedis
from pipeline.state.journal import RedisJournal
from pipeline.webhooks.signatures import svix_sign
from tests.support.webproc import ROOT, WebProcess, web_process

pytestmark = [pytest.mark.redis, pytest.mark.e2e]

SECRET = "whsec_" + base64.b64encode(b"quarantine-e2e-secret").decode()
CONNECTIONS = """
[merchants.qshop.provider]
kind = "okendo"
credential_env = "QSHOP_OKENDO_CREDENTIAL"
webhook_secret_env = "QSHOP_OKENDO_WEBHOOK_SECRET"

[[merchants.qshop.platforms]]
kind = "postscript"
credential_env = "QSHOP_POSTSCRIPT_API_KEY"
"""
ENV = {"QSHOP_OKENDO_CREDENTIAL": "u:k", "QSHOP_OKENDO_WEBHOOK_SECRET": SECRET, "QSHOP_POSTSCRIPT_API_KEY": "ps"}
HOSTILE = {
    "msg_deep": (b"[" * 20_000 + b"]" * 20_000, "nests deeper"),
    "msg_latin1": ('{"resourceType": "review", "name": "Zo\u00eb"}'.encode("latin-1"), "not UTF-8: invalid byte 0xeb"),
    "msg_truncated": (b'{"resourceType": "loyalty_customer", "resource": {', "not JSON: "),
    "msg_unknown": (json.dumps({"resource": {}, "resourceType": "coupon", "sequenceNumber": "1", "topic": "create",
                                "version": "2025-02-01"}).encode(), "coupon"),
}


@pytest.fixture
def stack(redis_server: LocalRedis, real_redis: redis.Redis, tmp_path: Path) -> Iterator[WebProcess]:
    with web_process(redis_server.url, CONNECTIONS, ENV, tmp_path) as web:
        env = {**os.environ, "REDIS_URL": redis_server.url, "CONNECTIONS_FILE": str(tmp_path / "connections.toml"),
               **ENV}
        env.pop("BROKER_URL", None)
        with (tmp_path / "worker.log").open("wb") as log:
            worker = subprocess.Popen([sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", "webhooks",
                                       "--pool", "threads", "--concurrency", "2", "-n", "quarantine-test@%h",
                                       "--without-gossip", "--without-mingle", "--loglevel", "INFO"],
                                      env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            yield web
        finally:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()


def _post(web: WebProcess, msg_id: str, body: bytes) -> httpx.Response:
    headers = {**svix_sign(SECRET, msg_id, int(time.time()), body), "content-type": "application/json"}
    return httpx.post(f"{web.url}/webhooks/okendo/qshop", content=body, headers=headers, timeout=15)


def _wait(predicate: object, timeout_s: float = 60) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.25)
    return False


def test_unreadable_signed_bodies_are_accepted_then_quarantined(stack: WebProcess, redis_server: LocalRedis,
                                                                 real_redis: redis.Redis) -> None:
    for msg_id, (body, _) in HOSTILE.items():
        assert _post(stack, msg_id, body).status_code == 202, msg_id
    # a task whose body is gone (expired before it ran): quarantined too, never silently dropped
    Celery(broker=redis_server.url).send_task("lp.handle_webhook", ("okendo", "qshop"), {"ref": "msg_gone"},
                                              queue="webhooks")
    journal = RedisJournal(real_redis)

    def quarantined() -> list[quarantine.QuarantineEntry]:
        return quarantine.entries(journal, "okendo")

    assert _wait(lambda: len(quarantined()) >= len(HOSTILE) + 1), quarantined()
    errors = [e.error for e in quarantined()]
    for msg_id, (_, reason) in HOSTILE.items():
        assert sum(reason in e for e in errors) == 1, (msg_id, errors)
    assert sum("accepted body not found" in e for e in errors) == 1
    latin1 = next(e for e in quarantined() if "UTF-8" in e.error)
    assert latin1.payload == {"body": '{"resourceType": "review", "name": "Zo\\xeb"}'}  # escaped, not replaced
    for msg_id in HOSTILE:  # processed: confirmed, and the body (personal data) deleted
        assert real_redis.get(keys.webhook_seen("okendo", "qshop", msg_id)) == b"done"
        assert not real_redis.exists(keys.webhook_body("okendo", "qshop", msg_id))
    # a sender retrying any of them now gets "duplicate", and nothing is queued again
    assert _post(stack, "msg_latin1", HOSTILE["msg_latin1"][0]).json()["status"] == "duplicate"
