"""Klaviyo encoding; every body checked against Klaviyo's official per-operation OpenAPI documents."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from pipeline.destinations.klaviyo.encoding import (BULK_EVENTS_PATH, BULK_PROFILE_IMPORT_PATH, CONTENT_TYPE,
                                                    EVENTS_PATH, MAX_BULK_BYTES, MAX_BULK_EVENTS, PROFILE_IMPORT_PATH,
                                                    REVISION, encode_bulk_event_requests, encode_bulk_events,
                                                    encode_bulk_profiles, encode_event, encode_profile, encode_value,
                                                    metric_name)
from pipeline.types import Customer
from tests.factories import T0, event, profile
from tests.support.openapi import RequestValidator, SpecViolation, load_spec

BASE = "https://a.klaviyo.com"
SPECS = {
    EVENTS_PATH: RequestValidator("klaviyo/create_event.json"),
    PROFILE_IMPORT_PATH: RequestValidator("klaviyo/create_or_update_profile.json"),
    BULK_PROFILE_IMPORT_PATH: RequestValidator("klaviyo/bulk_import_profiles.json"),
    BULK_EVENTS_PATH: RequestValidator("klaviyo/bulk_create_events.json"),
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


# -- bulk create events -------------------------------------------------------------------------

SAM = Customer(provider_id="c2", email="sam@example.test")
PHONE_ONLY = Customer(provider_id="c3", phone="(555) 555-0100")


def _entries(body: dict[str, Any]) -> list[tuple[dict[str, str], list[str]]]:
    """(profile identifiers, unique ids of its events) per entry of a bulk create events body."""
    return [(e["attributes"]["profile"]["data"]["attributes"],
             [x["attributes"]["unique_id"] for x in e["attributes"]["events"]["data"]])
            for e in body["data"]["attributes"]["events-bulk-create"]["data"]]


def test_bulk_events_wire_format_matches_the_spec() -> None:
    items = [("d-1", event()), ("d-2", replace(event("Smile Points Redeemed", id="e2"), customer=PHONE_ONLY)),
             ("d-3", event("Smile Points Redeemed", id="e3"))]
    body = sent(BULK_EVENTS_PATH, encode_bulk_events(items))
    assert body["data"]["type"] == "event-bulk-create-job"
    (jane, phone) = body["data"]["attributes"]["events-bulk-create"]["data"]
    assert jane["type"] == phone["type"] == "event-bulk-create"
    assert jane["attributes"]["profile"] == {"data": {"type": "profile", "attributes": {"email": "jane@example.test"}}}
    assert phone["attributes"]["profile"]["data"]["attributes"] == {"phone_number": "+15555550100"}
    for entry, ids in ((jane, ["d-1", "d-3"]), (phone, ["d-2"])):
        for resource, (delivery_id, item) in zip(entry["attributes"]["events"]["data"],
                                                 [i for i in items if i[0] in ids], strict=True):
            # exactly what the single path sends (same unique_id), the profile aside
            single = encode_event(item, delivery_id=delivery_id)["data"]["attributes"]
            assert resource == {"type": "event", "attributes": {k: v for k, v in single.items() if k != "profile"}}


def test_bulk_events_are_grouped_per_profile_in_first_seen_order() -> None:
    both = Customer(provider_id="c1", email="jane@example.test", phone="+1 555 555 0100")
    items = [("d-1", event()), ("d-2", replace(event(id="e2"), customer=SAM)), ("d-3", event(id="e3")),
             ("d-4", replace(event(id="e4"), customer=both)), ("d-5", replace(event(id="e5"), customer=SAM))]
    assert _entries(sent(BULK_EVENTS_PATH, encode_bulk_events(items))) == [
        ({"email": "jane@example.test"}, ["d-1", "d-3"]), ({"email": "sam@example.test"}, ["d-2", "d-5"]),
        ({"email": "jane@example.test", "phone_number": "+15555550100"}, ["d-4"])]  # other identifiers: own entry


def test_bulk_events_send_a_repeated_delivery_id_once() -> None:
    body = sent(BULK_EVENTS_PATH, encode_bulk_events([("d-1", event()), ("d-2", event(id="e2")), ("d-1", event())]))
    assert _entries(body) == [({"email": "jane@example.test"}, ["d-1", "d-2"])]


def test_bulk_events_take_1_to_1000_in_one_request() -> None:
    items = [(f"d-{i}", event(id=f"e{i}")) for i in range(MAX_BULK_EVENTS + 1)]
    assert len(_entries(encode_bulk_events(items[:MAX_BULK_EVENTS]))[0][1]) == 1000
    with pytest.raises(ValueError, match="1000 events and 5,000,000 bytes"):
        encode_bulk_events(items)
    with pytest.raises(ValueError, match="at least one"):
        encode_bulk_events([])
    assert encode_bulk_event_requests([]) == []


def test_bulk_events_split_at_1000_events() -> None:
    customers = [Customer(provider_id=f"c{i}", email=f"u{i}@example.test") for i in range(7)]
    items = [(f"d-{i}", replace(event(id=f"e{i}"), customer=customers[i % 7])) for i in range(2_500)]
    bodies = encode_bulk_event_requests(items)
    assert [sum(len(ids) for _, ids in _entries(b)) for b in bodies] == [1000, 1000, 500]
    for body in bodies:
        sent(BULK_EVENTS_PATH, body)
        assert len(_entries(body)) == 7  # still one entry per profile in each request
    sent_ids = sorted((i for b in bodies for _, ids in _entries(b) for i in ids), key=lambda d: int(d[2:]))
    assert sent_ids == [d for d, _ in items]  # each once, none lost


def test_bulk_events_split_at_5_mb() -> None:
    big = {"Note": "x" * 60_000}  # ~60 KB per event: 5 MB holds about 83
    customers = [Customer(provider_id=f"c{i}", email=f"u{i}@example.test") for i in range(3)]
    items = [(f"d-{i}", replace(event(id=f"e{i}"), customer=customers[i % 3], properties=big)) for i in range(200)]
    bodies = encode_bulk_event_requests(items)
    sizes = [len(post(BULK_EVENTS_PATH, b).content) for b in bodies]
    assert len(bodies) == 3 and all(s <= MAX_BULK_BYTES for s in sizes)
    assert all(s > MAX_BULK_BYTES - 61_000 for s in sizes[:-1])  # filled before starting the next one
    assert sum(len(ids) for b in bodies for _, ids in _entries(b)) == 200
    sent(BULK_EVENTS_PATH, bodies[0])


@pytest.mark.parametrize("max_bytes", [900, 1_000, 1_500, 2_345, 4_000])
def test_bulk_events_byte_limit_is_exact_and_greedy(max_bytes: int) -> None:
    customers = [Customer(provider_id=f"c{i}", email=f"user{i}@example.test") for i in range(4)]
    items = {f"d-{i}": replace(event(id=f"e{i}"), customer=customers[i * 7 % 4], properties={"n": "y" * (i * 37 % 90)})
             for i in range(60)}
    bodies = encode_bulk_event_requests(list(items.items()), max_bytes=max_bytes)
    assert all(len(json.dumps(b).encode()) <= max_bytes for b in bodies)
    assert sum(len(ids) for b in bodies for _, ids in _entries(b)) == 60
    for body, following in zip(bodies, bodies[1:]):  # the next request's first event would not have fitted
        ids = [i for _, ids in _entries(body) for i in ids] + [_entries(following)[0][1][0]]
        (together,) = encode_bulk_event_requests([(i, items[i]) for i in ids], max_bytes=10**9)
        slack = 2 * (len(_entries(together)) + 1)  # the encoder's size bound exceeds the exact size by this
        assert len(json.dumps(together).encode()) + slack > max_bytes


def test_bulk_events_refuse_an_event_over_the_byte_limit_or_unencodable() -> None:
    with pytest.raises(ValueError, match="delivery d-2: the event alone"):
        encode_bulk_event_requests([("d-1", event()), ("d-2", replace(event(), properties={"x": "y" * 2_000}))],
                                   max_bytes=1_500)
    with pytest.raises(ValueError, match="delivery d-9: profile: the customer has neither email nor phone"):
        encode_bulk_event_requests([("d-1", event()), ("d-9", event(email=None))])
    with pytest.raises(ValueError) as info:
        encode_bulk_event_requests([("d-3", replace(event(), customer=Customer(provider_id="c", phone="555-0199")))])
    assert "d-3" in str(info.value) and "0199" not in str(info.value)
    with pytest.raises(ValueError, match="delivery d-4: 401 event properties"):
        encode_bulk_event_requests([("d-4", replace(event(), properties={f"p{i}": i for i in range(401)}))])


def test_validator_catches_wrong_bulk_event_bodies() -> None:
    body = encode_bulk_events([("d-1", event()), ("d-2", event(id="e2"))])
    entry = body["data"]["attributes"]["events-bulk-create"]["data"][0]["attributes"]
    entry["events"]["data"][1]["attributes"]["unique_id"] = "d-1"
    with pytest.raises(SpecViolation, match="repeated for one profile and metric"):
        SPECS[BULK_EVENTS_PATH].validate(post(BULK_EVENTS_PATH, body))
    entry["events"]["data"][1]["type"] = "events"
    with pytest.raises(SpecViolation, match=re.escape("'events' is not one of ['event']")):
        SPECS[BULK_EVENTS_PATH].validate(post(BULK_EVENTS_PATH, body))
    entry["events"]["data"] = [entry["events"]["data"][0]] * 1_001
    entry["events"]["data"] = [{**e, "attributes": {**e["attributes"], "unique_id": f"u{i}"}}
                               for i, e in enumerate(entry["events"]["data"])]
    with pytest.raises(SpecViolation, match="1001 events"):
        SPECS[BULK_EVENTS_PATH].validate(post(BULK_EVENTS_PATH, body))


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
