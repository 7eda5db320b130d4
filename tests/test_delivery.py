"""Batch delivery: dedup, retries with backoff, dead-letters with every attempt, skips."""

from __future__ import annotations

from typing import ClassVar

from pipeline.clock import FrozenClock
from pipeline import keys
from pipeline.delivery import CONTENDED_RECHECK_S, Deliverer
from pipeline.destinations.base import SendResult
from pipeline.destinations.memory import MemoryDestination
from pipeline.errors import FatalError, RateLimited, RetriableError
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.pauses import MemoryPauses
from pipeline.state.profiles import MemoryProfileStates
from pipeline.types import Delivery, Item
from tests.factories import event, profile


class ScriptedDestination(MemoryDestination):
    """The shipped twin, as these tests read it: ``sent`` holds (item id, delivery id) pairs."""

    kind: ClassVar[str] = "postscript"

    @property
    def sent(self) -> list[tuple[str, str]]:  # type: ignore[override]
        return [(item.id, delivery_id) for item, delivery_id in super().sent]


def harness(dest: ScriptedDestination, max_attempts: int = 3,
            ledger: MemoryLedger | None = None) -> tuple[Deliverer, MemoryJournal, MemoryCounters]:
    clock = FrozenClock()
    journal = MemoryJournal(clock)
    counters = MemoryCounters()
    deliverer = Deliverer(merchant="acme", platform="postscript", destination=dest, ledger=ledger or MemoryLedger(clock),
                          dead_letters=journal, skipped=journal, counters=counters, clock=clock,
                          pauses=MemoryPauses(), profiles=MemoryProfileStates(), dedup_ttl_s=3600,
                          max_attempts=max_attempts, retry_base_s=1, retry_max_s=60, worker="w1",
                          rand=lambda: 1.0)
    return deliverer, journal, counters


def test_acknowledged_deliveries_are_never_sent_again() -> None:
    dest = ScriptedDestination()
    deliverer, _, counters = harness(dest)
    batch = [Delivery(platform="postscript", item=event(id="a")), Delivery(platform="postscript", item=event(id="b"))]
    assert deliverer.deliver(batch).delivered == 2
    again = deliverer.deliver(batch)
    assert again.delivered == 0 and again.duplicates == 2
    assert len(dest.sent) == 2
    assert dest.sent[0][1] == batch[0].id  # the delivery id is the idempotency key
    assert counters.get("acme")["delivered"] == 2 and counters.get("acme")["duplicates_dropped"] == 2


def test_a_delivery_another_batch_is_sending_is_deferred_and_the_same_batch_takes_its_claims_over() -> None:
    dest, ledger = ScriptedDestination(), MemoryLedger(FrozenClock())
    deliverer, _, _ = harness(dest, ledger=ledger)
    batch = [Delivery(platform="postscript", item=event(id=i)) for i in "abc"]
    assert ledger.claim(keys.inflight("acme", "postscript", batch[1].id), ttl_s=45, owner="other-batch")
    assert ledger.claim(keys.inflight("acme", "postscript", batch[2].id), ttl_s=45, owner="batch-1")  # it died
    result = deliverer.deliver(batch, owner="batch-1")
    assert [d.item.id for d in result.deferred] == ["b"] and result.defer_s == CONTENDED_RECHECK_S
    assert result.delivered == 2 and [i for i, _ in dest.sent] == ["a", "c"]


def test_a_delivery_another_batch_acknowledged_meanwhile_is_not_sent_again() -> None:
    ledger = MemoryLedger(FrozenClock())
    batch = [Delivery(platform="postscript", item=event(id=i)) for i in "ab"]

    class OtherBatchDeliversB(ScriptedDestination):
        def send(self, item: Item, *, delivery_id: str) -> SendResult:
            ledger.mark([keys.delivered("acme", "postscript", batch[1].id)], ttl_s=60)  # while "a" is sent
            return super().send(item, delivery_id=delivery_id)

    dest = OtherBatchDeliversB()
    deliverer, _, _ = harness(dest, ledger=ledger)
    result = deliverer.deliver(batch, owner="batch-1")
    assert [i for i, _ in dest.sent] == ["a"] and result.delivered == 1 and result.duplicates == 1


def test_retriable_failures_come_back_with_the_attempt_and_a_delay() -> None:
    dest = ScriptedDestination(RateLimited("429", status=429, retry_after_s=7.0), SendResult("delivered"))
    deliverer, _, _ = harness(dest)
    result = deliverer.deliver([Delivery(platform="postscript", item=event(id="a")),
                                Delivery(platform="postscript", item=event(id="b"))])
    assert result.delivered == 1
    (retry,) = result.retry
    assert retry.item.id == "a" and retry.attempts[0].status == 429 and retry.attempts[0].worker == "w1"
    assert result.retry_in_s == 7.0  # Retry-After beats the 1 s first backoff


def test_exhausted_retries_are_dead_lettered_with_every_attempt() -> None:
    dest = ScriptedDestination(*(RetriableError("503", status=503) for _ in range(3)))
    deliverer, journal, counters = harness(dest, max_attempts=3)
    pending = [Delivery(platform="postscript", item=event(id="a"))]
    for _ in range(3):
        pending = deliverer.deliver(pending).retry
    assert pending == []
    (entry,) = [e for _, e in journal.read("lp:dlq:acme:postscript")]
    assert entry["error_class"] == "RetriableError" and entry["http_status"] == 503
    assert [a["status"] for a in entry["attempts"]] == [503, 503, 503]
    assert "retries exhausted" in entry["reason"]
    assert Delivery.from_dict(entry["delivery"]).item == event(id="a")
    assert counters.get("acme")["dead_lettered"] == 1


def test_permanent_errors_are_dead_lettered_at_once() -> None:
    dest = ScriptedDestination(FatalError("postscript POST /api/v2/events answered 400", status=400,
                                          response_excerpt='{"error":"type"}'))
    deliverer, journal, _ = harness(dest)
    result = deliverer.deliver([Delivery(platform="postscript", item=event(id="a"))])
    assert result.dead_lettered == 1 and result.retry == []
    (entry,) = [e for _, e in journal.read("lp:dlq:acme:postscript")]
    assert entry["http_status"] == 400 and entry["response_excerpt"] == '{"error":"type"}'
    assert entry["event_name"] == "Smile Points Earned"


def test_skips_are_recorded_with_reason_and_not_retried() -> None:
    dest = ScriptedDestination(SendResult("skipped", reason="not a Postscript subscriber (policy: skip)"))
    deliverer, journal, _ = harness(dest)
    batch = [Delivery(platform="postscript", item=profile())]
    assert deliverer.deliver(batch).skipped == 1
    (entry,) = [e for _, e in journal.read("lp:skipped:acme:postscript")]
    assert entry["reason"].startswith("not a Postscript subscriber") and entry["kind"] == "profile"
    assert deliverer.deliver(batch).duplicates == 1


def test_delivery_round_trips_through_its_wire_dict() -> None:
    d = Delivery(platform="postscript", item=profile())
    assert Delivery.from_dict(d.to_dict()) == d and Delivery.from_dict(d.to_dict()).id == d.id


def test_a_replay_another_batch_acknowledged_meanwhile_leaves_the_dead_letter_queue() -> None:
    from dataclasses import replace as dc_replace

    clock = FrozenClock()
    ledger = MemoryLedger(clock)
    batch = [Delivery(platform="postscript", item=event(id=i)) for i in "ab"]

    class OtherBatchDeliversB(ScriptedDestination):
        def send(self, item: Item, *, delivery_id: str) -> SendResult:
            ledger.mark([keys.delivered("acme", "postscript", batch[1].id)], ttl_s=60)
            return super().send(item, delivery_id=delivery_id)

    deliverer, journal, _ = harness(OtherBatchDeliversB(), ledger=ledger)
    entry_id = journal.append("lp:dlq:acme:postscript", {"delivery_id": batch[1].id})
    batch[1] = dc_replace(batch[1], replay_of=entry_id)
    assert deliverer.deliver(batch, owner="b1").duplicates == 1
    assert list(journal.read("lp:dlq:acme:postscript")) == []


def test_a_failing_platform_holds_the_rest_of_the_batch_back_after_a_few_sends_not_one_timeout_each() -> None:
    from pipeline.delivery.single import FAILING_STREAK

    dest = ScriptedDestination(RetriableError("503", status=503), SendResult("delivered"),
                               *(RetriableError("timeout") for _ in range(FAILING_STREAK + 5)))
    deliverer, _, _ = harness(dest)
    batch = [Delivery(platform="postscript", item=event(id=f"e{i}")) for i in range(20)]
    result = deliverer.deliver(batch, owner="batch-1")
    sent = 2 + FAILING_STREAK  # one failure, one success (the streak starts again), then the streak
    assert len(dest.sent) == sent and result.delivered == 1 and len(result.retry) == 1 + FAILING_STREAK
    assert [d.item.id for d in result.deferred] == [f"e{i}" for i in range(sent, 20)]
    assert result.defer_s == result.retry_in_s > 0  # the rest waits as long as the retries
