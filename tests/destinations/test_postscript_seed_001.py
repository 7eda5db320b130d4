"""Seed 001: Okendo's events and properties reach existing Postscript subscribers only,
whatever the connection's policy; other providers keep their behaviour."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from tests.destinations.test_postscript import destination, subscribers
from tests.factories import event, profile


def _handler(known: bool):
    def handle(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return subscribers("s_7") if known else subscribers()
        return httpx.Response(202 if request.url.path == "/api/v2/events" else 200, json={"id": "s_7"})
    return handle


def test_an_okendo_event_for_a_subscriber_is_sent() -> None:
    dest, seen = destination(_handler(known=True))
    assert dest.send(replace(event("Review Created"), provider="okendo"), delivery_id="d1").outcome == "delivered"
    assert [(r.method, r.url.path) for r in seen] == [("GET", "/api/v2/subscribers"), ("POST", "/api/v2/events")]
    assert json.loads(seen[1].content)["type"] == "Review_Created"


@pytest.mark.parametrize("policy", ["skip", "create"])
def test_an_okendo_event_or_property_for_a_stranger_is_skipped_with_the_reason(policy: str) -> None:
    dest, seen = destination(_handler(known=False), policy=policy)
    sent = dest.send(replace(event("Review Created"), provider="okendo"), delivery_id="d1")
    updated = dest.send(replace(profile(phone="+14155550100"), provider="okendo"), delivery_id="d2")
    assert sent.outcome == updated.outcome == "skipped"
    assert "existing subscribers only" in sent.reason and "jane" not in sent.reason
    assert "existing subscribers only" in updated.reason
    # the event's email lookup, then the profile's phone lookup (phone first; its email answer is
    # cached): never a POST or a PATCH
    assert [(r.method, *r.url.params) for r in seen] == [("GET", "email__eq"), ("GET", "phone_number__eq")]


def test_other_providers_events_still_go_out_without_a_lookup() -> None:
    dest, seen = destination(_handler(known=False))
    assert dest.send(event(), delivery_id="d1").outcome == "delivered"
    assert [(r.method, r.url.path) for r in seen] == [("POST", "/api/v2/events")]
