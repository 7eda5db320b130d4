"""Parallel ingest (pipeline/fanout.py, the run/stream/page jobs of pipeline/jobs.py): pages handed
over by parallel tasks in any order, under the cursor rules of the in-order sync (inclusive lower
bound, a checkpoint per page, a watermark that moves once the whole window is handed over), and
resumable wherever a fetcher or a page task dies. In-memory twins here; the Redis scripts are
run against real Redis in tests/state/test_windows.py and at the end of this file."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, ClassVar

import pytest

from pipeline.clock import FrozenClock
from pipeline.errors import AuthError, RetriableError
from pipeline.fanout import Fanout
from pipeline.ingest import Ingestor
from pipeline.jobs import (
    PAGE_KIND,
    SYNC_LEASE_S,
    page_lease,
    parse_lease,
    run_page,
    run_stream,
    start_sync,
    stream_lease,
)
from pipeline.providers.base import Page
from pipeline.providers.resources import decode
from pipeline.state.counters import MemoryCounters
from pipeline.state.credentials import MemoryCredentialStore
from pipeline.state.cursors import MemoryCursorStore, RedisCursorStore
from pipeline.state.journal import MemoryJournal
from pipeline.state.leases import MemoryLeases
from pipeline.state.ledger import MemoryLedger
from pipeline.state.scopes import MemoryScopeStore
from pipeline.state.windows import MemoryWindows, RedisWindows, Step
from pipeline.transform.mapper import Mapper
from pipeline.types import Customer, Delivery
from tests.factories import T0, smile_customer, smile_txn

STREAM = "points_transactions"


class FakePaged:
    """Smile-like: newest-first pages of raw records over ``updated_at >= since``; can fail."""

    kind: ClassVar[str] = "smile"
    streams: ClassVar[tuple[str, ...]] = ("customers", STREAM)
    identity_streams: ClassVar[tuple[str, ...]] = ("customers",)
    parallel_streams: ClassVar[tuple[str, ...]] = (STREAM,)

    def __init__(self, size: int = 2) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {"customers": [], STREAM: []}
        self.size = size
        self.fail_after_pages: int | None = None
        self.calls: list[tuple[datetime | None, str | None]] = []

    def add(self, id: int, at: datetime) -> None:  # noqa: A002
        self.rows[STREAM].append(smile_txn(id, customer_id=id, updated_at=at.isoformat().replace("+00:00", "Z")))

    def fetch_pages(
        self, stream: str, *, since: datetime | None, cursor: str | None
    ) -> Iterator[tuple[list[Any], str | None]]:
        self.calls.append((since, cursor))
        rows = sorted(
            (
                r
                for r in self.rows[stream]
                if since is None or datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) >= since
            ),
            key=lambda r: -r["id"],
        )
        start, served = int(cursor or 0), 0
        while True:
            if self.fail_after_pages is not None and served >= self.fail_after_pages:
                raise RetriableError("provider went away")
            chunk, start = rows[start : start + self.size], start + self.size
            nxt = str(start) if start < len(rows) else None
            yield chunk, nxt
            served += 1
            if nxt is None:
                return

    def parse(self, stream: str, raw_records: list[Any]) -> Page:
        records = [decode("smile", stream, r, merchant="acme") for r in raw_records]
        return Page(
            records=[
                replace(
                    r,
                    customer=Customer(
                        provider_id=r.customer.provider_id, email=f"c{r.customer.provider_id}@example.test"
                    ),
                )
                for r in records
            ]
        )

    def pages(self, stream: str, *, since: datetime | None, cursor: str | None) -> Iterator[Page]:
        for raw, nxt in self.fetch_pages(stream, since=since, cursor=cursor):
            yield replace(self.parse(stream, raw), next_cursor=nxt)


class Harness:
    def __init__(self, provider: FakePaged, lookback_s: float = 60, windows: Any = None, cursors: Any = None) -> None:
        self.provider = provider
        self.clock = FrozenClock(T0)
        self.cursors = cursors if cursors is not None else MemoryCursorStore()
        self.windows = windows if windows is not None else MemoryWindows(self.cursors)
        self.ledger = MemoryLedger(self.clock)
        self.counters = MemoryCounters()
        self.leases = MemoryLeases()
        self.credentials = MemoryCredentialStore()
        self.scopes = MemoryScopeStore()
        self.sent: list[Delivery] = []
        self.offered_pages: list[tuple[str, int]] = []
        self.offered_streams: list[str] = []
        self.lookback_s = lookback_s
        self.fail_enqueue = False

    def enqueue(self, platform: str, batch: list[Delivery]) -> None:
        if self.fail_enqueue:
            raise ConnectionError("broker went away")
        self.sent.extend(batch)

    def ingestor(self) -> Ingestor:
        return Ingestor(
            merchant="acme",
            provider=self.provider,
            platforms=["postscript"],  # type: ignore[arg-type]
            enqueue=self.enqueue,
            mapper=Mapper(),
            cursors=self.cursors,
            ledger=self.ledger,
            quarantine=MemoryJournal(self.clock),
            counters=self.counters,
            clock=self.clock,
            lookback_s=self.lookback_s,
            batch_size=100,
            seen_ttl_s=3600,
        )

    def fanout(self) -> Fanout:
        return Fanout(self.ingestor(), self.windows)

    def offer_page(self, window_id: str, index: int) -> bool:
        self.offered_pages.append((window_id, index))
        return True

    def fetch(self) -> bool:
        return self.fanout().fetch(STREAM, offer=self.offer_page)

    def hand_over_offered(self, order: random.Random | None = None) -> None:
        pages, self.offered_pages = list(dict.fromkeys(self.offered_pages)), []
        if order is not None:
            order.shuffle(pages)
        for window_id, index in pages:
            self.fanout().hand_over(STREAM, window_id, index)

    def watermark(self) -> str | None:
        return self.cursors.get("acme", "smile", STREAM).watermark

    def delivered(self) -> list[int]:
        return sorted(
            d.item.properties["Transaction ID"]
            for d in self.sent  # type: ignore[type-var]
            if "Transaction ID" in d.item.properties
        )


def _at(i: int) -> datetime:
    return T0 + timedelta(seconds=i)


def test_pages_handed_over_in_any_order_move_the_watermark_once_all_are_in() -> None:
    smile = FakePaged(size=2)
    for i in range(7):
        smile.add(i, _at(i))
    h = Harness(smile)
    assert h.fetch() is False  # 4 pages kept and offered; nothing handed over yet
    assert [i for _, i in h.offered_pages] == [0, 1, 2, 3]
    assert h.watermark() is None and h.cursors.get("acme", "smile", STREAM).page_cursor is None  # past the last page
    pages = list(dict.fromkeys(h.offered_pages))
    random.Random(5).shuffle(pages)
    for n, (window_id, index) in enumerate(pages):
        outcome = h.fanout().hand_over(STREAM, window_id, index)
        assert outcome.closed is (n == len(pages) - 1)
        assert (h.watermark() is None) is (n < len(pages) - 1)  # not before the whole window is in
    assert h.watermark() == _at(6).isoformat()
    assert h.delivered() == list(range(7))
    assert h.windows.get("acme", "smile", STREAM) is None


def test_a_page_handed_over_twice_counts_once() -> None:
    smile = FakePaged(size=2)
    for i in range(3):
        smile.add(i, _at(i))
    h = Harness(smile)
    h.fetch()
    window_id, _ = h.offered_pages[0]
    first = h.fanout().hand_over(STREAM, window_id, 0)
    again = h.fanout().hand_over(STREAM, window_id, 0)  # a late copy of its task
    assert first.handed_over and not again.handed_over and not again.closed
    h.fanout().hand_over(STREAM, window_id, 1)
    assert h.delivered() == [0, 1, 2] and h.watermark() == _at(2).isoformat()


def test_a_killed_fetcher_resumes_at_its_checkpoint_and_the_kept_pages_are_offered_again() -> None:
    smile = FakePaged(size=2)
    for i in range(6):
        smile.add(i, _at(i))
    h = Harness(smile)
    smile.fail_after_pages = 2
    with pytest.raises(RetriableError):
        h.fetch()
    state = h.cursors.get("acme", "smile", STREAM)
    assert state.in_progress and state.page_cursor == "4" and state.watermark is None
    h.offered_pages = []  # the offers were lost with the fetcher
    smile.fail_after_pages = None
    h.fetch()
    assert smile.calls[-1] == (None, "4")  # resumed at the checkpoint, not at the start
    assert sorted(i for _, i in h.offered_pages) == [0, 1, 2]  # the two kept pages again, and the last one
    h.hand_over_offered(random.Random(1))
    assert h.delivered() == list(range(6))
    assert h.watermark() == _at(5).isoformat()


def test_a_page_task_that_dies_leaves_its_page_pending_and_the_watermark_where_it_was() -> None:
    smile = FakePaged(size=2)
    for i in range(4):
        smile.add(i, _at(i))
    h = Harness(smile)
    h.fetch()
    window_id, _ = h.offered_pages[0]
    h.fanout().hand_over(STREAM, window_id, 1)
    h.fail_enqueue = True
    with pytest.raises(ConnectionError):
        h.fanout().hand_over(STREAM, window_id, 0)
    assert h.watermark() is None
    assert h.windows.get("acme", "smile", STREAM).pending == (0,)  # type: ignore[union-attr]
    h.fail_enqueue, h.offered_pages = False, []
    h.fetch()  # the next fetcher (or the dispatcher) offers it again
    assert h.offered_pages == [(window_id, 0)]
    h.hand_over_offered()
    assert h.delivered() == [0, 1, 2, 3] and h.watermark() == _at(3).isoformat()


def test_next_window_starts_lookback_before_the_watermark_inclusive_and_drops_what_was_handed_over() -> None:
    smile = FakePaged(size=2)
    smile.add(1, T0)
    h = Harness(smile, lookback_s=60)
    h.fetch()
    h.hand_over_offered()
    smile.add(2, T0)  # at the watermark exactly: must not be lost
    smile.add(3, _at(30))
    h.fetch()
    assert smile.calls[-1][0] == T0 - timedelta(seconds=60)
    h.hand_over_offered()
    assert h.delivered() == [1, 2, 3]  # each once
    assert h.counters.get("acme")["repulled"] == 1
    assert h.watermark() == _at(30).isoformat()


def test_an_empty_window_closes_at_once_and_keeps_the_watermark() -> None:
    smile = FakePaged(size=2)
    smile.add(1, T0)
    h = Harness(smile, lookback_s=0)
    h.fetch()
    h.hand_over_offered()
    smile.rows[STREAM].clear()
    assert h.fetch() is True
    assert h.watermark() == T0.isoformat() and h.windows.get("acme", "smile", STREAM) is None


def test_a_stale_fetcher_changes_nothing() -> None:
    smile = FakePaged(size=2)
    for i in range(4):
        smile.add(i, _at(i))
    h = Harness(smile)
    windows = h.windows
    assert windows.open("acme", "smile", STREAM, window_id="w1", state=h.cursors.get("acme", "smile", STREAM))
    before = h.cursors.get("acme", "smile", STREAM)
    step = windows.add_page(
        "acme", "smile", STREAM, window_id="w0", index=0, body="[]", state=replace(before, page_cursor="x"), last=False
    )
    assert step is Step.STALE and h.cursors.get("acme", "smile", STREAM) == before
    assert (
        windows.add_page("acme", "smile", STREAM, window_id="w1", index=3, body="[]", state=before, last=False)
        is Step.STALE
    )  # not the next page
    assert not windows.close("acme", "smile", STREAM, window_id="w0", state=replace(before, watermark="x"))


def test_an_in_order_checkpoint_is_continued_by_the_parallel_path() -> None:
    smile = FakePaged(size=2)
    for i in range(6):
        smile.add(i, _at(i))
    h = Harness(smile)
    smile.fail_after_pages = 1
    report_sync = h.ingestor()
    with pytest.raises(RetriableError):
        report_sync.sync()  # the in-order sync stopped after its first page (ids 5 and 4)
    smile.fail_after_pages = None
    h.fetch()
    assert smile.calls[-1] == (None, "2")
    h.hand_over_offered()
    assert h.delivered() == list(range(6)) and h.watermark() == _at(5).isoformat()


# --- the jobs: a run's streams in order, leases, credentials ------------------------------------------------
def _run_stream(h: Harness, stream: str, holder: str = "t1") -> Any:
    return run_stream(
        merchant="acme",
        stream=stream,
        ingestor=h.ingestor,
        windows=h.windows,
        leases=h.leases,
        holder=holder,
        credentials=h.credentials,
        scopes=h.scopes,
        counters=h.counters,
        clock=h.clock,
        offer_page=h.offer_page,
        offer_stream=lambda s: h.offered_streams.append(s) is None,
    )


def _run_page(h: Harness, window_id: str, index: int, holder: str = "p1") -> Any:
    return run_page(
        merchant="acme",
        stream=STREAM,
        window_id=window_id,
        index=index,
        ingestor=h.ingestor,
        windows=h.windows,
        leases=h.leases,
        holder=holder,
        credentials=h.credentials,
        counters=h.counters,
        clock=h.clock,
        offer_stream=lambda s: h.offered_streams.append(s) is None,
    )


def test_a_run_starts_identities_first_then_the_rest_and_counts_one_completed_sync() -> None:
    smile = FakePaged(size=2)
    smile.rows["customers"].append(smile_customer(1))
    for i in range(3):
        smile.add(i, _at(i))
    h = Harness(smile)

    def start() -> Any:
        return start_sync(
            merchant="acme",
            provider="smile",
            streams=smile.streams,
            identity_streams=smile.identity_streams,
            interval_s=300,
            ledger=h.ledger,
            credentials=h.credentials,
            windows=h.windows,
            clock=h.clock,
            offer=lambda s: h.offered_streams.append(s) is None,
        )

    assert start().status == "started" and h.offered_streams == ["customers"]
    assert start().status == "duplicate_slot"
    h.clock.advance(300)
    assert start().status == "already_running"  # the next slot: the run goes on, its started stream offered again
    assert h.offered_streams == ["customers", "customers"]
    h.offered_streams = ["customers"]
    assert _run_stream(h, "customers").status == "done"  # in order, by its fetcher
    assert h.offered_streams == ["customers", STREAM]  # then the others
    assert _run_stream(h, STREAM).status == "fetched"
    assert h.counters.get("acme")["syncs_completed"] == 0
    window_id = h.offered_pages[0][0]
    assert [_run_page(h, window_id, i).status for i in (1, 0)] == ["done", "done"]
    assert h.counters.get("acme")["syncs_completed"] == 1  # when the last window closed
    assert h.delivered() == [0, 1, 2] and h.watermark() == _at(2).isoformat()


def test_a_page_whose_holder_died_is_taken_over_and_a_live_one_is_left_alone() -> None:
    smile = FakePaged(size=2)
    for i in range(2):
        smile.add(i, _at(i))
    h = Harness(smile)
    h.windows.open_run("acme", {STREAM: "first"}, ttl_s=60)
    _run_stream(h, STREAM)
    window_id = h.offered_pages[0][0]
    name = page_lease("acme", STREAM, window_id, 0)
    assert parse_lease(PAGE_KIND, name) == ("acme", STREAM, window_id, 0)
    h.leases.acquire(PAGE_KIND, name, "dead", now_s=h.clock.now().timestamp(), ttl_s=SYNC_LEASE_S)
    assert _run_page(h, window_id, 0).status == "already_running"  # its holder may still be at it
    h.clock.advance(SYNC_LEASE_S + 1)
    assert h.leases.expired(PAGE_KIND, now_s=h.clock.now().timestamp()) == [(name, "dead")]  # the dispatcher's turn
    assert _run_page(h, window_id, 0).status == "done"
    assert h.delivered() == [0, 1] and h.counters.get("acme")["syncs_completed"] == 1


def test_a_busy_stream_is_not_fetched_twice() -> None:
    h = Harness(FakePaged())
    h.leases.acquire("stream", stream_lease("acme", STREAM), "other", now_s=h.clock.now().timestamp(), ttl_s=60)
    assert _run_stream(h, STREAM).status == "already_running"
    assert h.provider.calls == []


def test_a_refused_credential_pauses_the_connection_and_ends_the_run() -> None:
    class Refused(FakePaged):
        def fetch_pages(self, stream: str, **_: Any) -> Iterator[tuple[list[Any], str | None]]:
            raise AuthError("smile answered 401", status=401)
            yield [], None

    h = Harness(Refused())
    h.windows.open_run("acme", {STREAM: "first"}, ttl_s=60)
    assert _run_stream(h, STREAM).status == "credential_refused"
    assert h.credentials.get("acme", "provider", "smile") is not None
    assert h.windows.open_run("acme", {STREAM: "first"}, ttl_s=60)  # the run was given up


@pytest.mark.redis
def test_the_parallel_path_on_real_redis(real_redis: Any) -> None:
    smile = FakePaged(size=3)
    for i in range(10):
        smile.add(i, _at(i))
    cursors = RedisCursorStore(real_redis)
    h = Harness(smile, windows=RedisWindows(real_redis), cursors=cursors)
    smile.fail_after_pages = 2
    with pytest.raises(RetriableError):
        h.fetch()
    h.hand_over_offered(random.Random(2))  # the kept pages go on while the fetcher is down
    assert h.watermark() is None
    smile.fail_after_pages = None
    h.fetch()
    h.hand_over_offered(random.Random(3))
    assert h.delivered() == list(range(10))
    assert h.watermark() == _at(9).isoformat()
    assert not cursors.get("acme", "smile", STREAM).in_progress


def test_missing_scopes_skip_streams_and_pause_only_when_no_stream_can_be_read() -> None:
    from pipeline.errors import ScopeMissing

    class Scoped(FakePaged):
        def __init__(self, readable: set[str]) -> None:
            super().__init__()
            self.readable = readable

        def fetch_pages(self, stream: str, **kw: Any) -> Iterator[tuple[list[Any], str | None]]:
            if stream not in self.readable:
                raise ScopeMissing(f"no scope for {stream}", stream=stream, scope=f"{stream}:read", status=403)
            yield from super().fetch_pages(stream, **kw)

    for readable, paused in (({"customers"}, False), (set(), True)):
        h = Harness(Scoped(readable))
        h.provider.rows["customers"].append(smile_customer(1))
        h.windows.open_run("acme", {"customers": "first", STREAM: "then"}, ttl_s=60)
        first = _run_stream(h, "customers")
        assert first.status == "done"
        assert h.offered_streams == [STREAM]  # skipped or not, the identities are done: the rest starts
        last = _run_stream(h, STREAM)
        assert last.status == ("credential_refused" if paused else "done")
        assert (h.credentials.get("acme", "provider", "smile") is not None) is paused
        assert {m.stream for m in h.scopes.get("acme", "smile")} == {"customers", STREAM} - readable


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_the_fetch_pauses_with_enough_pages_pending_and_the_page_task_that_drains_them_resumes_it(
    backend: str, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    import pipeline.fanout as fanout

    monkeypatch.setattr(fanout, "MAX_PENDING_PAGES", 3)
    monkeypatch.setattr(fanout, "RESUME_AT_PAGES", 1)
    smile = FakePaged(size=2)
    for i in range(14):
        smile.add(i, _at(i))
    if backend == "redis":
        r = request.getfixturevalue("real_redis")
        h = Harness(smile, windows=RedisWindows(r), cursors=RedisCursorStore(r))
    else:
        h = Harness(smile)
    h.windows.open_run("acme", {STREAM: "first"}, ttl_s=60)
    assert _run_stream(h, STREAM).status == "fetched"
    assert len(h.offered_pages) == 3 and h.cursors.get("acme", "smile", STREAM).page_cursor == "6"  # paused at 3
    assert h.windows.get("acme", "smile", STREAM).paused  # type: ignore[union-attr]
    resumed = 0
    while h.offered_pages or h.offered_streams:
        if h.offered_streams:  # a page task that drained the window started a fetcher again
            h.offered_streams.pop()
            resumed += 1
            _run_stream(h, STREAM)
            continue
        window_id, index = h.offered_pages.pop(0)
        _run_page(h, window_id, index)
        window = h.windows.get("acme", "smile", STREAM)
        assert window is None or len(window.pending) <= 3  # never more than MAX_PENDING_PAGES kept
    assert resumed >= 2
    assert h.delivered() == list(range(14))  # each once
    assert h.watermark() == _at(13).isoformat() and h.counters.get("acme")["syncs_completed"] == 1
    assert len([c for c in smile.calls if c[1] is not None]) >= 2  # the fetch went on from its checkpoints
