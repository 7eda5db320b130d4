"""Quarantine: records kept whole with the reason, listed, re-driven after a fix."""

from __future__ import annotations

from pipeline import quarantine
from pipeline.clock import FrozenClock
from pipeline.errors import InvalidRecord
from pipeline.state.journal import MemoryJournal
from pipeline.types import Record
from tests.factories import smile_txn


def test_put_list_and_redrive() -> None:
    clock = FrozenClock()
    journal = MemoryJournal(clock)
    bad = smile_txn(1, points_change="lots")
    # quarantined under an older, stricter schema; valid under the current one ("after a fix")
    fixed = smile_txn(2)
    for payload, field in ((bad, "points_transactions.points_change"), (fixed, "points_transactions.description")):
        quarantine.put(journal, clock, merchant="acme", provider="smile", resource="points_transactions",
                       payload=payload, error=InvalidRecord("Not a valid integer.", provider="smile", field=field))
    listed = quarantine.entries(journal, "smile")
    assert [(e.merchant, e.resource, e.field) for e in listed] == [
        ("acme", "points_transactions", "points_transactions.points_change"),
        ("acme", "points_transactions", "points_transactions.description")]
    assert listed[0].payload == bad and "Not a valid integer." in listed[0].error

    handed: list[tuple[str, list[Record]]] = []
    dry = quarantine.redrive(journal, "smile", handover=lambda m, r: handed.append((m, r)), dry_run=True)
    assert dry.redriven == [listed[1].id] and handed == [] and len(quarantine.entries(journal, "smile")) == 2

    report = quarantine.redrive(journal, "smile", handover=lambda m, r: handed.append((m, r)))
    assert report.redriven == [listed[1].id]
    assert report.still_invalid == {listed[0].id: "smile: points_transactions.points_change: Not a valid integer."}
    assert [(m, [r.record_id for r in recs]) for m, recs in handed] == [("acme", ["2"])]
    assert [e.id for e in quarantine.entries(journal, "smile")] == [listed[0].id]


def test_redrive_by_id_only_touches_those() -> None:
    clock = FrozenClock()
    journal = MemoryJournal(clock)
    ids = [quarantine.put(journal, clock, merchant="m", provider="smile", resource="points_transactions",
                          payload=smile_txn(i), error=InvalidRecord("x", provider="smile")) for i in range(3)]
    report = quarantine.redrive(journal, "smile", handover=lambda m, r: None, ids=[ids[1]])
    assert report.redriven == [ids[1]]
    assert [e.id for e in quarantine.entries(journal, "smile")] == [ids[0], ids[2]]
