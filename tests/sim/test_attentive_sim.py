"""The Attentive simulator over real loopback HTTP."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Iterator

import httpx
import pytest

from pipeline.destinations.attentive.encoding import ATTRIBUTES_PATH, EVENTS_PATH, encode_attributes, encode_event
from sandbox.sim import AttentiveAccount, AttentiveSimulator
from pipeline.types import Customer
from tests.factories import event, profile
from tests.sim.conftest import FakeMonotonic

GOOD_EVENT: dict[str, Any] = {
    "type": "Smile Points Earned",
    "properties": {"Points": 50, "Transaction ID": 7, "Referrer (Okendo), a;b": "x", "items": [1, 2], "o": {"a": 1}},
    "externalEventId": "d-1",
    "occurredAt": "2026-03-01T12:00:00.000Z",
    "user": {"phone": "+13115552368", "email": "jane@example.test"},
}
GOOD_ATTRIBUTES: dict[str, Any] = {"properties": {"Points Balance": 300, "VIP": True, "Tier": "Gold"},
                                   "user": {"email": "jane@example.test"}}


@pytest.fixture
def sim() -> Iterator[AttentiveSimulator]:
    with AttentiveSimulator() as s:
        yield s


@pytest.fixture
def account(sim: AttentiveSimulator) -> AttentiveAccount:
    return sim.add_account("at_token_a", company_name="Hudson & Ivy")


@pytest.fixture
def client(sim: AttentiveSimulator, account: AttentiveAccount) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer at_token_a"}, timeout=5) as c:
        yield c


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"id", "message"} and isinstance(body["error"]["id"], int)
    return str(body["error"]["message"])


def test_auth_and_me(sim: AttentiveSimulator, account: AttentiveAccount) -> None:
    with httpx.Client(base_url=sim.base_url) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic at_token_a"},
                        {"Authorization": "Bearer"}):
            r = c.get("/v1/me", headers=headers)
            _error(r, 401)
            assert r.headers["x-ratelimit-limit"] == "150"
            assert c.post(EVENTS_PATH, json=GOOD_EVENT, headers=headers).status_code == 401
        me = c.get("/v1/me", headers={"Authorization": "Bearer at_token_a"}).json()
        assert me["companyName"] == "Hudson & Ivy" and me["id"] == account.id == me["companyId"]
    assert account.events == []


def test_accepts_what_the_encoder_produces(client: httpx.Client, account: AttentiveAccount) -> None:
    phone_only = Customer(provider_id="c2", phone="(555) 555-0100")
    both = Customer(provider_id="c3", email="sam@example.test", phone="+44 20 7946 0958")
    events = [
        event(),
        replace(event("Opted In to Okendo Referrals (Referrer)"), customer=phone_only),
        replace(event("Rediem \"VIP\" Tier [Gold]"), customer=both,
                properties={"Tier {new}": "Gold", "since": datetime(2026, 1, 2, tzinfo=timezone.utc), "ratio": 0.5,
                            "gone": None, "vip": False}),
    ]
    for i, item in enumerate(events):
        r = client.post(EVENTS_PATH, json=encode_event(item, delivery_id=f"d-{i}"))
        assert r.status_code == 200 and r.content in (b"", b"{}"), r.text
    updates = (profile(), profile(email=None, phone="555-555-0100"),
               profile(email="sam@example.test", phone="+442079460958"))
    for update in updates:
        r = client.post(ATTRIBUTES_PATH, json=encode_attributes(update))
        assert r.status_code == 200, r.text
    assert [e["type"] for e in account.events] == ["Smile Points Earned", "Opted In to Okendo Referrals Referrer",
                                                   "Rediem VIP Tier Gold"]
    assert account.events[1]["user"] == {"phone": "+15555550100"}
    assert account.events[2]["properties"]["since"] == "2026-01-02T00:00:00.000Z"
    assert account.events_of_type("Rediem VIP Tier Gold")[0]["externalEventId"] == "d-2"
    assert account.events[0]["received_at"].endswith("Z")
    assert account.attribute_types == {"Enrolled in Smile": "boolean", "Smile Points Balance": "number"}
    assert len(account.attribute_calls) == 3 and set(account.users) == {"jane@example.test", "+15555550100",
                                                                        "+442079460958"}
    assert account.users_by_email("JANE@example.test")[0]["properties"]["Smile Points Balance"] == 300


def test_events_are_not_deduplicated(client: httpx.Client, account: AttentiveAccount) -> None:
    body = encode_event(event(), delivery_id="same-delivery")
    assert [client.post(EVENTS_PATH, json=body).status_code for _ in range(3)] == [200, 200, 200]
    assert len(account.events) == 3 and len(account.events_by_external_id["same-delivery"]) == 3
    no_id = {k: v for k, v in GOOD_EVENT.items() if k not in ("externalEventId", "occurredAt", "properties")}
    assert client.post(EVENTS_PATH, json=no_id).status_code == 200
    assert len(account.events) == 4 and set(account.events_by_external_id) == {"same-delivery"}


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"type": "Points (Earned)"}, "type"),
        ({"type": "Points, Earned"}, "type"),
        ({"type": "Reward's"}, "type"),
        ({"type": "a|b"}, "type"),
        ({"type": "  "}, "type"),
        ({"type": 5}, "type"),
        ({"properties": {"Tier {new}": 1}}, "properties.Tier {new}"),
        ({"properties": {"a\"b": 1}}, "properties.a\"b"),
        ({"properties": [1]}, "properties"),
        ({"externalEventId": 12}, "externalEventId"),
        ({"occurredAt": "2026-03-01T12:00:00"}, "occurredAt"),
        ({"occurredAt": "2026-03-01 12:00:00Z"}, "occurredAt"),
        ({"occurredAt": "2026-13-01T12:00:00Z"}, "occurredAt"),
        ({"occurredAt": 1767323045}, "occurredAt"),
        ({"user": {}}, "user"),
        ({"user": "jane@example.test"}, "user"),
        ({"user": {"phone": "5555550100"}}, "user.phone"),
        ({"user": {"phone": "+1555"}}, "user.phone"),
        ({"user": {"phone": "+10005550100"}}, "user.phone"),
        ({"user": {"email": "not-an-email"}}, "user.email"),
        ({"user": {"email": "a@b.test", "clientUserId": "c1"}}, "user.clientUserId"),
        ({"user": {"externalIdentifiers": {"customIdentifiers": [{"name": "x"}]}}},
         "user.externalIdentifiers.customIdentifiers"),
    ],
)
def test_event_validation_names_the_field(
    client: httpx.Client, account: AttentiveAccount, patch: dict[str, Any], field: str
) -> None:
    message = _error(client.post(EVENTS_PATH, json={**GOOD_EVENT, **patch}), 400)
    assert message.startswith(f"{field}:")
    assert account.events == []


def test_event_body_shape_errors(client: httpx.Client, account: AttentiveAccount) -> None:
    for missing in ("type", "user"):
        without = {k: v for k, v in GOOD_EVENT.items() if k != missing}
        assert _error(client.post(EVENTS_PATH, json=without), 400).startswith(f"{missing}:")
    assert "body" in _error(client.post(EVENTS_PATH, json=[GOOD_EVENT]), 400)
    _error(client.post(EVENTS_PATH, content=b"{nope", headers={"Content-Type": "application/json"}), 400)
    r = client.post(EVENTS_PATH, content=b"{}", headers={"Content-Type": "text/plain"})
    assert "Content-Type" in _error(r, 400)
    ids = {"clientUserId": "cust-1", "customIdentifiers": [{"name": "loyaltyId", "value": "9"}]}
    external = {**GOOD_EVENT, "user": {"externalIdentifiers": ids}}
    assert client.post(EVENTS_PATH, json=external).status_code == 200 and len(account.events) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"properties": {"cities": ["chicago", "new york"]}}, "properties.cities"),
        ({"properties": {"tier": {"name": "Gold"}}}, "properties.tier"),
        ({"properties": {"x" * 201: 1}}, "properties.xxxx"),
        ({"properties": {"gone": None}}, "properties.gone"),
        ({"properties": "Gold"}, "properties"),
        ({"properties": None}, "properties"),
        ({"user": None}, "user"),
        ({"user": {"phone": "+1 555 555 0100"}}, "user.phone"),
        ({"user": {"email": "jane@example.test", "id": 3}}, "user.id"),
    ],
)
def test_attribute_validation_names_the_field(
    client: httpx.Client, account: AttentiveAccount, body: dict[str, Any], field: str
) -> None:
    message = _error(client.post(ATTRIBUTES_PATH, json={**GOOD_ATTRIBUTES, **body}), 400)
    assert message.startswith(field)
    assert account.attribute_calls == [] and account.attribute_types == {}


def test_attribute_type_is_fixed_by_the_first_value(client: httpx.Client, account: AttentiveAccount) -> None:
    jane = {"email": "jane@example.test"}
    first = {"Balance": 300, "Age": "24", "VIP": "TRUE", "Member": True, "Tier": "Gold", "Code": "A1"}
    assert client.post(ATTRIBUTES_PATH, json={"properties": first, "user": jane}).status_code == 200
    assert account.attribute_types == {"Balance": "number", "Age": "number", "VIP": "boolean", "Member": "boolean",
                                       "Tier": "string", "Code": "string"}
    fine = {"Balance": "310", "Age": 25, "VIP": False, "Member": "false", "Tier": "24", "Code": "B2"}
    assert client.post(ATTRIBUTES_PATH, json={"properties": fine, "user": jane}).status_code == 200
    for name, value in (("Balance", "lots"), ("Balance", True), ("Age", "twenty"), ("VIP", 1), ("Member", "yes"),
                        ("Tier", 3), ("Tier", False)):
        r = client.post(ATTRIBUTES_PATH, json={"properties": {"New": 1, name: value}, "user": jane})
        message = _error(r, 400)
        assert message.startswith(f"properties.{name}:") and name in message
    assert "New" not in account.attribute_types  # a refused call fixes no type
    assert len(account.attribute_calls) == 2
    assert account.users["jane@example.test"]["properties"] == fine


def test_users_merge_by_phone_or_email(client: httpx.Client, account: AttentiveAccount) -> None:
    calls = [({"phone": "+15555550100"}, {"a": 1}), ({"phone": "+15555550100", "email": "p@x.test"}, {"b": "x"}),
             ({"email": "P@x.test"}, {"a": 2}), ({"email": "q@x.test"}, {"c": True})]
    for user, props in calls:
        assert client.post(ATTRIBUTES_PATH, json={"properties": props, "user": user}).status_code == 200
    assert set(account.users) == {"+15555550100", "q@x.test"}
    merged = account.users["+15555550100"]
    assert merged == {"phone": "+15555550100", "email": "p@x.test", "externalIdentifiers": None,
                      "properties": {"a": 2, "b": "x"}}
    assert account.users_by_email("p@x.test") == [merged] and account.find_user(email="q@x.test") is not None
    assert account.users_by_email("nobody@x.test") == []


def test_rate_limit_headers_and_429(mono: FakeMonotonic) -> None:
    with AttentiveSimulator(rate_per_s=3, monotonic=mono) as sim:
        sim.add_account("tok_a")
        sim.add_account("tok_b")
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer tok_a"}) as c:
            got = [c.get("/v1/me") for _ in range(3)]
            assert [(r.status_code, r.headers["x-ratelimit-limit"], r.headers["x-ratelimit-remaining"]) for r in got] \
                == [(200, "3", "2"), (200, "3", "1"), (200, "3", "0")]
            r = c.post(EVENTS_PATH, json=GOOD_EVENT)
            assert _error(r, 429) and "retry-after" not in r.headers
            assert r.headers["x-ratelimit-limit"] == "3" and r.headers["x-ratelimit-remaining"] == "0"
            other = c.get("/v1/me", headers={"Authorization": "Bearer tok_b"})
            assert other.status_code == 200 and other.headers["x-ratelimit-remaining"] == "2"
            mono.t += 0.99
            assert c.get("/v1/me").status_code == 429  # refused requests do not extend the window
            mono.t += 0.01
            r = c.post(EVENTS_PATH, json=GOOD_EVENT)
            assert r.status_code == 200 and r.headers["x-ratelimit-remaining"] == "2"
            assert c.get("/v1/nope").headers["x-ratelimit-remaining"] == "2"  # 404: headers, not counted
        assert len(sim.accounts["tok_a"].events) == 1


def test_rate_limit_can_be_disabled() -> None:
    with AttentiveSimulator(rate_per_s=None) as sim:
        sim.add_account("tok")
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer tok"}) as c:
            responses = [c.get("/v1/me") for _ in range(200)]
    assert {r.status_code for r in responses} == {200} and "x-ratelimit-limit" not in responses[0].headers


def test_faults_and_routing(sim: AttentiveSimulator, client: httpx.Client, account: AttentiveAccount) -> None:
    sim.fail_next(1, 500, path_prefix=EVENTS_PATH)
    assert client.get("/v1/me").status_code == 200
    r = client.post(EVENTS_PATH, json=GOOD_EVENT)
    _error(r, 500)
    assert r.headers["x-ratelimit-limit"] == "150" and account.events == []
    assert client.post(EVENTS_PATH, json=GOOD_EVENT).status_code == 200
    _error(client.get(EVENTS_PATH), 405)
    _error(client.post("/v2/events/custom", json=GOOD_EVENT), 404)
    assert [q.status for q in sim.requests] == [200, 500, 200, 405, 404] and sim.errors == []
