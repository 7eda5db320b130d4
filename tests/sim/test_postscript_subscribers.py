"""The Postscript simulator's subscriber writes: documented property types only (no floats),
and ``POST /api/v2/subscribers`` as developers.postscript.io documents it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from sandbox.sim import PostscriptShop, PostscriptSimulator


@pytest.fixture
def shop_client() -> Iterator[tuple[PostscriptShop, httpx.Client]]:
    with PostscriptSimulator(rate_per_s=None) as sim:
        shop = sim.add_shop("sk_a")
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer sk_a"}, timeout=5) as client:
            yield shop, client


def test_a_decimal_property_value_is_refused_naming_it(shop_client: tuple[PostscriptShop, httpx.Client]) -> None:
    shop, client = shop_client
    sub = shop.add_subscriber(email="jane@example.test")
    bad = client.patch(f"/api/v2/subscribers/{sub['id']}", json={"properties": {"Points": 250.0}})
    assert bad.status_code == 400 and "properties.Points" in bad.text
    ok = client.patch(f"/api/v2/subscribers/{sub['id']}",
                      json={"properties": {"Points": 250, "Balance": "10.00", "Tags": ["a"], "Member": True}})
    assert ok.status_code == 200 and shop.subscribers[sub["id"]]["properties"]["Points"] == 250


def test_create_needs_a_phone_and_makes_a_pending_subscriber(shop_client: tuple[PostscriptShop, httpx.Client]) -> None:
    shop, client = shop_client
    assert client.post("/api/v2/subscribers", json={"email": "a@example.test"}).status_code == 400
    assert client.post("/api/v2/subscribers", json={"phone_number": "+15555550100", "origin": "x"}).status_code == 400
    made = client.post("/api/v2/subscribers", json={"phone_number": "+15555550100", "email": "a@example.test",
                                                    "properties": {"rediem_point_balance": 10}})
    assert made.status_code == 201
    (sid,) = shop.created
    sub = shop.subscribers[sid]
    assert sub["subscriptions"]["promotional"]["can_send"] is False  # pending until it opts in
    assert sub["properties"] == {"rediem_point_balance": 10}
    again = client.post("/api/v2/subscribers", json={"phone_number": "+15555550100"})
    assert again.status_code == 400 and "already exists" in again.text
    found = client.get("/api/v2/subscribers", params={"phone_number__eq": "15555550100"}).json()["subscribers"]
    assert [s["id"] for s in found] == [sid]
