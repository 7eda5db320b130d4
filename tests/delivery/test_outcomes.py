"""The outcome table: one error class → action map, read by one function for single and bulk
sends; a bug (an error not raised on purpose) surfaces instead of becoming a dead letter."""

from __future__ import annotations

import pytest

from pipeline import keys
from pipeline.clock import FrozenClock
from pipeline.delivery import BULK_MIN_EVENTS, BULK_MIN_PROFILES, PAUSE_RECHECK_S, Deliverer
from pipeline.delivery.outcomes import OUTCOMES, outcome_for
from pipeline.destinations.memory import MemoryBulkDestination
from pipeline.errors import (
    AuthError,
    ConfigError,
    FatalError,
    InvalidRecord,
    PipelineError,
    RateLimited,
    RetriableError,
    ScopeMissing,
    Throttled,
)
from pipeline.http.policy import Action
from pipeline.state.counters import MemoryCounters
from pipeline.state.journal import MemoryJournal
from pipeline.state.ledger import MemoryLedger
from pipeline.state.pauses import MemoryPauses
from pipeline.state.profiles import MemoryProfileStates
from pipeline.types import Delivery
from tests.factories import event, profile
from tests.test_delivery import ScriptedDestination, harness
from tests.test_delivery_bulk import BulkDestination, events


@pytest.mark.parametrize(("error", "action"), [
    (Throttled("busy"), Action.DEFER),
    (RateLimited("429", status=429), Action.RATE_LIMITED),
    (RetriableError("503", status=503), Action.RETRY),
    (AuthError("401", status=401), Action.AUTH),
    (ScopeMissing("403", stream="s", scope="read"), Action.FATAL),
    (FatalError("400", status=400), Action.FATAL),
    (InvalidRecord("bad", provider="smile"), Action.FATAL),
    (ConfigError("bad"), Action.FATAL),
])
def test_the_most_specific_class_decides(error: PipelineError, action: Action) -> None:
    assert outcome_for(error) is action


def test_the_table_holds_only_errors_raised_on_purpose() -> None:
    assert all(issubclass(cls, PipelineError) for cls in OUTCOMES)
    assert ValueError not in OUTCOMES and Exception not in OUTCOMES


def test_a_bug_in_a_single_send_surfaces_and_leaves_nothing_dead_lettered_or_claimed() -> None:
    ledger = MemoryLedger(FrozenClock())
    dest = ScriptedDestination(ValueError("a bug in an encoder"))
    deliverer, journal, _ = harness(dest, ledger=ledger)
    batch = [Delivery(platform="postscript", item=event(id="a"))]
    with pytest.raises(ValueError, match="a bug in an encoder"):
        deliverer.deliver(batch, owner="b1")
    assert list(journal.read(keys.dlq("acme", "postscript"))) == []
    assert ledger.claim(keys.inflight("acme", "postscript", batch[0].id), ttl_s=45, owner="b2")  # released
    assert deliverer.deliver(batch, owner="b2").delivered == 1  # once fixed, the same batch goes through


def test_a_bug_in_a_bulk_send_surfaces_and_leaves_nothing_dead_lettered_or_claimed() -> None:
    ledger = MemoryLedger(FrozenClock())
    dest = BulkDestination(bulk=KeyError("data"))
    deliverer, journal, _ = harness(dest, ledger=ledger)
    batch = events(BULK_MIN_EVENTS)
    with pytest.raises(KeyError):
        deliverer.deliver(batch, owner="b1")
    assert list(journal.read(keys.dlq("acme", "postscript"))) == [] and dest.sent == []
    assert all(ledger.claim(keys.inflight("acme", "postscript", d.id), ttl_s=45, owner="b2") for d in batch)


def test_an_event_postscript_cannot_take_is_its_refusal_not_a_bug() -> None:
    """The encoders say "cannot encode" with ValueError; the adapter turns that into a FatalError
    (dead-lettered with its reason), so a ValueError reaching the Deliverer is always a bug."""
    import httpx

    from tests.destinations.test_postscript import destination

    dest, seen = destination(lambda request: httpx.Response(202, json={}))
    with pytest.raises(FatalError, match="postscript cannot take this event: .*no letter or digit"):
        dest.send(event(id="a", name="!!!"), delivery_id="d1")
    assert seen == []  # refused before anything was sent


def _bulk_world(error: Exception) -> tuple[Deliverer, MemoryBulkDestination, MemoryJournal, MemoryPauses]:
    clock = FrozenClock()
    journal, pauses = MemoryJournal(clock), MemoryPauses()
    dest = MemoryBulkDestination(bulk=[error])
    d = Deliverer(merchant="acme", platform="klaviyo", destination=dest, ledger=MemoryLedger(clock),
                  dead_letters=journal, skipped=journal, counters=MemoryCounters(), clock=clock, pauses=pauses,
                  profiles=MemoryProfileStates(), dedup_ttl_s=3600, max_attempts=3, retry_base_s=1, retry_max_s=60,
                  rand=lambda: 1.0)
    return d, dest, journal, pauses


def _profiles(n: int) -> list[Delivery]:
    return [Delivery(platform="klaviyo", item=profile(email=f"p{i}@example.test", id=f"p{i}")) for i in range(n)]


def test_a_refused_credential_on_a_bulk_job_pauses_and_defers_the_job_without_dead_letters() -> None:
    d, dest, journal, pauses = _bulk_world(AuthError("klaviyo answered 401", status=401))
    batch = _profiles(BULK_MIN_PROFILES)
    result = d.deliver(batch)
    assert [x.id for x in result.deferred] == [x.id for x in batch] and result.dead_lettered == 0
    assert list(journal.read(keys.dlq("acme", "klaviyo"))) == [] and result.defer_s == PAUSE_RECHECK_S
    pause = pauses.get("acme", "klaviyo")
    assert pause is not None and "401" in pause.reason
    assert len(dest.bulk_requests("send_profiles_bulk")) == 1 and dest.sent == []


def test_a_refused_bulk_job_dead_letters_each_of_its_profile_updates() -> None:
    d, _, journal, _ = _bulk_world(FatalError("klaviyo answered 400", status=400))
    batch = _profiles(BULK_MIN_PROFILES)
    assert d.deliver(batch).dead_lettered == BULK_MIN_PROFILES
    entries = [e for _, e in journal.read(keys.dlq("acme", "klaviyo"))]
    assert sorted(e["delivery_id"] for e in entries) == sorted(x.id for x in batch)
    assert {e["http_status"] for e in entries} == {400}


def test_a_429_on_a_bulk_job_retries_each_update_without_using_up_an_attempt() -> None:
    d, _, journal, _ = _bulk_world(RateLimited("klaviyo answered 429", status=429, retry_after_s=5.0))
    result = d.deliver(_profiles(BULK_MIN_PROFILES))
    assert len(result.retry) == BULK_MIN_PROFILES and result.retry_in_s == 5.0
    assert all(x.attempts[-1].outcome == "RateLimited" for x in result.retry)
    assert list(journal.read(keys.dlq("acme", "klaviyo"))) == []
