"""Attentive v1 encoding; every body checked against Attentive's published OpenAPI."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from pipeline.destinations.attentive.encoding import (ATTRIBUTES_PATH, EVENTS_PATH, encode_attributes, encode_event,
                                                      encode_value, event_type, property_key, user)
from pipeline.types import Customer
from tests.factories import T0, event, profile
from tests.support.openapi import RequestValidator, SpecViolation

SPEC = RequestValidator("attentive-v1-openapi.yaml", server_prefix="/v1")
BASE = "https://api.attentivemobile.com"


def post(path: str, body: Any, *, headers: dict[str, str] | None = None) -> httpx.Request:
    return httpx.Request("POST", BASE + path, json=body,
                         headers={"Authorization": "Bearer at_test"} if headers is None else headers)


def sent(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate ``body`` as a request to ``path``; return what went over the wire."""
    request = post(path, body)
    SPEC.validate(request)
    return json.loads(request.content)  # type: ignore[no-any-return]


@pytest.mark.parametrize(("name", "expected"), [
    ("Smile Points Earned", "Smile Points Earned"),
    ("Opted In to Okendo Referrals (Referrer)", "Opted In to Okendo Referrals Referrer"),
    ("Rediem \"VIP\" Tier [Gold] {new}", "Rediem VIP Tier Gold new"),
    ("Points, Redeemed | Reward's \\ ok", "Points Redeemed Rewards ok"),
    ("  Tier   Changed\t", "Tier Changed"),
    ("Rediem Points -- Redeemed!", "Rediem Points -- Redeemed!"),
])
def test_event_type_removes_forbidden_characters(name: str, expected: str) -> None:
    assert event_type(name) == expected


@pytest.mark.parametrize("name", ["", "   ", "()", "\"'(){}[]\\|,", " ( ) , "])
def test_event_type_with_nothing_left_is_rejected_naming_the_input(name: str) -> None:
    with pytest.raises(ValueError) as info:
        event_type(name)
    assert repr(name) in str(info.value)


@pytest.mark.parametrize(("name", "expected"), [
    ("Points", "Points"),
    ("Transaction ID", "Transaction ID"),
    ("Tier {new} [gold] \"vip\" a|b c\\d", "Tier new gold vip ab cd"),
    ("Referrer (Okendo), a;b", "Referrer (Okendo), a;b"),  # ( ) , ; are allowed in keys
])
def test_property_key_removes_forbidden_characters(name: str, expected: str) -> None:
    assert property_key(name) == expected


@pytest.mark.parametrize("name", ["", "{}", "[]|\\\"", " {} "])
def test_property_key_with_nothing_left_is_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="nothing left"):
        property_key(name)


def test_property_key_length_limit_is_200() -> None:
    assert property_key("k" * 200) == "k" * 200
    assert property_key("k" * 200 + "[]") == "k" * 200
    with pytest.raises(ValueError, match="200"):
        property_key("k" * 201)


@pytest.mark.parametrize(("value", "expected"), [
    (T0, "2026-03-01T12:00:00.000Z"),
    (T0.replace(microsecond=123456), "2026-03-01T12:00:00.123Z"),
    (datetime(2026, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-03-01T12:00:00.000Z"),
    (datetime(2026, 3, 1, 12, 0), "2026-03-01T12:00:00.000Z"),  # naive = UTC
    ("50.89", "50.89"),
    (300, 300),
    (50.89, 50.89),
    (True, True),
    (False, False),
])
def test_encode_value(value: Any, expected: Any) -> None:
    encoded = encode_value(value)
    assert encoded == expected and type(encoded) is type(expected)


@pytest.mark.parametrize("value", [["a", "b"], ("a",), {"carrier": "fedex"}, float("nan"), float("inf"), b"x"])
def test_arrays_objects_and_non_finite_numbers_are_rejected(value: Any) -> None:
    with pytest.raises(ValueError):
        encode_value(value)


def test_user_has_what_is_present_with_phone_in_e164() -> None:
    assert user(Customer(provider_id="c", email="jane@example.test")) == {"email": "jane@example.test"}
    assert user(Customer(provider_id="c", phone="(555) 555-0100")) == {"phone": "+15555550100"}
    assert user(Customer(provider_id="c", email="j@x.test", phone="+44 20 7946 0958")) == {
        "phone": "+442079460958", "email": "j@x.test"}


def test_user_rejects_a_bad_phone_naming_the_field_not_the_value() -> None:
    with pytest.raises(ValueError) as info:
        user(Customer(provider_id="c", email="j@x.test", phone="555-0199"))
    assert "user.phone" in str(info.value) and "0199" not in str(info.value)


@pytest.mark.parametrize(("email", "phone"), [(None, None), ("", ""), (None, "")])
def test_user_needs_email_or_phone(email: str | None, phone: str | None) -> None:
    with pytest.raises(ValueError, match="neither email nor phone"):
        user(Customer(provider_id="c", email=email, phone=phone))


def test_event_wire_format_matches_the_spec() -> None:
    assert EVENTS_PATH == "/v1/events/custom"
    assert sent(EVENTS_PATH, encode_event(event(), delivery_id="d-123")) == {
        "type": "Smile Points Earned",
        "properties": {"Points": 100, "Description": "Placed an order", "Transaction ID": 7},
        "externalEventId": "d-123",
        "occurredAt": "2026-03-01T12:00:00.000Z",
        "user": {"email": "jane@example.test"}}


def test_event_drops_missing_values_formats_datetimes_and_cleans_names() -> None:
    e = replace(event("Opted In to Okendo Referrals (Referrer)"),
                customer=Customer(provider_id="c1", phone="555 555 0100"),
                occurred_at=datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
                properties={"When": T0, "Gone": None, "Flag": False, "Tier [new]": "Gold", "Rate": 1.5})
    body = sent(EVENTS_PATH, encode_event(e, delivery_id="x"))
    assert body["type"] == "Opted In to Okendo Referrals Referrer"
    assert body["properties"] == {"When": "2026-03-01T12:00:00.000Z", "Flag": False, "Tier new": "Gold", "Rate": 1.5}
    assert body["occurredAt"] == "2026-03-01T12:00:00.000Z"
    assert body["user"] == {"phone": "+15555550100"}


def test_event_with_array_property_or_colliding_keys_is_rejected() -> None:
    with pytest.raises(ValueError, match="'Products'"):
        encode_event(replace(event(), properties={"Products": ["a", "b"]}), delivery_id="d")  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="collide"):
        encode_event(replace(event(), properties={"Tier": 1, "[Tier]": 2}), delivery_id="d")


def test_event_without_identifier_is_rejected() -> None:
    with pytest.raises(ValueError, match="neither email nor phone"):
        encode_event(event(email=None), delivery_id="d")


def test_encoding_is_deterministic() -> None:
    one = json.dumps(encode_event(event(), delivery_id="d"))
    assert all(json.dumps(encode_event(event(), delivery_id="d")) == one for _ in range(3))
    assert encode_attributes(profile()) == encode_attributes(profile())


def test_attributes_wire_format_keeps_native_types() -> None:
    assert ATTRIBUTES_PATH == "/v1/attributes/custom"
    update = replace(profile(phone="+1 555 555 0100"), properties={
        "Enrolled in Smile": True, "Smile Points Balance": 300, "Gift card balance": 50.89,
        "Smile Tier": "Gold", "Smile Joined At": T0, "Smile Birthday": None})
    body = sent(ATTRIBUTES_PATH, encode_attributes(update))
    assert body == {"properties": {"Enrolled in Smile": True, "Smile Points Balance": 300, "Gift card balance": 50.89,
                                   "Smile Tier": "Gold", "Smile Joined At": "2026-03-01T12:00:00.000Z"},
                    "user": {"phone": "+15555550100", "email": "jane@example.test"}}
    assert type(body["properties"]["Smile Points Balance"]) is int
    assert body["properties"]["Enrolled in Smile"] is True


def test_attributes_reject_arrays_and_long_names() -> None:
    with pytest.raises(ValueError):
        encode_attributes(replace(profile(), properties={"Cities": ["chicago"]}))  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="200"):
        encode_attributes(replace(profile(), properties={"x" * 201: 1}))


# -- the validator catches wrong bodies ---------------------------------------------------------

def _event_body(**changes: Any) -> dict[str, Any]:
    body = encode_event(event(), delivery_id="d")
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize(("path", "body", "problem"), [
    (EVENTS_PATH, _event_body(user=None), "'user' is a required property"),
    (EVENTS_PATH, _event_body(user={}), "user"),
    (EVENTS_PATH, _event_body(user={"email": "j@x.test", "phone_number": "+15555550100"}), "Additional properties"),
    (EVENTS_PATH, _event_body(type=None), "'type' is a required property"),
    (EVENTS_PATH, _event_body(type="Opted In (Referrer)"), "type"),
    (EVENTS_PATH, _event_body(properties={"Tier [new]": 1}), "properties key"),
    (EVENTS_PATH, _event_body(occurredAt="2026-03-01 12:00:00"), "occurredAt"),
    (EVENTS_PATH, _event_body(user={"phone": "555-555-0100"}), "user/phone is not E.164"),
    (EVENTS_PATH, _event_body(externalEventId=123), "externalEventId"),
    (ATTRIBUTES_PATH, {"user": {"email": "j@x.test"}}, "'properties' is a required property"),
    (ATTRIBUTES_PATH, {"properties": {"Cities": ["chicago"]}, "user": {"email": "j@x.test"}}, "array"),
    (ATTRIBUTES_PATH, {"properties": {"x" * 201: 1}, "user": {"email": "j@x.test"}}, "200"),
    (ATTRIBUTES_PATH, {"properties": {"a": 1}}, "'user' is a required property"),
])
def test_validator_catches_wrong_bodies(path: str, body: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecViolation, match=re.escape(problem)):
        SPEC.validate(post(path, body))


def test_validator_catches_missing_auth_and_unknown_paths() -> None:
    body = encode_event(event(), delivery_id="d")
    with pytest.raises(SpecViolation, match="Authorization"):
        SPEC.validate(post(EVENTS_PATH, body, headers={}))
    with pytest.raises(SpecViolation, match="no path"):
        SPEC.validate(post("/v1/events/customs", body))
    with pytest.raises(SpecViolation, match="content-type"):
        SPEC.validate(httpx.Request("POST", BASE + EVENTS_PATH, content=json.dumps(body).encode(),
                                    headers={"Authorization": "Bearer t", "Content-Type": "text/plain"}))


def test_v2_spec_loads_too() -> None:
    v2 = RequestValidator("attentive-v2-openapi.yaml")
    template, _ = v2.operation("POST", "/v2/user/attributes")
    assert template == "/v2/user/attributes"
