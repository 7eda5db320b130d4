"""Omneo signs the body only, not its ``x-omneo-event`` trigger. A captured push resent under
another trigger must never become a different event: it is the same delivery (its id is the
body's digest), answered "duplicate" and not queued again; the stored trigger stays the signed
push's own. The lenient schemas alone would not stop it (a reward body decodes as points or a
profile), which is why the id does not include the trigger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from pipeline.clock import FrozenClock, SystemClock
from pipeline.config import Secret
from pipeline.providers.schemas.omneo import TRIGGERS
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.sequences import MemorySequenceStore
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.types import Record
from pipeline.webhooks.intake import WebhookIntake
from pipeline.webhooks.receiver import Endpoint, make_app
from pipeline.webhooks.replay import RedisReplayGuard
from pipeline.webhooks.signatures import omneo_sign
from tests.support.wsgi import serve

pytestmark = [pytest.mark.redis]

SECRET = "omneo-relabel-secret"
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "omneo" / "reward_issued.json"


@pytest.fixture
def omneo(real_redis: redis.Redis) -> Iterator[tuple[httpx.Client, list[str], RedisReplayGuard]]:
    accepted: list[str] = []
    guard = RedisReplayGuard(real_redis)
    endpoint = Endpoint("omneo", "acme", "omneo", Secret(SECRET))
    app = make_app(resolve=lambda p, m: endpoint if (p, m) == ("omneo", "acme") else None,
                   accept=lambda p, m, message_id: accepted.append(message_id), replays=guard, clock=SystemClock())
    with serve(app) as url, httpx.Client(base_url=url, timeout=5) as client:
        yield client, accepted, guard


def _process(body: bytes, event: str) -> tuple[str, list[Record]]:
    clock, records = FrozenClock(), []
    intake = WebhookIntake(merchant="acme", provider="omneo", hand_over=records.extend,
                           snapshots=MemorySnapshotStore(), sequences=MemorySequenceStore(),
                           quarantine_journal=MemoryJournal(clock), counters=MemoryCounters(), clock=clock)
    return intake.process(body, event=event), records


def test_a_signed_push_relabelled_with_another_trigger_is_never_a_different_event(
        omneo: tuple[httpx.Client, list[str], RedisReplayGuard]) -> None:
    client, accepted, guard = omneo
    body = FIXTURE.read_bytes()
    signed = omneo_sign(SECRET, "reward.issued", body)
    first = client.post("/webhooks/omneo/acme", content=body, headers=signed)
    assert first.status_code == 202, first.text
    message_id = first.json()["id"]
    for trigger in sorted(TRIGGERS):
        relabelled = client.post("/webhooks/omneo/acme", content=body, headers={**signed, "x-omneo-event": trigger})
        assert relabelled.status_code == 200 and relabelled.json() == {"status": "duplicate", "id": message_id}, trigger
    assert accepted == [message_id]  # queued once
    stored = guard.load("omneo", "acme", message_id)
    assert stored is not None and stored.event == "reward.issued"  # the task decodes the push as it was signed
    outcome, records = _process(stored.body, stored.event)
    assert outcome == "handed_over" and [r.stream for r in records] == ["rewards"]


def test_why_the_trigger_is_not_in_the_id_the_schemas_alone_would_not_refuse_a_relabel() -> None:
    """The residual risk docs/deploy.md names: once the id is forgotten (7 days), a relabelled
    replay is decoded under its new trigger. This pins that the schemas are lenient so the
    documentation stays true; if they ever refuse it, tighten the docs."""
    body = FIXTURE.read_bytes()
    assert _process(body, "reward.issued")[1][0].stream == "rewards"
    outcome, records = _process(body, "points.awarded")
    assert outcome == "handed_over" and records[0].stream == "points"
    assert json.loads(body)["id"] == 1203
