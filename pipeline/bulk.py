"""Bulk customer sync: page through every customer of a provider and upsert each one's
profile properties on every connected platform. Run by an operator as the initial sync, and
by beat as the scheduled balance sync (the diff sync then sends only what changed).

* Resumable: the page cursor is checkpointed after every page (in its own cursor namespace,
  so it never disturbs the incremental sync); a crash or Ctrl-C resumes at that page.
* Nothing is sent twice: each profile update has a deterministic delivery id (the ledger
  drops one already acknowledged), and the platforms' diff sync sends only what changed
  (``full`` resends every property once).
* Memory stays flat: one page at a time; deliveries go to the low-priority ``bulk`` queue
  in batches, where Klaviyo gets bulk import jobs and Postscript one request per customer.
* Progress (pages, customers, deliveries, rate) is kept in Redis for ``status``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import redis

from pipeline import keys
from pipeline.clock import Clock
from pipeline.ingest import Enqueue, enqueue_batches
from pipeline.providers.base import Provider
from pipeline.providers.registry import PROVIDER_SPECS
from pipeline.redistext import text_map
from pipeline.state.cursors import CursorState, CursorStore
from pipeline.transform.mapper import Mapper
from pipeline.types import Delivery, ProfileUpdate, goes_to

__all__ = ["BULK_STREAM", "BulkProgress", "BulkReport", "BulkSync", "MemoryBulkProgress", "RedisBulkProgress"]

#: provider → the stream that lists every customer (with their profile properties)
BULK_STREAM: Mapping[str, str] = {s.kind: s.bulk_stream for s in PROVIDER_SPECS}


class BulkProgress(Protocol):
    def update(self, merchant: str, fields: Mapping[str, Any], *, add: Mapping[str, int] | None = None) -> None: ...

    def get(self, merchant: str) -> dict[str, str]: ...


class RedisBulkProgress:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def update(self, merchant: str, fields: Mapping[str, Any], *, add: Mapping[str, int] | None = None) -> None:
        pipe = self._redis.pipeline(transaction=False)
        if fields:
            pipe.hset(keys.bulk(merchant), mapping={k: str(v) for k, v in fields.items()})
        for name, n in (add or {}).items():
            pipe.hincrby(keys.bulk(merchant), name, n)
        pipe.execute()

    def get(self, merchant: str) -> dict[str, str]:
        return text_map(self._redis.hgetall(keys.bulk(merchant)))


class MemoryBulkProgress:
    def __init__(self) -> None:
        self._data: dict[str, dict[str, str]] = {}

    def update(self, merchant: str, fields: Mapping[str, Any], *, add: Mapping[str, int] | None = None) -> None:
        row = self._data.setdefault(merchant, {})
        row.update({k: str(v) for k, v in fields.items()})
        for name, n in (add or {}).items():
            row[name] = str(int(row.get(name, "0")) + n)

    def get(self, merchant: str) -> dict[str, str]:
        return dict(self._data.get(merchant, {}))


@dataclass
class BulkReport:
    pages: int = 0
    customers: int = 0
    deliveries: int = 0
    resumed: bool = False


class BulkSync:
    def __init__(
        self,
        *,
        merchant: str,
        provider: Provider,
        platforms: Sequence[str],
        enqueue: Enqueue,
        mapper: Mapper,
        cursors: CursorStore,
        progress: BulkProgress,
        clock: Clock,
        batch_size: int = 100,
        full: bool = False,
        name: str = "initial",
    ) -> None:
        self._merchant = merchant
        self._provider = provider
        self._platforms = tuple(platforms)
        self._enqueue = enqueue
        self._mapper = mapper
        self._cursors = cursors
        self._progress = progress
        self._clock = clock
        self._batch = batch_size
        self._full = full
        self._name = name  # "initial" (operator) or "balances" (beat): separate checkpoints

    def run(self, on_page: Callable[[int], None] | None = None) -> BulkReport:
        """Sync every customer (resuming a previous run); ``on_page(customers)`` after each page."""
        kind = self._provider.kind
        stream = BULK_STREAM[kind]
        namespace = f"{kind}:bulk:{self._name}"
        state = self._cursors.get(self._merchant, namespace, stream)
        report = BulkReport(resumed=state.in_progress)
        if not state.in_progress:
            state = CursorState(window_start="")
            self._cursors.put(self._merchant, namespace, stream, state)
            self._progress.update(
                self._merchant,
                {
                    "status": "running",
                    "started_at": self._clock.now().isoformat(),
                    "customers": 0,
                    "deliveries": 0,
                    "pages": 0,
                    "full": self._full,
                },
            )
        else:
            self._progress.update(self._merchant, {"status": "running", "resumed_at": self._clock.now().isoformat()})
        for page in self._provider.pages(stream, since=None, cursor=state.page_cursor):
            updates = [i for i in self._mapper.map_all(page.records) if isinstance(i, ProfileUpdate)]
            deliveries = [
                Delivery(platform=p, item=u, full=self._full) for u in updates for p in self._platforms if goes_to(u, p)
            ]
            enqueue_batches(self._enqueue, deliveries, self._platforms, self._batch)
            if page.after_handover is not None:
                page.after_handover()
            state = replace(state, page_cursor=page.next_cursor)
            self._cursors.put(self._merchant, namespace, stream, state)
            report.pages += 1
            report.customers += len(page.records)
            report.deliveries += len(deliveries)
            self._progress.update(
                self._merchant,
                {"updated_at": self._clock.now().isoformat()},
                add={"pages": 1, "customers": len(page.records), "deliveries": len(deliveries)},
            )
            if on_page is not None:
                on_page(len(page.records))
        self._cursors.put(self._merchant, namespace, stream, CursorState(last_success_at=self._clock.now().isoformat()))
        self._progress.update(self._merchant, {"status": "done", "finished_at": self._clock.now().isoformat()})
        return report
