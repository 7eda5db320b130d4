"""Incremental sync of one connection: provider pages → transform → deliveries handed over.

Cursor rules (see ``CursorState``):

* the window's lower bound is inclusive and starts ``lookback_s`` before the watermark;
* record versions already handed over are dropped (ledger keyed by provider, stream,
  record id and ``updated_at``), so the overlap costs nothing downstream;
* state is checkpointed after every page: a killed sync resumes at the page it stopped at;
* the watermark advances only when the whole window has been handed to delivery.

``sync``/``sync_stream`` read a stream page after page in one task. In the workers, a stream whose
pages can be handed over apart (``PagedProvider.parallel_streams``) is fetched by one task and
its pages handed over by parallel tasks (``hand_over_raw``), under the same rules: pipeline/fanout.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, cast

from pipeline import quarantine
from pipeline.clock import Clock
from pipeline.destinations.registry import batch_size as platform_batch_size
from pipeline.errors import AuthError, InvalidRecord, ScopeMissing
from pipeline.providers.base import Page, PagedProvider, Provider
from pipeline.state.counters import Counters
from pipeline.state.cursors import CursorState, CursorStore
from pipeline.state.journal import Journal
from pipeline.state.ledger import Ledger
from pipeline.state.scopes import MemoryScopeStore, ScopeStore
from pipeline.state.seen import LedgerSeen, Seen
from pipeline.transform.mapper import Mapper
from pipeline.types import Delivery, Record, goes_to

__all__ = ["Enqueue", "Ingestor", "SyncReport", "enqueue_batches", "latest"]

#: Hands a batch of deliveries for one platform to the delivery stage (e.g. a Celery task).
Enqueue = Callable[[str, list[Delivery]], None]


def enqueue_batches(
    enqueue: Enqueue, deliveries: Sequence[Delivery], platforms: Sequence[str], batch_size: int
) -> None:
    """Hand deliveries over per platform, in batches of at most ``batch_size`` (more for a
    platform with a larger bulk endpoint: ``destinations.registry.BATCH_SIZES``)."""
    for platform in platforms:
        mine = [d for d in deliveries if d.platform == platform]
        size = platform_batch_size(platform, batch_size)
        for start in range(0, len(mine), size):
            enqueue(platform, mine[start : start + size])


@dataclass
class SyncReport:
    pages: int = 0
    pulled: int = 0
    quarantined: int = 0
    duplicates: int = 0
    transformed: int = 0
    enqueued: int = 0
    streams: dict[str, str] = field(default_factory=dict)  # stream → new watermark
    skipped: dict[str, str] = field(default_factory=dict)  # stream → why it was not read (a missing scope)


class Ingestor:
    """Runs the incremental sync of one merchant's provider account."""

    def __init__(
        self,
        *,
        merchant: str,
        provider: Provider,
        platforms: Sequence[str],
        enqueue: Enqueue,
        mapper: Mapper,
        cursors: CursorStore,
        ledger: Ledger,
        quarantine: Journal,
        counters: Counters,
        clock: Clock,
        lookback_s: float,
        batch_size: int,
        seen_ttl_s: int,
        scopes: ScopeStore | None = None,
        seen: Seen | None = None,
    ) -> None:
        self._merchant = merchant
        self._provider = provider
        self._platforms = tuple(platforms)
        self._enqueue = enqueue
        self._mapper = mapper
        self._cursors = cursors
        self._ledger = ledger
        self._quarantine = quarantine
        self._counters = counters
        self._clock = clock
        self._lookback = timedelta(seconds=lookback_s)
        self._batch_size = batch_size
        self._seen_ttl_s = seen_ttl_s
        self._scopes = scopes if scopes is not None else MemoryScopeStore()
        self._seen: Seen = seen if seen is not None else LedgerSeen(ledger)

    @property
    def merchant(self) -> str:
        return self._merchant

    @property
    def provider(self) -> Provider:
        return self._provider

    @property
    def cursors(self) -> CursorStore:
        return self._cursors

    @property
    def clock(self) -> Clock:
        return self._clock

    def window_start(self, state: CursorState) -> str:
        """The inclusive lower bound of a new window: ``lookback_s`` before the watermark ("" for a full sync)."""
        return (datetime.fromisoformat(state.watermark) - self._lookback).isoformat() if state.watermark else ""

    def sync(self, on_page: Callable[[], None] | None = None) -> SyncReport:
        """Sync every stream of the provider, in its declared order. ``on_page`` is called before
        each page is handed over (it renews the sync's lease, and raises if the lease was lost).

        A stream whose scope the key lacks (``ScopeMissing``) is skipped and recorded for
        ``status``; the others are read. Only when no stream can be read is the key itself
        refused (``AuthError``, which pauses the connection)."""
        report = SyncReport()
        kind = self._provider.kind
        for stream in self._provider.streams:
            try:
                self.sync_stream(stream, report, on_page)
            except ScopeMissing as exc:
                report.skipped[stream] = str(exc)
                self._scopes.missing(
                    self._merchant, kind, stream, scope=exc.scope, at=self._clock.now(), reason=str(exc)
                )
                continue
            self._scopes.granted(self._merchant, kind, stream)
        if report.skipped and len(report.skipped) == len(self._provider.streams):
            raise AuthError(
                f"{kind}: the API key has none of the scopes its streams need ({', '.join(sorted(report.skipped))})",
                status=403,
            )
        self._counters.add(self._merchant, {"syncs_completed": 1})
        return report

    def sync_stream(self, stream: str, report: SyncReport, on_page: Callable[[], None] | None = None) -> None:
        kind = self._provider.kind
        state = self._cursors.get(self._merchant, kind, stream)
        if not state.in_progress:
            state = replace(state, window_start=self.window_start(state), page_cursor=None, max_seen=None)
            self._cursors.put(self._merchant, kind, stream, state)
        since = datetime.fromisoformat(state.window_start) if state.window_start else None
        for page in self._provider.pages(stream, since=since, cursor=state.page_cursor):
            if on_page is not None:
                on_page()
            newest = self._hand_over(stream, page, report)
            max_seen = latest(state.max_seen, newest)
            state = replace(state, page_cursor=page.next_cursor, max_seen=max_seen)
            self._cursors.put(self._merchant, kind, stream, state)
        watermark = latest(state.watermark, state.max_seen)
        self._cursors.put(
            self._merchant,
            kind,
            stream,
            CursorState(watermark=watermark, last_success_at=self._clock.now().isoformat()),
        )
        report.streams[stream] = watermark or ""

    def hand_over_raw(self, stream: str, raw_records: list[Any], report: SyncReport) -> str | None:
        """Parse one raw page of ``stream`` (a ``PagedProvider``'s) and hand it over; its newest
        ``updated_at`` (ISO), for the window's watermark."""
        provider = cast(PagedProvider, self._provider)
        return self._hand_over(stream, provider.parse(stream, raw_records), report)

    def hand_over(self, records: Sequence[Record]) -> SyncReport:
        """Transform and enqueue records that arrived outside a sync (webhooks, re-drives)."""
        report = SyncReport()
        for stream in dict.fromkeys(r.stream for r in records):
            self._hand_over(stream, Page(records=[r for r in records if r.stream == stream]), report)
        return report

    def _hand_over(self, stream: str, page: Page, report: SyncReport) -> str | None:
        """Quarantine, dedup, transform and enqueue one page; returns its newest ``updated_at``."""
        kind = self._provider.kind
        for rejected in page.rejected:
            quarantine.put(
                self._quarantine,
                self._clock,
                merchant=self._merchant,
                provider=kind,
                resource=rejected.stream,
                payload=rejected.payload,
                error=rejected.error,
            )
        now_s = self._clock.now().timestamp()
        by_stream = _by_stream(page.records)
        seen_of = {
            name: self._seen.which_seen(self._merchant, kind, name, [v for _, v in rows], now_s=now_s)
            for name, rows in by_stream.items()
        }
        seen = [False] * len(page.records)
        for name, rows in by_stream.items():
            for (i, _), s in zip(rows, seen_of[name], strict=True):
                seen[i] = s
        fresh = [r for r, s in zip(page.records, seen, strict=True) if not s]
        deliveries: list[Delivery] = []
        quarantined = len(page.rejected)
        transformed = 0
        for record in fresh:
            try:
                items = self._mapper.map(record)
            except InvalidRecord as exc:
                quarantined += 1
                data = {k: v for k, v in record.data.items() if k != "previous" and not k.startswith("_")}
                quarantine.put(
                    self._quarantine,
                    self._clock,
                    merchant=self._merchant,
                    provider=kind,
                    resource=stream,
                    payload=json.loads(json.dumps(data, default=str)),
                    error=exc,
                )
                continue
            transformed += len(items)
            deliveries.extend(
                Delivery(platform=p, item=item) for item in items for p in self._platforms if goes_to(item, p)
            )
        enqueue_batches(self._enqueue, deliveries, self._platforms, self._batch_size)
        if page.after_handover is not None:
            page.after_handover()
        for name, rows in by_stream.items():
            self._seen.mark(
                self._merchant,
                kind,
                name,
                [v for i, v in rows if not seen[i]],
                now_s=self._clock.now().timestamp(),
                ttl_s=self._seen_ttl_s,
            )
        report.pages += 1
        report.pulled += len(page.records) + len(page.rejected)
        report.quarantined += quarantined
        report.duplicates += len(page.records) - len(fresh)
        report.transformed += transformed
        report.enqueued += len(deliveries)
        self._counters.add(
            self._merchant,
            {
                "pulled": len(page.records) + len(page.rejected),
                "quarantined": quarantined,
                "transformed": transformed,
                "enqueued": len(deliveries),
                "repulled": len(page.records) - len(fresh),
            },
        )
        newest = max((r.updated_at for r in page.records), default=None)
        return newest.isoformat() if newest else None


def _by_stream(records: Sequence[Record]) -> dict[str, list[tuple[int, str]]]:
    """(index, version) of each record, by its stream (a page may carry derived records of another)."""
    out: dict[str, list[tuple[int, str]]] = {}
    for i, r in enumerate(records):
        out.setdefault(r.stream, []).append((i, r.version))
    return out


def latest(*stamps: str | None) -> str | None:
    """The latest of ISO timestamps, compared as times (not as strings)."""
    present = [s for s in stamps if s]
    return max(present, key=datetime.fromisoformat) if present else None
