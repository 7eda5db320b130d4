"""A stream whose pages are handed over by parallel tasks, under the same cursor rules as
``Ingestor.sync_stream``:

* the window's lower bound is inclusive, ``lookback_s`` before the watermark;
* every fetched page is checkpointed: the cursor past it is stored in the same atomic step that
  keeps the page pending (``Windows.add_page``), so a fetcher killed at any point resumes at the
  page after the last one kept, and no kept page is lost;
* the watermark advances only when every page of the window was fetched *and* handed over, to
  the newest ``updated_at`` of all of them (``close``), once.

The fetcher (``fetch``) holds the stream's lease while it fetches; it ``offer``\\ s each page kept
to a page task (the caller enqueues it under a lease on the page, so a page whose task died is
offered again by the workers' dispatcher). A page task (``hand_over``) parses, deduplicates,
transforms and enqueues one page (``Ingestor.hand_over_raw``), then reports it done. The fetcher
offers again any pending page it finds when it starts (a page whose offer never reached the
broker); an offer of a page that a live task already holds does nothing.

Fetching stays sequential (every provider's cursor is opaque); what runs in parallel is the
handing over (validation, transform, deliveries), which is where the CPU goes, across processes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from pipeline.ingest import Ingestor, SyncReport, latest
from pipeline.providers.base import PagedProvider
from pipeline.state.cursors import CursorState
from pipeline.state.leases import LeaseLost
from pipeline.state.windows import Step, Window, Windows

__all__ = ["MAX_PENDING_PAGES", "RESUME_AT_PAGES", "Fanout", "Offer", "PageOutcome", "parallel"]

#: A fetcher stops once this many pages of its window wait to be handed over (they are kept in
#: Redis: a first sync of a large account must not land there whole) ...
MAX_PENDING_PAGES = 32
#: ... and the page task that leaves this many pending starts a fetcher again.
RESUME_AT_PAGES = 8

#: Hands page ``index`` of window ``window_id`` to a page task; False if a live task holds it already.
Offer = Callable[[str, int], bool]


def parallel(ingestor: Ingestor, stream: str) -> bool:
    """Whether ``stream``'s pages are handed over by parallel tasks (else in order, by the fetcher)."""
    return stream in getattr(ingestor.provider, "parallel_streams", ())


@dataclass(frozen=True)
class PageOutcome:
    handed_over: bool  # False: the page was handed over already, or belongs to a window that is gone
    closed: bool  # this call closed the stream's window (its watermark moved)
    report: SyncReport
    resume_fetch: bool = False  # the window's fetch was paused and may go on: start a fetcher


class Fanout:
    def __init__(self, ingestor: Ingestor, windows: Windows) -> None:
        self._ingestor = ingestor
        self._windows = windows
        self._merchant = ingestor.merchant
        self._kind = ingestor.provider.kind

    def _where(self, stream: str) -> tuple[str, str, str]:
        return self._merchant, self._kind, stream

    def fetch(self, stream: str, *, offer: Offer, on_page: Callable[[], None] | None = None) -> bool:
        """Fetch the stream's window (a new one, or the one in progress from its checkpoint), keep
        each page and offer it. True if the window closed here (nothing was left to hand over).

        Raises:
            LeaseLost: the window was taken over by another fetcher.
        """
        window = self._window(stream)
        if window.closing:
            return self.close(stream, window.id)
        for index in window.pending:  # kept by an earlier fetcher; their tasks may be gone
            offer(window.id, index)
        if window.fetched:
            return False
        provider: PagedProvider = self._ingestor.provider  # type: ignore[assignment]
        state = self._ingestor.cursors.get(*self._where(stream))
        if not state.in_progress:  # the checkpoint was overwritten (an in-order sync ran meanwhile): from the watermark
            state = replace(state, window_start=self._ingestor.window_start(state), page_cursor=None, max_seen=None)
        since = datetime.fromisoformat(state.window_start) if state.window_start else None
        index = window.next_index
        for raw_records, next_cursor in provider.fetch_pages(stream, since=since, cursor=state.page_cursor):
            if on_page is not None:
                on_page()
            state = replace(state, page_cursor=next_cursor)
            body = json.dumps(raw_records, separators=(",", ":")) if raw_records else None
            step = self._windows.add_page(
                *self._where(stream),
                window_id=window.id,
                index=index,
                body=body,
                state=state,
                last=next_cursor is None,
                max_pending=MAX_PENDING_PAGES,
            )
            if step is Step.STALE:
                raise LeaseLost(f"{stream}: the window was taken over by another fetcher")
            if body is not None:
                offer(window.id, index)
            if step is Step.CLOSE:
                return self.close(stream, window.id)
            if step is Step.PAUSE:  # the page task that drains the window starts a fetcher again
                return False
            index += 1
        return False

    def _window(self, stream: str) -> Window:
        """The window in progress, or a new one (from the watermark, or continuing an in-order
        sync's checkpoint: its lower bound, cursor and newest record are kept)."""
        current = self._windows.get(*self._where(stream))
        if current is not None:
            return current
        state = self._ingestor.cursors.get(*self._where(stream))
        if not state.in_progress:
            state = replace(state, window_start=self._ingestor.window_start(state), page_cursor=None, max_seen=None)
        window_id = uuid.uuid4().hex
        if self._windows.open(*self._where(stream), window_id=window_id, state=state):
            return Window(id=window_id, next_index=0, fetched=False, closing=False, pending=())
        opened = self._windows.get(*self._where(stream))  # another fetcher opened one meanwhile
        if opened is None:
            raise LeaseLost(f"{stream}: the window was opened and closed by another fetcher")
        return opened

    def hand_over(self, stream: str, window_id: str, index: int) -> PageOutcome:
        """Hand over page ``index`` of the window (a page task's work); closes the window if this
        was the last page of a fully fetched window."""
        report = SyncReport()
        body = self._windows.page(*self._where(stream), window_id=window_id, index=index)
        if body is None:  # done already (a late copy), or another window: close a window left closing
            window = self._windows.get(*self._where(stream))
            closed = window is not None and window.id == window_id and window.closing and self.close(stream, window_id)
            return PageOutcome(handed_over=False, closed=closed, report=report)
        share = getattr(self._ingestor.provider, "share_identities", None)
        if share is not None:
            share(f"{self._merchant}|{self._kind}|{window_id}")
        newest = self._ingestor.hand_over_raw(stream, json.loads(body), report)
        step = self._windows.page_done(
            *self._where(stream), window_id=window_id, index=index, newest=newest, resume_at=RESUME_AT_PAGES
        )
        closed = step is Step.CLOSE and self.close(stream, window_id)
        return PageOutcome(
            handed_over=step is not Step.STALE, closed=closed, report=report, resume_fetch=step is Step.RESUME
        )

    def close(self, stream: str, window_id: str) -> bool:
        """Move the watermark to the newest record of the whole window and remove the window."""
        window = self._windows.get(*self._where(stream))
        if window is None or window.id != window_id:
            return False
        state = self._ingestor.cursors.get(*self._where(stream))
        watermark = latest(state.watermark, state.max_seen, *window.newest)
        final = CursorState(watermark=watermark, last_success_at=self._ingestor.clock.now().isoformat())
        return self._windows.close(*self._where(stream), window_id=window_id, state=final)
