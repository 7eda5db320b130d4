"""The outcome table: one error class → action map, read by one function for single and bulk
sends; a bug (an error not raised on purpose) surfaces instead of becoming a dead letter."""

from __future__ import annotations

import pytest

from pipeline import keys
from pipeline.delivery import BULK_MIN_EVENTS
from pipeline.delivery.outcomes import OUTCOMES, outcome_for
from pipeline.errors import (AuthError, ConfigError, FatalError, InvalidRecord, PipelineError, RateLimited,
                             RetriableError, ScopeMissing, Throttled)
from pipeline.http.policy import Action
from pipeline.state.ledger import MemoryLedger
from pipeline.clock import FrozenClock
from pipeline.types import Delivery
from tests.factories import event
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
