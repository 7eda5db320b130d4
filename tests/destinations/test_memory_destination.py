"""The destination ports and the in-memory twin the delivery tests run on."""

from __future__ import annotations

import pytest

from pipeline.destinations.attentive import AttentiveDestination
from pipeline.destinations.base import BulkEventDestination, BulkProfileDestination, SendResult
from pipeline.destinations.klaviyo import KlaviyoDestination
from pipeline.destinations.memory import MemoryBulkDestination, MemoryDestination
from pipeline.destinations.postscript import PostscriptDestination
from pipeline.destinations.registry import DESTINATIONS
from pipeline.errors import FatalError, RateLimited
from tests.factories import event, profile


@pytest.mark.parametrize(("cls", "events", "profiles"), [
    (PostscriptDestination, False, False), (AttentiveDestination, False, True), (KlaviyoDestination, True, True),
    (MemoryDestination, False, False), (MemoryBulkDestination, True, True),
])
def test_bulk_support_is_a_protocol_checked_with_isinstance(cls: type, events: bool, profiles: bool) -> None:
    instance = cls.__new__(cls)  # the check reads the class's methods, not the instance's state
    assert isinstance(instance, BulkEventDestination) is events
    assert isinstance(instance, BulkProfileDestination) is profiles


def test_every_registered_platform_says_its_kind_and_credential_headers() -> None:
    assert set(DESTINATIONS) == {"postscript", "attentive", "klaviyo"}
    assert all(cls.kind == kind and callable(cls.auth_headers) for kind, cls in DESTINATIONS.items())


def test_the_twin_answers_from_its_script_then_delivers_and_records_every_request() -> None:
    dest = MemoryDestination(RateLimited("429", status=429), SendResult("skipped", reason="policy"))
    with pytest.raises(RateLimited):
        dest.send(event(id="a"), delivery_id="d1")
    assert dest.send(event(id="b"), delivery_id="d2") == SendResult("skipped", reason="policy")
    dest.then(FatalError("400", status=400))
    with pytest.raises(FatalError):
        dest.send(event(id="c"), delivery_id="d3")
    assert dest.send(event(id="d"), delivery_id="d4").outcome == "delivered"
    assert [d for _, d in dest.sent] == ["d1", "d2", "d3", "d4"]
    assert [i.id for i in dest.accepted] == ["b", "d"]
    assert isinstance(dest.requests[0].error, RateLimited) and dest.requests[1].accepted


def test_the_bulk_twin_scripts_its_bulk_calls_apart_from_single_sends() -> None:
    dest = MemoryBulkDestination(bulk=[FatalError("400", status=400), None])
    with pytest.raises(FatalError):
        dest.send_events_bulk([("d1", event(id="a")), ("d2", event(id="b"))])
    dest.send_events_bulk([("d1", event(id="a"))])
    assert dest.send_profiles_bulk([profile(id="p")]) == "job-1"
    assert [r.delivery_ids for r in dest.bulk_requests("send_events_bulk")] == [("d1", "d2"), ("d1",)]
    assert [i.id for i in dest.accepted] == ["a", "p"] and dest.sent == []


def test_the_twin_answers_with_a_handler_once_its_script_is_used() -> None:
    dest = MemoryDestination(answer=lambda item, delivery_id: SendResult("skipped", reason=f"no {item.kind}"))
    assert dest.send(profile(), delivery_id="d").reason == "no profile"
