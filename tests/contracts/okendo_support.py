"""An in-memory Okendo intake, ingestor and mapper, wired as the worker wires them (the
ingestor's seen-ledger included), for contract and seed tests."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from pipeline.clock import FrozenClock
from pipeline.ingest import Ingestor
from pipeline.providers.resources import decode
from pipeline.state.contributions import MemoryContributions
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.sequences import MemorySequenceStore
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.transform.okendo_stats import OkendoMapper
from pipeline.state.cursors import MemoryCursorStore
from pipeline.types import Delivery, Event, Item, ProfileUpdate, Record
from pipeline.webhooks.intake import WebhookIntake


class Pipe:
    """Deliveries in (``send``), the items the pipeline derives out; state kept across sends."""

    def __init__(self) -> None:
        self.clock = FrozenClock()
        self.records: list[Record] = []
        self.quarantine = MemoryJournal(self.clock)
        self.mapper = OkendoMapper(MemoryContributions(), self.clock)
        self._out: list[Delivery] = []
        self.ingestor = Ingestor(
            merchant="m", provider=SimpleNamespace(kind="okendo", streams=()),  # type: ignore[arg-type]
            platforms=["postscript", "attentive", "klaviyo"], enqueue=lambda _platform, batch: self._out.extend(batch),
            mapper=self.mapper, cursors=MemoryCursorStore(), ledger=MemoryLedger(self.clock),
            quarantine=self.quarantine, counters=MemoryCounters(), clock=self.clock, lookback_s=0, batch_size=50,
            seen_ttl_s=3600)
        self.intake = WebhookIntake(merchant="m", provider="okendo", hand_over=self._hand_over,
                                    snapshots=MemorySnapshotStore(), sequences=MemorySequenceStore(),
                                    quarantine_journal=self.quarantine, counters=MemoryCounters(), clock=self.clock)

    def _hand_over(self, records: list[Record]) -> Any:
        self.records.extend(records)
        return self.ingestor.hand_over(records)

    def send(self, body: Any) -> list[Item]:
        """Process one delivery; the distinct items it enqueued, in order."""
        before = len(self._out)
        self.clock.advance(1)  # deliveries arrive one after another
        outcome = self.intake.process(json.dumps(body))
        assert outcome == "handed_over", (outcome, self.reasons())
        return list({d.item.id: d.item for d in self._out[before:]}.values())

    def pulled(self, stream: str, raw: dict[str, Any]) -> list[Item]:
        """A record the scheduled sync read from the REST API."""
        record = decode("okendo", stream, raw, merchant="m", extra={"_received_at": self.clock.now(),
                                                                    "_topic": "reconcile"})
        return self.mapper.map(record)

    def reasons(self) -> list[str]:
        return [e["error"] for _, e in self.quarantine.read("lp:quarantine:okendo")]


def events(items: list[Item]) -> dict[str, Event]:
    """The events among ``items`` by name (each name at most once)."""
    out = {i.name: i for i in items if isinstance(i, Event)}
    assert len(out) == sum(isinstance(i, Event) for i in items)
    return out


def props(items: list[Item], platform: str = "postscript") -> dict[str, Any]:
    """Every profile property ``items`` set for ``platform``."""
    return {k: v for i in items if isinstance(i, ProfileUpdate) and (i.platforms is None or platform in i.platforms)
            for k, v in i.properties.items()}
