"""Dead-letter operations: filters, replay (dry run and real, paced, through the normal
delivery path), removal only after success, purge."""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

import pytest

from pipeline.clock import FrozenClock
from pipeline.delivery import Deliverer
from pipeline.destinations.base import SendResult
from pipeline.dlq import DlqFilter, entries, purge, replay
from pipeline.errors import FatalError, RetriableError
from pipeline.state.counters import MemoryCounters
from pipeline.state.due import MemoryDueStore
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.pauses import MemoryPauses
from pipeline.state.profiles import MemoryProfileStates
from pipeline.types import Delivery, Item
from tests.factories import T0, event

CONNS = [("acme", "postscript")]


class Switch:
    """A platform that rejects everything until it is fixed."""

    kind: ClassVar[str] = "postscript"

    def __init__(self) -> None:
        self.broken: Exception | None = FatalError("postscript POST /api/v2/events answered 400", status=400)
        self.sent: list[str] = []

    def send(self, item: Item, *, delivery_id: str) -> SendResult:
        if self.broken is not None:
            raise self.broken
        self.sent.append(delivery_id)
        return SendResult("delivered", status=202)


@pytest.fixture
def world() -> tuple[Deliverer, Switch, MemoryJournal, MemoryDueStore, FrozenClock]:
    clock = FrozenClock(T0)
    journal, due, dest = MemoryJournal(clock), MemoryDueStore(), Switch()
    d = Deliverer(merchant="acme", platform="postscript", destination=dest, ledger=MemoryLedger(clock),
                  dead_letters=journal, skipped=journal, counters=MemoryCounters(), clock=clock, pauses=MemoryPauses(),
                  profiles=MemoryProfileStates(), dedup_ttl_s=3600, max_attempts=2, retry_base_s=1, retry_max_s=60,
                  rand=lambda: 1.0)
    d.deliver([Delivery(platform="postscript", item=event(id=f"e{i}", name=n))
               for i, n in enumerate(["Smile Points Earned"] * 3 + ["Smile Points Redeemed"] * 2)])
    return d, dest, journal, due, clock


def drain(d: Deliverer, due: MemoryDueStore, clock: FrozenClock) -> None:
    """What the delivery task and release_due do, on the frozen clock."""
    for _ in range(50):
        clock.advance(5)
        now = clock.now().timestamp()
        for batch in due.release("postscript", now_s=now):
            result = d.deliver(batch.deliveries)
            due.finish("postscript", batch.id, merchant="acme", then=[(result.retry, now + result.retry_in_s),
                                                                      (result.deferred, now + result.defer_s)])
        if due.size("postscript") == 0:
            return


def test_filters(world: tuple) -> None:
    _, _, journal, _, _ = world
    everything = list(entries(journal, CONNS, DlqFilter()))
    assert len(everything) == 5 and {e.http_status for e in everything} == {400}
    assert len(list(entries(journal, CONNS, DlqFilter(event_name="Smile Points Redeemed")))) == 2
    assert list(entries(journal, CONNS, DlqFilter(error_class="AuthError"))) == []
    assert list(entries(journal, CONNS, DlqFilter(merchant="other"))) == []
    assert len(list(entries(journal, CONNS, DlqFilter(since=T0, until=T0 + timedelta(seconds=1))))) == 5


def test_replay_by_filter_dry_run_changes_nothing_then_replays_exactly_once(world: tuple) -> None:
    d, dest, journal, due, clock = world
    redeemed = list(entries(journal, CONNS, DlqFilter(event_name="Smile Points Redeemed")))
    dry = replay(redeemed, due=due, clock=clock, share=0.5, rates={}, dry_run=True)
    assert dry.replayed == 2 and due.size("postscript") == 0 and len(list(entries(journal, CONNS, DlqFilter()))) == 5

    dest.broken = None  # the platform is fixed
    report = replay(redeemed, due=due, clock=clock, share=0.5, rates={})
    assert report.replayed == 2 and due.size("postscript") == 1
    drain(d, due, clock)
    assert sorted(dest.sent) == sorted(e.delivery.id for e in redeemed)  # each once
    left = list(entries(journal, CONNS, DlqFilter()))
    assert [e.event_name for e in left] == ["Smile Points Earned"] * 3  # only the replayed ones left

    replay(redeemed, due=due, clock=clock, share=0.5, rates={})  # replaying again sends nothing twice
    drain(d, due, clock)
    assert len(dest.sent) == 2


def test_a_failed_replay_keeps_its_entry_with_every_attempt(world: tuple) -> None:
    d, dest, journal, due, clock = world
    (first, *_) = list(entries(journal, CONNS, DlqFilter()))
    dest.broken = RetriableError("still down", status=503)
    replay([first], due=due, clock=clock, share=1.0, rates={})
    drain(d, due, clock)
    after = [e for e in entries(journal, CONNS, DlqFilter()) if e.delivery.id == first.delivery.id]
    assert len(after) == 1 and after[0].id != first.id and after[0].http_status == 503
    outcomes = [a["outcome"] for a in after[0].attempts]
    assert outcomes[0] == "FatalError" and "replay" in outcomes and outcomes[-1] == "RetriableError"


def test_replay_is_paced_to_a_share_of_the_platform_rate(world: tuple) -> None:
    _, _, journal, due, clock = world
    many = list(entries(journal, CONNS, DlqFilter())) * 20  # 100 deliveries
    report = replay(many, due=due, clock=clock, share=0.5, rates={})
    # Postscript 15 rps × 0.5 share = 7.5/s: the last batch of 20 starts at 80 / 7.5 s
    assert report.batches == 5 and report.paced_over_s == pytest.approx(80 / 7.5)


def test_purge(world: tuple) -> None:
    _, _, journal, _, _ = world
    earned = list(entries(journal, CONNS, DlqFilter(event_name="Smile Points Earned")))
    assert purge(journal, earned, dry_run=True) == 3 and len(list(entries(journal, CONNS, DlqFilter()))) == 5
    assert purge(journal, earned) == 3
    assert [e.event_name for e in entries(journal, CONNS, DlqFilter())] == ["Smile Points Redeemed"] * 2
