"""Dead-letter queue operations: list, show, replay and purge, with filters.

Entries live in one Redis stream per (merchant, platform). A replay goes through the normal
delivery path (rate limiter, idempotency ledger, retries): the deliveries are put in the due
set, paced so they take at most ``share`` of the platform's rate, and an entry is removed by
the worker only once its replay succeeded (a failed replay replaces its entry, with every
attempt). ``purge`` is the only other way out.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from pipeline import keys
from pipeline.clock import Clock
from pipeline.delivery import REPLAY
from pipeline.destinations.registry import ENCODINGS
from pipeline.ratelimit.limits import endpoint_class, windows_for
from pipeline.redact import mask
from pipeline.state.due import DueStore
from pipeline.state.journal import Journal
from pipeline.types import Attempt, Delivery

__all__ = ["DeadLetter", "DlqFilter", "ReplayReport", "entries", "purge", "replay", "summary"]

#: Deliveries per replayed batch.
REPLAY_BATCH = 20


@dataclass(frozen=True)
class DeadLetter:
    id: str
    merchant: str
    platform: str
    delivery: Delivery
    event_name: str | None
    kind: str
    error_class: str
    http_status: int | None
    reason: str
    response_excerpt: str
    attempts: list[dict[str, Any]]
    dead_lettered_at: datetime


def summary(e: DeadLetter) -> dict[str, Any]:
    """A dead letter as every listing shows it (``dlq list --json``, the console), masked."""
    return {
        "id": e.id,
        "merchant": e.merchant,
        "platform": e.platform,
        "kind": e.kind,
        "event": e.event_name,
        "error_class": e.error_class,
        "http_status": e.http_status,
        "reason": mask(e.reason),
        "attempts": len(e.attempts),
        "dead_lettered_at": e.dead_lettered_at.isoformat(),
    }


@dataclass(frozen=True)
class DlqFilter:
    """Every given criterion must match (None: any)."""

    merchant: str | None = None
    platform: str | None = None
    error_class: str | None = None
    http_status: int | None = None
    event_name: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: frozenset[str] = field(default_factory=frozenset)

    def matches(self, e: DeadLetter) -> bool:
        return (
            (self.error_class is None or e.error_class == self.error_class)
            and (self.http_status is None or e.http_status == self.http_status)
            and (self.event_name is None or e.event_name == self.event_name)
            and (self.since is None or e.dead_lettered_at >= self.since)
            and (self.until is None or e.dead_lettered_at < self.until)
            and (not self.ids or e.id in self.ids)
        )


def _entry(merchant: str, platform: str, entry_id: str, raw: dict[str, Any]) -> DeadLetter:
    return DeadLetter(
        id=entry_id,
        merchant=merchant,
        platform=platform,
        delivery=Delivery.from_dict(raw["delivery"]),
        event_name=raw.get("event_name"),
        kind=raw.get("kind", ""),
        error_class=raw["error_class"],
        http_status=raw.get("http_status"),
        reason=raw.get("reason", ""),
        response_excerpt=raw.get("response_excerpt", ""),
        attempts=raw.get("attempts", []),
        dead_lettered_at=datetime.fromisoformat(raw["dead_lettered_at"]),
    )


def entries(
    journal: Journal, connections: Iterable[tuple[str, str]], flt: DlqFilter, *, page: int = 500
) -> Iterator[DeadLetter]:
    """Matching entries of the given (merchant, platform) streams, oldest first per stream."""
    for merchant, platform in connections:
        if (flt.merchant and merchant != flt.merchant) or (flt.platform and platform != flt.platform):
            continue
        after: str | None = None
        while rows := journal.read(keys.dlq(merchant, platform), count=page, after=after):
            after = rows[-1][0]
            for entry_id, raw in rows:
                entry = _entry(merchant, platform, entry_id, raw)
                if flt.matches(entry):
                    yield entry


@dataclass
class ReplayReport:
    replayed: int = 0
    batches: int = 0
    paced_over_s: float = 0.0
    by_connection: dict[str, int] = field(default_factory=dict)


def _rate(platform: str, rate_per_s: float | None) -> float:
    """The rate of the platform's event endpoint (the class its spec's event path falls in)."""
    path = ENCODINGS[platform].event_path if platform in ENCODINGS else ""
    windows = windows_for(platform, endpoint_class(platform, path), rate_per_s=rate_per_s)
    return min(w.limit / w.period_s for w in windows)


def replay(
    selected: Sequence[DeadLetter],
    *,
    due: DueStore,
    clock: Clock,
    share: float,
    rates: dict[tuple[str, str], float | None],
    dry_run: bool = False,
) -> ReplayReport:
    """Schedule the selected entries for delivery again, paced at ``share`` of each
    platform's rate (``rates``: the connection's configured rate, None for the defaults)."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    report = ReplayReport()
    groups: dict[tuple[str, str], list[DeadLetter]] = {}
    for e in selected:
        groups.setdefault((e.merchant, e.platform), []).append(e)
    now = clock.now()
    for (merchant, platform), items in groups.items():
        per_s = _rate(platform, rates.get((merchant, platform))) * share
        for start in range(0, len(items), REPLAY_BATCH):
            chunk = items[start : start + REPLAY_BATCH]
            offset = start / per_s
            deliveries = [
                replace(e.delivery, replay_of=e.id, attempts=(*e.delivery.attempts, Attempt(at=now, outcome=REPLAY)))
                for e in chunk
            ]
            if not dry_run:
                due.add(merchant, platform, deliveries, due_at_s=(now + timedelta(seconds=offset)).timestamp())
            report.batches += 1
            report.paced_over_s = max(report.paced_over_s, offset)
        report.replayed += len(items)
        report.by_connection[f"{merchant}/{platform}"] = len(items)
    return report


def purge(journal: Journal, selected: Sequence[DeadLetter], *, dry_run: bool = False) -> int:
    """Remove the selected entries for good; returns how many."""
    if dry_run:
        return len(selected)
    return sum(journal.delete(keys.dlq(e.merchant, e.platform), e.id) for e in selected)
