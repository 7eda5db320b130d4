"""Bulk sends inside a batch: many events (or profile updates) to a platform with a bulk
endpoint go in one request, share its outcome, and fall back to one-by-one when refused."""

from __future__ import annotations

from typing import ClassVar

from pipeline import keys
from pipeline.delivery import BULK_MIN_EVENTS
from pipeline.errors import FatalError, RetriableError
from pipeline.state.ledger import MemoryLedger
from pipeline.clock import FrozenClock
from pipeline.destinations.memory import MemoryBulkDestination
from pipeline.types import Delivery
from tests.factories import event
from tests.test_delivery import ScriptedDestination, harness


class BulkDestination(ScriptedDestination, MemoryBulkDestination):
    """The shipped bulk twin; ``bulk`` is what its (one) bulk call raises."""

    kind: ClassVar[str] = "klaviyo"

    def __init__(self, *outcomes: object, bulk: Exception | None = None) -> None:
        MemoryBulkDestination.__init__(self, *outcomes, bulk=[bulk])  # type: ignore[arg-type]

    @property
    def bulk_calls(self) -> list[list[str]]:
        return [list(r.delivery_ids) for r in self.bulk_requests("send_events_bulk")]


def events(n: int) -> list[Delivery]:
    return [Delivery(platform="klaviyo", item=event(id=f"e{i}")) for i in range(n)]


def test_many_events_go_in_one_bulk_request_and_are_acknowledged_once() -> None:
    dest = BulkDestination()
    deliverer, _, counters = harness(dest)
    batch = events(BULK_MIN_EVENTS + 10)
    result = deliverer.deliver(batch, owner="b1")
    assert dest.bulk_calls == [[d.id for d in batch]] and dest.sent == []
    assert result.delivered == len(batch)
    again = deliverer.deliver(batch, owner="b2")
    assert again.duplicates == len(batch) and len(dest.bulk_calls) == 1


def test_few_events_go_one_by_one() -> None:
    dest = BulkDestination()
    deliverer, _, _ = harness(dest)
    assert deliverer.deliver(events(BULK_MIN_EVENTS - 1)).delivered == BULK_MIN_EVENTS - 1
    assert dest.bulk_calls == [] and len(dest.sent) == BULK_MIN_EVENTS - 1


def test_a_refused_bulk_request_is_sent_again_one_by_one_so_only_the_bad_event_is_dead_lettered() -> None:
    batch = events(BULK_MIN_EVENTS)
    outcomes: list[object] = [FatalError("400 at /data/attributes/time", status=400)]  # the first event is bad
    dest = BulkDestination(*outcomes, bulk=FatalError("400: one event refused the request", status=400))
    deliverer, journal, _ = harness(dest)
    result = deliverer.deliver(batch)
    assert len(dest.bulk_calls) == 1 and len(dest.sent) == len(batch)
    assert result.dead_lettered == 1 and result.delivered == len(batch) - 1
    (entry,) = [e for _, e in journal.read("lp:dlq:acme:postscript")]
    assert entry["delivery_id"] == batch[0].id


def test_a_bulk_request_that_failed_in_transit_is_retried_whole() -> None:
    dest = BulkDestination(bulk=RetriableError("503", status=503))
    deliverer, _, _ = harness(dest)
    result = deliverer.deliver(events(BULK_MIN_EVENTS))
    assert len(result.retry) == BULK_MIN_EVENTS and result.delivered == 0
    assert all(d.attempts[-1].status == 503 for d in result.retry)


def test_bulk_events_another_batch_is_sending_wait_and_those_it_acknowledged_are_not_sent() -> None:
    ledger = MemoryLedger(FrozenClock())
    batch = events(BULK_MIN_EVENTS + 2)
    ledger.claim(keys.inflight("acme", "postscript", batch[0].id), ttl_s=45, owner="other")
    dest = BulkDestination()
    deliverer, _, _ = harness(dest, ledger=ledger)
    result = deliverer.deliver(batch, owner="mine")
    assert [d.id for d in result.deferred] == [batch[0].id]
    assert dest.bulk_calls == [[d.id for d in batch[1:]]] and result.delivered == len(batch) - 1


def test_a_throttled_bulk_request_and_a_throttled_single_send_in_one_batch_both_wait() -> None:
    from pipeline.errors import Throttled
    from tests.factories import profile

    dest = BulkDestination(Throttled("busy", retry_after_s=2.0), bulk=Throttled("busy", retry_after_s=3.0))
    deliverer, _, _ = harness(dest)
    batch = [*events(BULK_MIN_EVENTS), *(Delivery(platform="klaviyo", item=profile(id=f"p{i}")) for i in range(3))]
    result = deliverer.deliver(batch)
    assert sorted(d.id for d in result.deferred) == sorted(d.id for d in batch)  # nothing dropped
    assert result.delivered == 0 and result.defer_s == 3.0
