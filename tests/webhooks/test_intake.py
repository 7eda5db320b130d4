"""Processing accepted Okendo deliveries: ordering by sequenceNumber, change events, quarantine."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from pipeline.clock import FrozenClock
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.sequences import MemorySequenceStore
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.state.contributions import MemoryContributions
from pipeline.transform.okendo_stats import OkendoMapper
from pipeline.types import Event, ProfileUpdate, Record
from pipeline.webhooks.intake import WebhookIntake


def member(seq: int, *, status: str = "enrolled", tier: str | None = "Silver", rank: int | None = 1,
           balance: int = 100) -> str:
    """A loyalty_customer delivery in Okendo's documented shape (tests/contracts/okendo.py); the
    tier rank is not published, but read when present."""
    return json.dumps({"resource": {"loyaltyCustomerId": "lc-1", "customer": {"customerId": "c-1",
                                                                             "email": "jane@example.test"},
                                    "status": status, "points": {"balance": balance}, "vipTierName": tier,
                                    "vipTierRank": rank},
                       "resourceType": "loyalty_customer", "sequenceNumber": str(seq), "topic": "update",
                       "version": "2025-02-01"})


class Harness:
    def __init__(self) -> None:
        self.clock = FrozenClock()
        self.records: list[Record] = []
        self.quarantine = MemoryJournal(self.clock)
        self.intake = WebhookIntake(
            merchant="acme", provider="okendo", hand_over=self._hand_over, snapshots=MemorySnapshotStore(),
            sequences=MemorySequenceStore(), quarantine_journal=self.quarantine, counters=MemoryCounters(),
            clock=self.clock)

    def _hand_over(self, records: Sequence[Record]) -> Any:
        self.records.extend(records)

    def items(self) -> list[Event | ProfileUpdate]:
        return OkendoMapper(MemoryContributions(), self.clock).map_all(self.records)


def test_out_of_order_member_updates_never_apply_an_older_state() -> None:
    h = Harness()
    assert h.intake.process(member(1, balance=100)) == "handed_over"
    assert h.intake.process(member(3, balance=300)) == "handed_over"
    assert h.intake.process(member(2, balance=200)) == "stale"
    assert h.intake.process(member(3, balance=300)) == "stale"  # redelivered
    balances = [r.data["points"]["balance"] for r in h.records]
    assert balances == [100, 300]


def test_tier_change_fires_with_the_previous_snapshot() -> None:
    h = Harness()
    h.intake.process(member(1, tier="Silver", rank=1))
    h.intake.process(member(2, tier="Gold", rank=2))
    changed = [i for i in h.items() if isinstance(i, Event) and i.name == "Okendo Loyalty Tier Changed"]
    assert len(changed) == 1
    assert changed[0].properties["Old Tier"] == "Silver" and changed[0].properties["New Tier"] == "Gold"
    assert changed[0].properties["Is Tier Upgrade"] is True


def test_event_resources_are_processed_whatever_their_order() -> None:
    h = Harness()
    for seq in (5, 4):
        h.intake.process(json.dumps({"resourceType": "loyalty_earning_transaction", "topic": "create",
                                     "sequenceNumber": str(seq), "version": "2025-02-01", "resource": {
                                         "loyaltyCustomerId": "lc-1", "loyaltyTransactionId": f"t{seq}",
                                         "amount": 10 * seq, "date": "2026-03-01T12:00:00Z",
                                         "customer": {"email": "jane@example.test", "customerId": "c-1"}}}))
    assert [r.record_id for r in h.records] == ["t5", "t4"]


def test_undecodable_deliveries_are_quarantined_with_the_reason() -> None:
    h = Harness()
    assert h.intake.process("{not json") == "quarantined"
    assert h.intake.process(json.dumps({"resourceType": "review", "topic": "create", "sequenceNumber": "1",
                                        "resource": {"reviewId": "r-1", "productId": "shopify-1",
                                                     "dateCreated": "2026-03-01T12:00:00Z"}})) == "quarantined"
    assert h.intake.process(json.dumps({"resource": {}, "topic": "nope"})) == "quarantined"
    reasons = [e["error"] for _, e in h.quarantine.read("lp:quarantine:okendo")]
    assert reasons[0].startswith("okendo: body is not JSON")
    assert "review.rating" in reasons[1]
    assert "envelope." in reasons[2]
    assert h.records == []


def test_a_missing_body_is_quarantined_with_what_happened_to_it() -> None:
    from pipeline import quarantine

    h = Harness()
    assert h.intake.missing_body("msg_gone") == "quarantined"
    assert h.intake.missing_body("msg_released", abandoned=True) == "quarantined"
    gone, released = sorted(quarantine.entries(h.quarantine, "okendo"), key=lambda e: e.payload["message_id"])
    assert gone.payload == {"message_id": "msg_gone"} and "not found" in gone.error
    assert released.payload == {"message_id": "msg_released"}
    assert "enqueue raised" in released.error and "retry carries" in released.error and "not found" not in released.error
