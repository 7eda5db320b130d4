"""Quarantined provider records: kept whole with the reason, listed, and re-driven after a fix.

A record that fails validation never fails its batch and is never dropped: it goes to the
provider's quarantine stream with the merchant, the resource, the raw payload and an error
naming the field. ``redrive`` decodes it again with the current schemas and, if it now
passes, hands it to delivery and removes it; if not, it stays with its (new) reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline import keys
from pipeline.clock import Clock
from pipeline.errors import InvalidRecord
from pipeline.providers.resources import decode
from pipeline.state.journal import Journal
from pipeline.types import Record

__all__ = ["QuarantineEntry", "RedriveReport", "entries", "put", "redrive"]


@dataclass(frozen=True)
class QuarantineEntry:
    id: str
    merchant: str
    provider: str
    resource: str
    field: str | None
    error: str
    at: str
    payload: Mapping[str, Any]
    extra: Mapping[str, Any]


def put(
    journal: Journal,
    clock: Clock,
    *,
    merchant: str,
    provider: str,
    resource: str,
    payload: Mapping[str, Any],
    error: InvalidRecord,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """Quarantine one record; returns the entry id."""
    return journal.append(
        keys.quarantine(provider),
        {
            "merchant": merchant,
            "provider": provider,
            "stream": resource,
            "field": error.field,
            "error": str(error),
            "payload": dict(payload),
            "extra": dict(extra or {}),
            "at": clock.now().isoformat(),
        },
    )


def entries(journal: Journal, provider: str, *, count: int = 100, after: str | None = None) -> list[QuarantineEntry]:
    """Quarantined records of one provider, oldest first."""
    return [
        QuarantineEntry(
            id=entry_id,
            merchant=e["merchant"],
            provider=e["provider"],
            resource=e["stream"],
            field=e.get("field"),
            error=e["error"],
            at=e["at"],
            payload=e["payload"],
            extra=e.get("extra") or {},
        )
        for entry_id, e in journal.read(keys.quarantine(provider), count=count, after=after)
    ]


@dataclass
class RedriveReport:
    redriven: list[str] = field(default_factory=list)
    still_invalid: dict[str, str] = field(default_factory=dict)


def redrive(
    journal: Journal,
    provider: str,
    *,
    handover: Callable[[str, list[Record]], None],
    ids: Iterable[str] | None = None,
    dry_run: bool = False,
    batch: int = 500,
) -> RedriveReport:
    """Decode quarantined records again; hand the valid ones over and remove them.

    Args:
        handover: ``(merchant, records)`` → enqueues their deliveries (the normal path, so
            dedup and idempotency apply).
        ids: only these entries (default: every entry of the provider).
        dry_run: report what would happen; change nothing.
    """
    wanted = set(ids) if ids is not None else None
    report = RedriveReport()
    after: str | None = None
    while True:
        page = entries(journal, provider, count=batch, after=after)
        if not page:
            return report
        after = page[-1].id
        for entry in page:
            if wanted is not None and entry.id not in wanted:
                continue
            try:
                record = decode(provider, entry.resource, entry.payload, merchant=entry.merchant, extra=entry.extra)
            except InvalidRecord as exc:
                report.still_invalid[entry.id] = str(exc)
                continue
            if not dry_run:
                handover(entry.merchant, [record])
                journal.delete(keys.quarantine(provider), entry.id)
            report.redriven.append(entry.id)
