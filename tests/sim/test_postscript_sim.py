"""The Postscript simulator over real loopback HTTP."""

from __future__ import annotations

import base64
import time
from typing import Any, Iterator

import httpx
import pytest

from sandbox.sim import PostscriptShop, PostscriptSimulator

GOOD_EVENT: dict[str, Any] = {
    "type": "Smile_Points_Earned",
    "email": "jane@doe.com",
    "occurred_at": "2026-01-02 03:04:05.123000",
    "properties": {"points": 50, "Point Balance": 1200, "ratio": 0.5, "vip": True, "reason": "order"},
    "external_id": "evt-1",
}


@pytest.fixture
def sim() -> Iterator[PostscriptSimulator]:
    with PostscriptSimulator(rate_per_s=None, partner_keys=["pk_partner"], page_size=2) as s:
        yield s


@pytest.fixture
def shop(sim: PostscriptSimulator) -> PostscriptShop:
    return sim.add_shop("sk_shop_a", name="Shop A")


@pytest.fixture
def client(sim: PostscriptSimulator, shop: PostscriptShop) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer sk_shop_a"}, timeout=5) as c:
        yield c


def test_auth_modes(sim: PostscriptSimulator, shop: PostscriptShop) -> None:
    with httpx.Client(base_url=sim.base_url) as c:
        for headers in ({}, {"Authorization": "Bearer sk_nope"}, {"Authorization": "Bearer pk_partner",
                                                                  "X-Postscript-Shop-Token": "sk_nope"}):
            r = c.get("/api/v2/me", headers=headers)
            assert r.status_code == 401 and r.json()["success"] is False and r.json()["error_message"]
        me = c.get("/api/v2/me", headers={"Authorization": "Bearer sk_shop_a"}).json()
        assert me["shop_id"] == shop.shop_id and me["name"] == "Shop A" and me["resource_type"] == "shop"
        partner = {"Authorization": "Bearer pk_partner", "X-Postscript-Shop-Token": "sk_shop_a"}
        assert c.post("/api/v2/events", json=GOOD_EVENT, headers=partner).status_code == 202
        assert c.get("/api/v2/me", headers={"Authorization": "Bearer pk_partner"}).json()["resource_type"] == "partner"
        r = c.post("/api/v2/events", json=GOOD_EVENT, headers={"Authorization": "Bearer pk_partner"})
        assert r.status_code == 401  # partner key alone cannot act for a shop
        basic = base64.b64encode(b"sk_shop_a:").decode()
        assert c.get("/api/v2/me", headers={"Authorization": f"Basic {basic}"}).status_code == 200


def test_event_accepted_and_recorded(client: httpx.Client, shop: PostscriptShop, sim: PostscriptSimulator) -> None:
    r1 = client.post("/api/v2/events", json=GOOD_EVENT)
    r2 = client.post("/api/v2/events", json=GOOD_EVENT)  # a retry with the same external_id
    assert r1.status_code == 202 and len(r1.json()["event_ids"]) == 1
    assert r1.json()["event_ids"] != r2.json()["event_ids"]
    assert len(shop.events) == 2 and len(shop.events_by_external_id["evt-1"]) == 2
    event = shop.events[0]
    assert {k: event[k] for k in GOOD_EVENT} == GOOD_EVENT
    assert event["event_id"] == r1.json()["event_ids"][0] and event["received_at"].endswith("Z")
    minimal = client.post("/api/v2/events", json={"type": "X", "subscriber_id": "s_1"})
    assert minimal.status_code == 202 and shop.events_of_type("X")
    assert sim.requests[0].json() == GOOD_EVENT and sim.requests[0].headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"type": "Points Earned"}, "type"),
        ({"type": "Points-Earned"}, "type"),
        ({"type": ""}, "type"),
        ({"type": "x" * 101}, "type"),
        ({"type": 5}, "type"),
        ({"type": None}, "type"),
        ({"occurred_at": "2026-01-02T03:04:05Z"}, "occurred_at"),
        ({"occurred_at": "2026-01-02 03:04:05"}, "occurred_at"),
        ({"occurred_at": 1767323045}, "occurred_at"),
        ({"properties": {"tier": {"name": "Gold"}}}, "properties.tier"),
        ({"properties": {"tags": ["a", "b"]}}, "properties.tags"),
        ({"properties": {"gone": None}}, "properties.gone"),
        ({"properties": [1, 2]}, "properties"),
        ({"external_id": 12}, "external_id"),
        ({"email": ""}, "email"),
        ({"customer_id": "c1"}, "customer_id"),
    ],
)
def test_event_validation_names_the_field(
    client: httpx.Client, shop: PostscriptShop, patch: dict[str, Any], field: str
) -> None:
    r = client.post("/api/v2/events", json={**GOOD_EVENT, **patch})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["field"] == field and field in body["error_message"] and body["success"] is False
    assert shop.events == []


def test_event_body_shape_errors(client: httpx.Client, shop: PostscriptShop) -> None:
    no_ids = {k: v for k, v in GOOD_EVENT.items() if k != "email"}
    assert client.post("/api/v2/events", json=no_ids).json()["field"] == "subscriber_id"
    missing_type = {k: v for k, v in GOOD_EVENT.items() if k != "type"}
    assert client.post("/api/v2/events", json=missing_type).json()["field"] == "type"
    assert client.post("/api/v2/events", json=[GOOD_EVENT]).status_code == 400
    r = client.post("/api/v2/events", content=b'{"type": "X", "email": "a@b"}', headers={"Content-Type": "text/plain"})
    assert r.status_code == 400 and r.json()["field"] == "Content-Type"
    r = client.post("/api/v2/events", content=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"
    r = client.post("/api/v2/events", content=b'{"type":"X","email":"a@b","properties":{"n":NaN}}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert shop.events == []


def test_subscriber_lookup(client: httpx.Client, shop: PostscriptShop) -> None:
    jane = shop.add_subscriber(email="Jane@Doe.com", phone_number="+1 (555) 000-1234")
    for i in range(4):
        shop.add_subscriber(email=f"u{i}@x.test", phone_number=f"+1555111000{i}")
    assert jane["id"].startswith("s_") and len({s for s in shop.subscribers}) == 5
    by_email = client.get("/api/v2/subscribers", params={"email__eq": "jane@doe.com"}).json()
    assert by_email["page_info"] == {"page": 1, "total_pages": 1}
    sub = by_email["subscribers"][0]
    assert sub["id"] == jane["id"] and sub["subscriptions"]["promotional"]["can_send"] is True
    assert {"id", "email", "phone_number", "properties", "tags", "subscriptions", "shopify_customer_id",
            "ps_id", "created_at", "updated_at"} <= set(sub)
    by_phone = client.get("/api/v2/subscribers", params={"phone_number__eq": "15550001234"}).json()["subscribers"]
    assert [s["id"] for s in by_phone] == [jane["id"]]
    assert client.get("/api/v2/subscribers", params={"email__eq": "none@x.test"}).json()["subscribers"] == []
    page3 = client.get("/api/v2/subscribers", params={"page": 3}).json()
    assert page3["page_info"] == {"page": 3, "total_pages": 3} and len(page3["subscribers"]) == 1
    r = client.get("/api/v2/subscribers", params={"email": "jane@doe.com"})
    assert r.status_code == 400 and r.json()["field"] == "email"
    assert client.get("/api/v2/subscribers", params={"page": "0"}).status_code == 400
    assert client.get(f"/api/v2/subscribers/{jane['id']}").json()["email"] == "Jane@Doe.com"
    assert client.get("/api/v2/subscribers/s_missing").status_code == 404


def test_patch_merges_properties(client: httpx.Client, shop: PostscriptShop) -> None:
    sub = shop.add_subscriber(phone_number="+15550009999", properties={"a": 1, "b": "x"}, tags=["old"])
    r = client.patch(f"/api/v2/subscribers/{sub['id']}", json={
        "properties": {"b": "y", "Smile Points Balance": 1200, "vip": True, "cats": ["Home", "Beauty"]},
        "tags": ["VIP", "old"], "email": "late@x.test",
    })
    assert r.status_code == 200
    assert r.json()["properties"] == {"a": 1, "b": "y", "Smile Points Balance": 1200, "vip": True,
                                      "cats": ["Home", "Beauty"]}
    assert r.json()["tags"] == ["old", "VIP"] and r.json()["email"] == "late@x.test"
    client.patch(f"/api/v2/subscribers/{sub['id']}", json={"email": "other@x.test", "properties": None})
    assert shop.subscribers[sub["id"]]["email"] == "late@x.test"  # only set when none existed
    assert [p[0] for p in shop.patches] == [sub["id"], sub["id"]]
    for bad, field in (({"tier": {"n": 1}}, "properties.tier"), ({"l": [1]}, "properties.l"),
                       ({"z": None}, "properties.z")):
        r = client.patch(f"/api/v2/subscribers/{sub['id']}", json={"properties": bad})
        assert r.status_code == 400 and r.json()["field"] == field
    r = client.patch(f"/api/v2/subscribers/{sub['id']}", json={"attributes": {}})
    assert r.status_code == 400 and r.json()["field"] == "attributes"
    assert client.patch("/api/v2/subscribers/s_missing", json={"properties": {"a": 1}}).status_code == 404
    assert len(shop.patches) == 2


def test_fifty_property_limit(client: httpx.Client, shop: PostscriptShop) -> None:
    sub = shop.add_subscriber(email="p@x.test", properties={f"k{i}": i for i in range(48)})
    url = f"/api/v2/subscribers/{sub['id']}"
    assert client.patch(url, json={"properties": {"k48": 1, "k49": 2}}).status_code == 200
    assert client.patch(url, json={"properties": {"k0": "updated"}}).status_code == 200  # overwrite: still 50
    r = client.patch(url, json={"properties": {"k50": 1}})
    assert r.status_code == 400 and r.json()["field"] == "properties" and "50" in r.json()["error_message"]
    props = shop.subscribers[sub["id"]]["properties"]
    assert len(props) == 50 and "k50" not in props


def test_rate_limit_then_recovery() -> None:
    with PostscriptSimulator(rate_per_s=4) as sim:
        sim.add_shop("sk_a")
        sim.add_shop("sk_b")
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer sk_a"}) as c:
            t0 = time.monotonic()
            assert [c.get("/api/v2/me").status_code for _ in range(4)] == [200] * 4
            r = c.get("/api/v2/me")
            assert r.status_code == 429 and "retry-after" not in r.headers
            assert r.json() == {"error_code": 3002, "error_message": "Rate limit exceeded", "success": False}
            assert c.get("/api/v2/me", headers={"Authorization": "Bearer sk_b"}).status_code == 200
            time.sleep(max(0.0, 1.05 - (time.monotonic() - t0)))
            assert c.get("/api/v2/me").status_code == 200


def test_faults_and_routing(sim: PostscriptSimulator, client: httpx.Client, shop: PostscriptShop) -> None:
    sim.fail_next(1, 500, path_prefix="/api/v2/events")
    assert client.get("/api/v2/me").status_code == 200  # not under the prefix
    r = client.post("/api/v2/events", json=GOOD_EVENT)
    assert r.status_code == 500 and r.json()["success"] is False and shop.events == []
    assert client.post("/api/v2/events", json=GOOD_EVENT).status_code == 202
    assert client.put("/api/v2/events", json=GOOD_EVENT).status_code == 405
    assert client.get("/api/v2/custom-events").status_code == 404
    assert [q.status for q in sim.requests] == [200, 500, 202, 405, 404] and sim.errors == []
