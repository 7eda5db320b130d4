"""Redis frozen (SIGSTOP) mid-delivery under the web process: no delivery is lost (issue 12).

Before the two-phase replay marker, a request caught by a frozen Redis wrote its "seen" marker
once Redis woke, but its task was never queued: the sender's retry was answered "200 duplicate"
and the delivery was gone. Here a sender retrying like Svix (503 or a timeout: try again after a
short backoff) pushes deliveries while Redis is frozen for longer than the web process's Redis
timeout. Every delivery must end with exactly the task it should have in the broker queue,
its body stored for that task; a second task for one id is a duplicate we explain (its pending
marker expired during the freeze while its first attempt was still publishing).
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from pipeline import keys
from sandbox.localredis import LocalRedis
from pipeline.webhooks.signatures import svix_sign
from tests.chaos.report import record
from tests.support.webproc import web_process

pytestmark = [pytest.mark.chaos]

SECRET = "whsec_" + base64.b64encode(b"chaos-freeze-secret-bytes").decode()
CONNECTIONS = """
[merchants.frozen.provider]
kind = "okendo"
credential_env = "FROZEN_OKENDO_CREDENTIAL"
webhook_secret_env = "FROZEN_OKENDO_WEBHOOK_SECRET"

[[merchants.frozen.platforms]]
kind = "postscript"
credential_env = "FROZEN_POSTSCRIPT_API_KEY"
"""
DELIVERIES = 80
RATE_PER_S = 10.0
FREEZE_AFTER_S = 2.0
FREEZE_S = 9.0             # longer than the web process's Redis timeout (5 s)
RETRY_S = (0.5, 1, 2, 4, 8, 8, 8, 8, 8, 8)   # Svix retries within seconds, then minutes: compressed
SENDER_TIMEOUT_S = 15.0    # Okendo waits 15 s for an answer


@dataclass
class Outcome:
    msg_id: str
    attempts: list[tuple[float, str]] = field(default_factory=list)  # (when, status or error)
    done_at: float | None = None
    first_at: float | None = None


def _body(msg_id: str) -> bytes:
    return json.dumps({"resource": {"loyaltyCustomerId": "lc-9", "customer": {"email": "jane@example.test"},
                                    "points": {"balance": 10}, "status": "enrolled", "note": msg_id},
                       "resourceType": "loyalty_customer", "sequenceNumber": "1", "topic": "update",
                       "version": "2025-02-01"}).encode()


def _deliver(url: str, msg_id: str) -> Outcome:
    """One delivery, retried like Svix until a 2xx answer (or the schedule runs out)."""
    outcome = Outcome(msg_id)
    body = _body(msg_id)
    with httpx.Client(timeout=SENDER_TIMEOUT_S) as client:
        for wait in (0, *RETRY_S):
            time.sleep(wait)
            now = time.monotonic()
            outcome.first_at = outcome.first_at or now
            headers = svix_sign(SECRET, msg_id, int(time.time()), body)
            try:
                status = str(client.post(f"{url}/webhooks/okendo/frozen", content=body, headers=headers).status_code)
            except httpx.TransportError as exc:
                status = type(exc).__name__
            outcome.attempts.append((now, status))
            if status in ("200", "202"):
                outcome.done_at = time.monotonic()
                return outcome
    return outcome


@pytest.fixture
def frozen_redis(fresh_redis: LocalRedis) -> Iterator[LocalRedis]:
    yield fresh_redis
    process = fresh_redis._process  # noqa: SLF001 - the test owns this redis-server
    if process is not None and process.poll() is None:
        process.send_signal(signal.SIGCONT)  # never leave it stopped, whatever failed


def test_a_frozen_redis_loses_no_webhook_delivery(frozen_redis: LocalRedis, tmp_path: Path) -> None:
    process = frozen_redis._process  # noqa: SLF001
    assert process is not None, "needs a redis-server this test started"
    env = {"FROZEN_OKENDO_CREDENTIAL": "u:k", "FROZEN_OKENDO_WEBHOOK_SECRET": SECRET,
           "FROZEN_POSTSCRIPT_API_KEY": "ps"}
    with web_process(frozen_redis.url, CONNECTIONS, env, tmp_path) as web:
        ids = [f"msg_freeze_{i:03d}" for i in range(DELIVERIES)]
        thawed = threading.Event()
        thaw_at: list[float] = []

        def freeze() -> None:
            time.sleep(FREEZE_AFTER_S)
            process.send_signal(signal.SIGSTOP)
            time.sleep(FREEZE_S)
            process.send_signal(signal.SIGCONT)
            thaw_at.append(time.monotonic())
            thawed.set()

        freezer = threading.Thread(target=freeze, daemon=True)
        with ThreadPoolExecutor(max_workers=DELIVERIES) as pool:
            freezer.start()
            futures = []
            for msg_id in ids:
                futures.append(pool.submit(_deliver, web.url, msg_id))
                time.sleep(1 / RATE_PER_S)
            outcomes = [f.result() for f in futures]
        freezer.join()
        assert thawed.is_set()

    client = redis.Redis.from_url(frozen_redis.url)
    queued = Counter()
    for raw in client.lrange("webhooks", 0, -1):
        args, kwargs, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
        assert args == ["okendo", "frozen"]
        queued[kwargs["ref"]] += 1
    stored = {m: client.hget(keys.webhook_body("okendo", "frozen", m), "body") for m in ids}
    answered = [o for o in outcomes if o.done_at is not None]
    lost = [m for m in ids if queued[m] == 0]
    duplicates = {m: n - 1 for m, n in queued.items() if n > 1}
    during = [o for o in outcomes if any(s not in ("200", "202") for _, s in o.attempts)]
    longest_stall = max((o.done_at or time.monotonic()) - (o.first_at or 0) for o in outcomes)
    recover = max(0.0, max((o.done_at or 0) for o in outcomes) - thaw_at[0])
    record("webhooks: Redis SIGSTOP 9 s mid-delivery", events=DELIVERIES, lost=len(lost),
           duplicates_explained=sum(duplicates.values()), longest_stall_s=longest_stall, recover_s=recover)

    assert during, "no delivery met the freeze: the test did not test anything"
    assert len(answered) == DELIVERIES, [o for o in outcomes if o.done_at is None][:3]
    assert lost == [], f"{len(lost)} deliveries answered but never queued: {lost[:5]}"
    assert all(stored[m] == _body(m) for m in ids), "a queued delivery's body is missing or altered"
    assert set(queued) == set(ids)
    # an id is queued twice only if its pending marker expired (30 s) before its first attempt was confirmed
    assert sum(duplicates.values()) <= len(during)
    assert all(client.get(keys.webhook_seen("okendo", "frozen", m)) == b"done" for m in ids)
