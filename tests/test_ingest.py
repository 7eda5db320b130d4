"""Incremental sync: checkpoints, resume, watermark, lookback, dedup, quarantine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import ClassVar

import pytest

from pipeline.clock import FrozenClock
from pipeline.errors import InvalidRecord, RetriableError
from pipeline.ingest import Ingestor
from pipeline.providers.base import Page, Rejected
from pipeline.providers.schemas.smile import PointsTransactionSchema
from pipeline.state.counters import MemoryCounters
from pipeline.state.cursors import MemoryCursorStore
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.transform.mapper import Mapper
from pipeline.types import Customer, Delivery, Record
from tests.factories import T0, smile_txn


class FakeSmile:
    """Newest-first pages of ``size`` over an in-memory ledger; can fail after N pages."""

    kind: ClassVar[str] = "smile"
    streams: ClassVar[tuple[str, ...]] = ("points_transactions",)

    def __init__(self, size: int = 2) -> None:
        self.rows: list[dict] = []
        self.size = size
        self.fail_after_pages: int | None = None
        self.calls: list[tuple[datetime | None, str | None]] = []
        self.rejected: list[Rejected] = []

    def add(self, id: int, at: datetime) -> None:
        stamp = at.isoformat().replace("+00:00", "Z")
        self.rows.append(PointsTransactionSchema().load(smile_txn(id, updated_at=stamp)))

    def pages(self, stream: str, *, since: datetime | None, cursor: str | None) -> Iterator[Page]:
        self.calls.append((since, cursor))
        rows = sorted((r for r in self.rows if since is None or r["updated_at"] >= since), key=lambda r: -r["id"])
        start = int(cursor or 0)
        served = 0
        while True:
            if self.fail_after_pages is not None and served >= self.fail_after_pages:
                raise RetriableError("provider went away")
            chunk = rows[start:start + self.size]
            start += self.size
            nxt = str(start) if start < len(rows) else None
            records = [Record(merchant="acme", provider="smile", stream=stream, record_id=str(r["id"]),
                              updated_at=r["updated_at"], customer=Customer(provider_id="1", email="a@x.test"),
                              data=r) for r in chunk]
            yield Page(records=records, rejected=self.rejected if served == 0 else [], next_cursor=nxt)
            served += 1
            if nxt is None:
                return


class Harness:
    def __init__(self, provider: FakeSmile, lookback_s: float = 60) -> None:
        self.clock = FrozenClock(T0)
        self.cursors = MemoryCursorStore()
        self.ledger = MemoryLedger(self.clock)
        self.quarantine = MemoryJournal(self.clock)
        self.counters = MemoryCounters()
        self.sent: list[tuple[str, list[Delivery]]] = []
        self.ingestor = Ingestor(
            merchant="acme", provider=provider, platforms=["postscript"],
            enqueue=lambda platform, batch: self.sent.append((platform, batch)), mapper=Mapper(),
            cursors=self.cursors, ledger=self.ledger, quarantine=self.quarantine, counters=self.counters,
            clock=self.clock, lookback_s=lookback_s, batch_size=3, seen_ttl_s=3600)

    def delivered_ids(self) -> list[str]:
        return [d.item.properties["Transaction ID"] for _, batch in self.sent for d in batch]  # type: ignore[misc]


def test_first_sync_pulls_everything_and_sets_the_watermark() -> None:
    smile = FakeSmile()
    for i in range(5):
        smile.add(i, T0 + timedelta(seconds=i))
    h = Harness(smile)
    report = h.ingestor.sync()
    assert sorted(h.delivered_ids()) == [0, 1, 2, 3, 4]
    assert all(len(batch) <= 3 for _, batch in h.sent)
    state = h.cursors.get("acme", "smile", "points_transactions")
    assert state.watermark == (T0 + timedelta(seconds=4)).isoformat() and not state.in_progress
    assert report.pulled == 5 and report.enqueued == 5
    assert h.counters.get("acme")["syncs_completed"] == 1


def test_next_sync_starts_lookback_before_the_watermark_and_drops_what_was_handed_over() -> None:
    smile = FakeSmile()
    smile.add(1, T0)
    h = Harness(smile, lookback_s=60)
    h.ingestor.sync()
    smile.add(2, T0)  # same timestamp as the watermark: must not be lost
    smile.add(3, T0 + timedelta(seconds=30))
    h.ingestor.sync()
    assert smile.calls[-1][0] == T0 - timedelta(seconds=60)
    assert sorted(h.delivered_ids()) == [1, 2, 3]  # each exactly once
    assert h.counters.get("acme")["repulled"] == 1


def test_killed_sync_resumes_from_the_last_checkpointed_page_and_keeps_the_watermark() -> None:
    smile = FakeSmile(size=2)
    for i in range(6):
        smile.add(i, T0 + timedelta(seconds=i))
    h = Harness(smile)
    smile.fail_after_pages = 2
    with pytest.raises(RetriableError):
        h.ingestor.sync()
    state = h.cursors.get("acme", "smile", "points_transactions")
    assert state.in_progress and state.page_cursor == "4" and state.watermark is None
    smile.fail_after_pages = None
    h.ingestor.sync()
    assert smile.calls[-1] == (None, "4")
    assert sorted(h.delivered_ids()) == [0, 1, 2, 3, 4, 5]
    assert h.cursors.get("acme", "smile", "points_transactions").watermark == (T0 + timedelta(seconds=5)).isoformat()


def test_rejected_records_are_quarantined_with_payload_and_field() -> None:
    smile = FakeSmile()
    smile.add(1, T0)
    smile.rejected = [Rejected("points_transactions", {"id": 9, "points_change": "x"},
                               InvalidRecord("Not a valid integer.", provider="smile",
                                             field="points_transactions.points_change"))]
    h = Harness(smile)
    h.ingestor.sync()
    (entry,) = [e for _, e in h.quarantine.read("lp:quarantine:smile")]
    assert entry["field"] == "points_transactions.points_change"
    assert entry["payload"] == {"id": 9, "points_change": "x"} and entry["merchant"] == "acme"
    assert h.delivered_ids() == [1]
    assert h.counters.get("acme")["quarantined"] == 1


def test_batches_are_cut_per_platform_and_larger_where_a_bulk_endpoint_takes_more() -> None:
    from pipeline.ingest import enqueue_batches
    from pipeline.types import Delivery
    from tests.factories import event

    got: list[tuple[str, int]] = []
    deliveries = [Delivery(platform=p, item=event(id=f"{p}{i}")) for p in ("postscript", "klaviyo") for i in range(1200)]
    enqueue_batches(lambda platform, batch: got.append((platform, len(batch))), deliveries,
                    ["postscript", "klaviyo"], 100)
    assert [n for p, n in got if p == "postscript"] == [100] * 12
    assert [n for p, n in got if p == "klaviyo"] == [1000, 200]  # one bulk create request each
