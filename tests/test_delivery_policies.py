"""Delivery policies on in-memory parts: deferral without attempts, pauses, the dead-letter
guard, last write wins and diff-based property sync."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import ClassVar

from pipeline.clock import FrozenClock
from pipeline.delivery import DLQ_GUARD_STREAK, Deliverer
from pipeline.destinations.base import SendResult
from pipeline.destinations.memory import MemoryBulkDestination, MemoryDestination
from pipeline.errors import AuthError, FatalError, RateLimited, Throttled
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.pauses import MemoryPauses
from pipeline.state.profiles import MemoryProfileStates
from pipeline.types import Delivery, Item
from tests.factories import T0, event, profile


class Scripted(MemoryDestination):
    """The shipped twin, as these tests read it: ``sent`` holds the items single sends delivered."""

    kind: ClassVar[str] = "postscript"

    @property
    def sent(self) -> list[Item]:  # type: ignore[override]
        return [r.items[0] for r in self.requests if r.method == "send" and r.accepted]


class H:
    def __init__(self, *outcomes: object, max_attempts: int = 3, dest: Scripted | None = None) -> None:
        self.clock = FrozenClock(T0)
        self.dest = dest or Scripted(*outcomes)
        self.pauses = MemoryPauses()
        self.profiles = MemoryProfileStates()
        self.journal = MemoryJournal(self.clock)
        self.d = Deliverer(merchant="acme", platform="postscript", destination=self.dest,
                           ledger=MemoryLedger(self.clock), dead_letters=self.journal, skipped=self.journal,
                           counters=MemoryCounters(), clock=self.clock, pauses=self.pauses, profiles=self.profiles,
                           dedup_ttl_s=3600, max_attempts=max_attempts, retry_base_s=1, retry_max_s=60,
                           rand=lambda: 1.0)


def batch(*ids: str) -> list[Delivery]:
    return [Delivery(platform="postscript", item=event(id=i)) for i in ids]


def test_our_limiter_saying_not_now_defers_the_rest_without_an_attempt() -> None:
    h = H(SendResult("delivered"), Throttled("busy", retry_after_s=2.5))
    result = h.d.deliver(batch("a", "b", "c"))
    assert result.delivered == 1 and [d.item.id for d in result.deferred] == ["b", "c"]
    assert result.defer_s == 2.5 and all(d.attempts == () for d in result.deferred)


def test_platform_429s_do_not_use_up_attempts() -> None:
    h = H(*(RateLimited("429", status=429) for _ in range(5)), max_attempts=2)
    pending = batch("a")
    for _ in range(5):
        pending = h.d.deliver(pending).retry
    assert len(pending) == 1 and len(pending[0].attempts) == 5  # still retrying, every attempt kept


def test_a_refused_credential_dead_letters_that_delivery_and_pauses_the_rest() -> None:
    h = H(AuthError("401", status=401))
    result = h.d.deliver(batch("a", "b"))
    assert result.dead_lettered == 1 and [d.item.id for d in result.deferred] == ["b"]
    (entry,) = [e for _, e in h.journal.read("lp:dlq:acme:postscript")]
    assert entry["http_status"] == 401 and entry["error_class"] == "AuthError"
    pause = h.pauses.get("acme", "postscript")
    assert pause is not None and pause.until is not None
    assert h.d.deliver(batch("c")).deferred  # paused: nothing is sent
    assert h.dest.sent == []
    h.clock.advance(timedelta(seconds=901).total_seconds())
    assert h.d.deliver(batch("c")).delivered == 1  # the recheck succeeds and resumes
    assert h.pauses.get("acme", "postscript") is None


def test_the_dead_letter_guard_pauses_a_misconfigured_connection() -> None:
    h = H(*(FatalError("400", status=400) for _ in range(DLQ_GUARD_STREAK)))
    ids = [f"e{i}" for i in range(DLQ_GUARD_STREAK)]
    assert h.d.deliver(batch(*ids)).dead_lettered == DLQ_GUARD_STREAK
    pause = h.pauses.get("acme", "postscript")
    assert pause is not None and pause.until is None and "dead-letter guard" in pause.reason
    assert h.d.deliver(batch("next")).deferred  # held until an operator resumes it
    h.pauses.resume("acme", "postscript")
    assert h.d.deliver(batch("next")).delivered == 1


def test_profile_sync_sends_only_changes_and_never_an_older_value() -> None:
    h = H()
    first = profile(id="p1")
    assert h.d.deliver([Delivery(platform="postscript", item=first)]).delivered == 1
    same = replace(first, id="p2", as_of=T0 + timedelta(minutes=1))
    assert h.d.deliver([Delivery(platform="postscript", item=same)]).unchanged == 1
    newer = replace(first, id="p3", as_of=T0 + timedelta(minutes=2),
                    properties={"Enrolled in Smile": True, "Smile Points Balance": 900})
    assert h.d.deliver([Delivery(platform="postscript", item=newer)]).delivered == 1
    assert h.dest.sent[-1].properties == {"Smile Points Balance": 900}  # only what changed
    older = replace(first, id="p4", as_of=T0 + timedelta(minutes=1),
                    properties={"Enrolled in Smile": True, "Smile Points Balance": 500})
    assert h.d.deliver([Delivery(platform="postscript", item=older)]).unchanged == 1  # stale: dropped
    forced = replace(first, id="p5", as_of=T0 + timedelta(minutes=3))
    assert h.d.deliver([Delivery(platform="postscript", item=forced, full=True)]).delivered == 1
    assert set(h.dest.sent[-1].properties) == {"Enrolled in Smile", "Smile Points Balance"}


class Bulk(Scripted, MemoryBulkDestination):
    kind: ClassVar[str] = "klaviyo"

    @property
    def jobs(self) -> list[list[Item]]:
        return [list(r.items) for r in self.bulk_requests("send_profiles_bulk")]


def test_a_large_batch_of_profile_updates_becomes_one_bulk_job() -> None:
    h = H(dest=Bulk())
    updates = [Delivery(platform="klaviyo", item=profile(email=f"p{i}@example.test", id=f"p{i}")) for i in range(60)]
    result = h.d.deliver([*updates, *batch("e1")])
    assert result.delivered == 61 and len(h.dest.jobs) == 1 and len(h.dest.jobs[0]) == 60
    assert [i.id for i in h.dest.sent] == ["e1"]  # the event went on its own
    assert h.d.deliver(updates).duplicates == 60  # acknowledged: never sent again
