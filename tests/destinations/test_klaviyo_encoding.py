"""Klaviyo encoding; every body checked against Klaviyo's official per-operation OpenAPI documents."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from pipeline.destinations.encoding.klaviyo import (BULK_PROFILE_IMPORT_PATH, CONTENT_TYPE, EVENTS_PATH,
                                                    PROFILE_IMPORT_PATH, REVISION, encode_bulk_profiles, encode_event,
                                                    encode_profile, encode_value, metric_name)
from pipeline.types import Customer
from tests.factories import T0, event, profile
from tests.support.openapi import RequestValidator, SpecViolation, load_spec

BASE = "https://a.klaviyo.com"
SPECS = {
    EVENTS_PATH: RequestValidator("klaviyo/create_event.json"),
    PROFILE_IMPORT_PATH: RequestValidator("klaviyo/create_or_update_profile.json"),
    BULK_PROFILE_IMPORT_PATH: RequestValidator("klaviyo/bulk_import_profiles.json"),
}
HEADERS = {"Authorization": "Klaviyo-API-Key pk_test", "revision": REVISION, "Content-Type": CONTENT_TYPE,
           "Accept": CONTENT_TYPE}


def post(path: str, body: Any, **header_changes: str | None) -> httpx.Request:
    headers = {k: v for k, v in {**HEADERS, **header_changes}.items() if v is not None}
    return httpx.Request("POST", BASE + path, content=json.dumps(body).encode(), headers=headers)


def sent(path: str, body: dict[str, Any]) -> dict[str, Any]:
    """Validate ``body`` as a request to ``path``; return what went over the wire."""
    request = post(path, body)
    SPECS[path].validate(request)
    return json.loads(request.content)  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", ["create_event", "bulk_create_events", "create_or_update_profile",
                                  "bulk_import_profiles"])
def test_revision_matches_the_vendored_specs(name: str) -> None:
    spec = load_spec(f"klaviyo/{name}.json")
    assert spec["info"]["version"] == REVISION
    (operation,) = (op for item in spec["paths"].values() for op in item.values())
    (revision,) = (p for p in operation["parameters"] if p["name"] == "revision")
    assert revision["required"] and revision["schema"]["default"] == REVISION
    assert CONTENT_TYPE in operation["requestBody"]["content"]


@pytest.mark.parametrize("name", ["Smile Points Earned", "Opted In to Okendo Referrals (Referrer)", " odd  spacing ",
                                  "x" * 127])
def test_metric_names_under_128_are_kept_as_they_are(name: str) -> None:
    assert metric_name(name) == name


def test_long_metric_names_are_cut_deterministically_and_stay_distinct() -> None:
    prefix = "Okendo " * 20
    first, second = metric_name(prefix + "Points Earned"), metric_name(prefix + "Points Redeemed")
    assert len(first) == len(second) == 127 and len(metric_name("x" * 128)) == 127
    assert first == metric_name(prefix + "Points Earned")
    assert first != second
    assert first.startswith(prefix[:100]) and re.search(r" [0-9a-f]{8}$", first)


@pytest.mark.parametrize("name", ["", "   "])
def test_empty_metric_name_is_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        metric_name(name)


@pytest.mark.parametrize(("value", "expected"), [
    (T0, "2026-03-01T12:00:00+00:00"),
    (datetime(2026, 3, 1, 7, 0, tzinfo=timezone(timedelta(hours=-5))), "2026-03-01T12:00:00+00:00"),
    (datetime(2026, 3, 1, 12, 0), "2026-03-01T12:00:00+00:00"),  # naive = UTC
    ("Gold", "Gold"), (300, 300), (1.5, 1.5), (True, True), (None, None),
])
def test_encode_value(value: Any, expected: Any) -> None:
    encoded = encode_value(value)
    assert encoded == expected and type(encoded) is type(expected)


def test_non_finite_numbers_are_rejected() -> None:
    with pytest.raises(ValueError):
        encode_value(float("nan"))


def test_event_wire_format_matches_the_spec() -> None:
    assert sent(EVENTS_PATH, encode_event(event(), delivery_id="d-123")) == {"data": {"type": "event", "attributes": {
        "properties": {"Points": 100, "Description": "Placed an order", "Transaction ID": 7},
        "time": "2026-03-01T12:00:00+00:00",
        "unique_id": "d-123",
        "metric": {"data": {"type": "metric", "attributes": {"name": "Smile Points Earned"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": "jane@example.test"}}}}}}


def test_event_drops_missing_values_formats_datetimes_and_normalises_phone() -> None:
    e = replace(event("Opted In to Okendo Referrals (Referrer)"),
                customer=Customer(provider_id="c1", phone="(555) 555-0100"),
                occurred_at=datetime(2026, 3, 1, 13, 0, tzinfo=timezone(timedelta(hours=1))),
                properties={"When": T0, "Gone": None, "Flag": False})
    attributes = sent(EVENTS_PATH, encode_event(e, delivery_id="x"))["data"]["attributes"]
    assert attributes["properties"] == {"When": "2026-03-01T12:00:00+00:00", "Flag": False}
    assert attributes["time"] == "2026-03-01T12:00:00+00:00"
    assert attributes["metric"]["data"]["attributes"]["name"] == "Opted In to Okendo Referrals (Referrer)"
    assert attributes["profile"]["data"]["attributes"] == {"phone_number": "+15555550100"}


def test_event_with_a_long_name_is_valid() -> None:
    body = sent(EVENTS_PATH, encode_event(event("Points " * 40), delivery_id="d"))
    assert len(body["data"]["attributes"]["metric"]["data"]["attributes"]["name"]) < 128


def test_event_needs_email_or_phone_and_a_valid_phone() -> None:
    with pytest.raises(ValueError, match="neither email nor phone"):
        encode_event(event(email=None), delivery_id="d")
    with pytest.raises(ValueError) as info:
        encode_event(replace(event(), customer=Customer(provider_id="c", phone="555-0199")), delivery_id="d")
    assert "phone_number" in str(info.value) and "0199" not in str(info.value)


def test_event_with_more_than_400_properties_is_rejected() -> None:
    with pytest.raises(ValueError, match="400"):
        encode_event(replace(event(), properties={f"p{i}": i for i in range(401)}), delivery_id="d")


def test_encoding_is_deterministic() -> None:
    one = json.dumps(encode_event(event(), delivery_id="d"))
    assert all(json.dumps(encode_event(event(), delivery_id="d")) == one for _ in range(3))
    assert encode_bulk_profiles([profile(), profile(id="p2")]) == encode_bulk_profiles([profile(), profile(id="p2")])


def test_profile_wire_format_matches_the_spec() -> None:
    update = replace(profile(phone="+1 555 555 0100"), properties={
        "Enrolled in Smile": True, "Smile Points Balance": 300, "Smile Joined At": T0, "Smile Tier": None})
    assert sent(PROFILE_IMPORT_PATH, encode_profile(update)) == {"data": {"type": "profile", "attributes": {
        "email": "jane@example.test", "phone_number": "+15555550100",
        "properties": {"Enrolled in Smile": True, "Smile Points Balance": 300,
                       "Smile Joined At": "2026-03-01T12:00:00+00:00"}}}}


def test_profile_needs_email_or_phone() -> None:
    with pytest.raises(ValueError, match="neither email nor phone"):
        encode_profile(profile(email=None))


def test_bulk_profiles_wire_format_matches_the_spec() -> None:
    body = sent(BULK_PROFILE_IMPORT_PATH, encode_bulk_profiles(
        [profile(), profile(email=None, phone="555 555 0100", id="p2")]))
    assert body["data"]["type"] == "profile-bulk-import-job"
    assert body["data"]["attributes"]["profiles"]["data"] == [
        encode_profile(profile())["data"],
        {"type": "profile", "attributes": {"phone_number": "+15555550100",
                                           "properties": {"Enrolled in Smile": True, "Smile Points Balance": 300}}}]


def test_bulk_profiles_take_1_to_10000() -> None:
    assert len(encode_bulk_profiles([profile()] * 10_000)["data"]["attributes"]["profiles"]["data"]) == 10_000
    with pytest.raises(ValueError, match="10000"):
        encode_bulk_profiles([profile()] * 10_001)
    with pytest.raises(ValueError, match="at least one"):
        encode_bulk_profiles([])


# -- the validator catches wrong bodies and headers ---------------------------------------------

def _event_body(mutate: Any) -> dict[str, Any]:
    body = encode_event(event(), delivery_id="d")
    mutate(body["data"])
    return body


@pytest.mark.parametrize(("path", "body", "problem"), [
    (EVENTS_PATH, _event_body(lambda d: d.update(type="events")), "data/type: 'events' is not one of ['event']"),
    (EVENTS_PATH, _event_body(lambda d: d["attributes"].pop("metric")), "'metric' is a required property"),
    (EVENTS_PATH, _event_body(lambda d: d["attributes"].pop("properties")), "'properties' is a required property"),
    (EVENTS_PATH, _event_body(lambda d: d["attributes"]["metric"]["data"].update(type="event")), "metric"),
    (EVENTS_PATH, _event_body(lambda d: d["attributes"]["metric"]["data"]["attributes"].update(name="x" * 128)),
     "less than 128"),
    (EVENTS_PATH, _event_body(lambda d: d["attributes"]["profile"]["data"].update(attributes={})), "no identifier"),
    (EVENTS_PATH, _event_body(lambda d: d["attributes"]["profile"]["data"]["attributes"].update(
        phone_number="5555550100")), "phone_number is not E.164"),
    (EVENTS_PATH, _event_body(lambda d: d["attributes"].update(time="yesterday")), "'yesterday' is not a 'date-time'"),
    (EVENTS_PATH, {"type": "event", "attributes": {}}, "'data' is a required property"),
    (PROFILE_IMPORT_PATH, {"data": {"type": "profiles", "attributes": {"email": "j@x.test"}}}, "data/type"),
    (PROFILE_IMPORT_PATH, {"data": {"type": "profile", "attributes": {"properties": {"a": 1}}}}, "no identifier"),
    (PROFILE_IMPORT_PATH, {"data": {"type": "profile", "attributes": {"email": "j@x.test", "properties": []}}},
     "properties"),
    (BULK_PROFILE_IMPORT_PATH, {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": [
        encode_profile(profile())["data"]]}}}, "profiles"),
    (BULK_PROFILE_IMPORT_PATH, {"data": {"type": "profile", "attributes": {"profiles": {"data": []}}}}, "data/type"),
])
def test_validator_catches_wrong_bodies(path: str, body: dict[str, Any], problem: str) -> None:
    with pytest.raises(SpecViolation, match=re.escape(problem)):
        SPECS[path].validate(post(path, body))


def test_validator_catches_more_than_10000_profiles() -> None:
    body = encode_bulk_profiles([profile()])
    body["data"]["attributes"]["profiles"]["data"] *= 10_001
    with pytest.raises(SpecViolation, match="10,000"):
        SPECS[BULK_PROFILE_IMPORT_PATH].validate(post(BULK_PROFILE_IMPORT_PATH, body))


@pytest.mark.parametrize(("headers", "problem"), [
    ({"revision": None}, "required header 'revision' missing"),
    ({"Content-Type": "application/json"}, "content-type 'application/json'"),
    ({"Authorization": None}, "Authorization"),
])
def test_validator_catches_wrong_headers(headers: dict[str, str | None], problem: str) -> None:
    with pytest.raises(SpecViolation, match=re.escape(problem)):
        SPECS[EVENTS_PATH].validate(post(EVENTS_PATH, encode_event(event(), delivery_id="d"), **headers))
