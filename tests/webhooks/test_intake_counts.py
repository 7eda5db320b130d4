"""An accepted webhook is counted once: the intake hands it to the ingestor, which counts what
it pulled (the intake counted it too, so every webhook showed as pulled twice)."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from pipeline.clock import FrozenClock
from pipeline.ingest import Ingestor
from pipeline.state.contributions import MemoryContributions
from pipeline.state.counters import MemoryCounters
from pipeline.state.cursors import MemoryCursorStore
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.sequences import MemorySequenceStore
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.transform.okendo_stats import OkendoMapper
from pipeline.types import Delivery
from pipeline.webhooks.intake import WebhookIntake

REVIEW = json.dumps(
    {
        "resourceType": "review",
        "topic": "create",
        "sequenceNumber": "1",
        "version": "2025-02-01",
        "resource": {
            "reviewId": "r-1",
            "productId": "p-1",
            "rating": 5,
            "title": "Great",
            "body": "Great",
            "dateCreated": "2026-03-01T12:00:00Z",
            "reviewer": {"email": "jane@example.test", "displayName": "Jane"},
        },
    }
)


def test_a_webhook_is_pulled_once_and_handed_over() -> None:
    clock = FrozenClock()
    counters = MemoryCounters()
    sent: list[tuple[str, list[Delivery]]] = []
    provider: Any = SimpleNamespace(kind="okendo")
    ingestor = Ingestor(
        merchant="acme",
        provider=provider,
        platforms=["postscript"],
        enqueue=lambda platform, batch: sent.append((platform, list(batch))),
        mapper=OkendoMapper(MemoryContributions(), clock),
        cursors=MemoryCursorStore(),
        ledger=MemoryLedger(clock),
        quarantine=MemoryJournal(clock),
        counters=counters,
        clock=clock,
        lookback_s=0,
        batch_size=10,
        seen_ttl_s=3600,
    )
    intake = WebhookIntake(
        merchant="acme",
        provider="okendo",
        hand_over=ingestor.hand_over,
        snapshots=MemorySnapshotStore(),
        sequences=MemorySequenceStore(),
        quarantine_journal=MemoryJournal(clock),
        counters=counters,
        clock=clock,
    )
    assert intake.process(REVIEW) == "handed_over"
    assert sent and all(platform == "postscript" for platform, _ in sent)
    assert counters.get("acme")["pulled"] == 1
    assert intake.process(REVIEW) == "stale"  # redelivered: not pulled again
    assert counters.get("acme")["pulled"] == 1
