"""Postscript destination over httpx.MockTransport; every request checked against the spec."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from pipeline.clock import FrozenClock
from pipeline.destinations.postscript.encoding import encode_event, event_type
from pipeline.destinations.postscript import PostscriptDestination
from pipeline.errors import AuthError, FatalError, RateLimited, RetriableError
from pipeline.http.client import build_client
from pipeline.state.subscribers import MemorySubscriberCache
from tests.factories import event, platform_account, profile
from tests.support.openapi import RequestValidator

SPEC = RequestValidator("postscript-partner-api-openapi.yml")
Handler = Callable[[httpx.Request], httpx.Response]


def destination(handler: Handler, *, policy: str = "skip") -> tuple[PostscriptDestination, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def recording(request: httpx.Request) -> httpx.Response:
        SPEC.validate(request)
        seen.append(request)
        return handler(request)

    account = platform_account(unknown_subscriber=policy)
    client = build_client(base_url=account.base_url, headers=PostscriptDestination.auth_headers(account),
                          timeout_s=5, transport=httpx.MockTransport(recording))
    return PostscriptDestination(merchant="acme", account=account, client=client,
                                 subscribers=MemorySubscriberCache(FrozenClock())), seen


def subscribers(*ids: str) -> httpx.Response:
    return httpx.Response(200, json={"page_info": {"page": 1, "total_pages": 1},
                                     "subscribers": [{"id": i, "properties": {}} for i in ids]})


@pytest.mark.parametrize(("name", "expected"), [
    ("Smile Points Earned", "Smile_Points_Earned"),
    ("Okendo Loyalty Tier Changed", "Okendo_Loyalty_Tier_Changed"),
    ("Opted In to Okendo Referrals (Referrer)", "Opted_In_to_Okendo_Referrals_Referrer"),
    ("Rediem  Points -- Redeemed!", "Rediem_Points_Redeemed"),
])
def test_event_type_keeps_only_letters_digits_underscores(name: str, expected: str) -> None:
    assert event_type(name) == expected


def test_event_wire_format() -> None:
    dest, seen = destination(lambda r: httpx.Response(202, json={"event_ids": ["1"]}))
    result = dest.send(event(), delivery_id="d-123")
    assert result.outcome == "delivered"
    (request,) = seen
    assert request.method == "POST" and request.url.path == "/api/v2/events"
    assert request.headers["Authorization"] == "Bearer sk_test"
    assert json.loads(request.content) == {
        "type": "Smile_Points_Earned", "email": "jane@example.test", "occurred_at": "2026-03-01 12:00:00.000000",
        "properties": {"Points": 100, "Description": "Placed an order", "Transaction ID": 7},
        "external_id": "d-123"}


def test_event_without_identifier_is_skipped_not_sent() -> None:
    dest, seen = destination(lambda r: httpx.Response(202))
    result = dest.send(event(email=None), delivery_id="d")
    assert result.outcome == "skipped" and "neither email nor phone" in result.reason
    assert seen == []


def test_profile_update_looks_up_then_patches_and_caches_the_id() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.params["email__eq"] == "jane@example.test"
            return subscribers("s_42")
        return httpx.Response(200, json={"id": "s_42"})

    dest, seen = destination(handler)
    assert dest.send(profile(), delivery_id="d1").outcome == "delivered"
    assert dest.send(profile(id="p2"), delivery_id="d2").outcome == "delivered"
    assert [(r.method, r.url.path) for r in seen] == [
        ("GET", "/api/v2/subscribers"), ("PATCH", "/api/v2/subscribers/s_42"), ("PATCH", "/api/v2/subscribers/s_42")]
    assert json.loads(seen[1].content) == {"properties": {"Enrolled in Smile": True, "Smile Points Balance": 300}}


def test_unknown_subscriber_is_skipped_with_reason_and_the_miss_cached() -> None:
    dest, seen = destination(lambda r: subscribers())
    first = dest.send(profile(), delivery_id="d1")
    second = dest.send(profile(id="p2"), delivery_id="d2")
    assert first.outcome == second.outcome == "skipped"
    assert "policy: skip" in first.reason and "jane" not in first.reason
    assert len(seen) == 1


def test_create_policy_without_phone_is_skipped_with_reason() -> None:
    dest, _ = destination(lambda r: subscribers(), policy="create")
    result = dest.send(profile(), delivery_id="d1")
    assert result.outcome == "skipped" and "no phone number" in result.reason


def test_phone_lookup_uses_digits_only() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            assert request.url.params["phone_number__eq"] == "15555550100"
            return subscribers("s_1")
        return httpx.Response(200, json={})

    dest, _ = destination(handler)
    assert dest.send(profile(email=None, phone="+1 (555) 555-0100"), delivery_id="d").outcome == "delivered"


@pytest.mark.parametrize(("status", "headers", "error", "retry_after"), [
    (429, {}, RateLimited, None),
    (429, {"Retry-After": "3"}, RateLimited, 3.0),
    (503, {}, RetriableError, None),
    (400, {}, FatalError, None),
    (401, {}, AuthError, None),
    (403, {}, AuthError, None),
])
def test_errors_are_classified(status: int, headers: dict[str, str], error: type[Exception],
                               retry_after: float | None) -> None:
    dest, _ = destination(lambda r: httpx.Response(status, headers=headers, json={"error_message": "no"}))
    with pytest.raises(error) as info:
        dest.send(event(), delivery_id="d")
    assert info.value.status == status  # type: ignore[attr-defined]
    assert "jane@example.test" not in str(info.value) and "sk_test" not in str(info.value)
    if retry_after is not None:
        assert info.value.retry_after_s == retry_after  # type: ignore[attr-defined]


def test_transport_errors_are_retriable() -> None:
    def boom(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    dest, _ = destination(boom)
    with pytest.raises(RetriableError, match="ConnectError"):
        dest.send(event(), delivery_id="d")


def test_stale_subscriber_id_is_forgotten_and_retried() -> None:
    calls = {"patch": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return subscribers("s_new" if calls["patch"] else "s_old")
        calls["patch"] += 1
        return httpx.Response(404 if request.url.path.endswith("s_old") else 200, json={})

    dest, _ = destination(handler)
    with pytest.raises(RetriableError):
        dest.send(profile(), delivery_id="d")
    assert dest.send(profile(), delivery_id="d").outcome == "delivered"


def test_encoded_event_drops_missing_values_and_formats_datetimes() -> None:
    from dataclasses import replace

    from tests.factories import T0
    e = replace(event(), properties={"When": T0, "Gone": None, "Flag": False})
    body = encode_event(e, delivery_id="x")
    assert body["properties"] == {"When": "2026-03-01T12:00:00Z", "Flag": False}
