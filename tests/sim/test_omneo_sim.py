"""The Omneo simulator over real loopback HTTP: Laravel pagination, throttling, records, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any, Iterator

import httpx
import pytest

from pipeline.providers.resources import decode, unwrap
from sandbox.sim import OmneoSimulator, OmneoTenant, OmneoWebhookSender, seed_omneo
from pipeline.webhooks.signatures import SignatureError, verify

TOKEN = "omneo-token-a"


@pytest.fixture
def sim(clock: Any) -> Iterator[OmneoSimulator]:
    with OmneoSimulator(rate_per_s=None, now=clock) as s:
        yield s


@pytest.fixture
def tenant(sim: OmneoSimulator) -> OmneoTenant:
    return sim.add_tenant(TOKEN)


@pytest.fixture
def client(sim: OmneoSimulator, tenant: OmneoTenant) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5) as c:
        yield c


def _points(tenant: OmneoTenant, clock: Any, n: int) -> tuple[str, list[int]]:
    profile = tenant.add_profile("jane@doe.com", "Jane", "Doe", "+61400000001")
    ids = []
    for i in range(n):
        clock.t += timedelta(seconds=1)
        ids.append(tenant.award_points(profile["id"], 10 * (i + 1))["id"])
    return profile["id"], ids


def _walk(client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict]]:
    """Follow links.next; returns (all records, every response body)."""
    bodies = [client.get(path, params=params).json()]
    while bodies[-1]["links"]["next"]:
        bodies.append(client.get(bodies[-1]["links"]["next"]).json())
    return [r for b in bodies for r in b["data"]], bodies


def test_auth(sim: OmneoSimulator, tenant: OmneoTenant) -> None:
    with httpx.Client(base_url=sim.base_url) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
            r = c.get("/api/v3/points", headers=headers)
            assert r.status_code == 401 and r.json() == {"message": "Unauthenticated."}
        r = c.get("/api/v3/nothing", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 404 and "message" in r.json()


@pytest.mark.parametrize(("params", "field"), [
    ({"page[size]": "0"}, "page.size"), ({"page[size]": "101"}, "page.size"), ({"page[size]": "x"}, "page.size"),
    ({"page[number]": "0"}, "page.number"), ({"sort": "created_at"}, "sort"),
    ({"filter[updated_at][gte]": "yesterday"}, "filter.updated_at.gte"),
    ({"updated_since": "2026-01-01"}, "updated_since"), ({"page[limit]": "5"}, "page[limit]"),
])
def test_validation_422(client: httpx.Client, params: dict[str, str], field: str) -> None:
    r = client.get("/api/v3/transactions", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["message"] and list(body["errors"]) == [field] and body["errors"][field]


def test_page_size_bounds(client: httpx.Client, tenant: OmneoTenant, clock: Any) -> None:
    _points(tenant, clock, 3)
    assert client.get("/api/v3/points", params={"page[size]": 100}).json()["meta"]["per_page"] == 100
    assert len(client.get("/api/v3/points", params={"page[size]": 1}).json()["data"]) == 1
    assert client.get("/api/v3/points").json()["meta"]["per_page"] == 25  # default


def test_laravel_pagination_walk(client: httpx.Client, tenant: OmneoTenant, clock: Any, sim: OmneoSimulator) -> None:
    _, ids = _points(tenant, clock, 7)
    records, bodies = _walk(client, "/api/v3/points", {"page[size]": 3, "filter[updated_at][gte]": "2026-01-01"})
    assert [r["id"] for r in records] == ids  # default sort: id ascending
    assert len(bodies) == 3
    first, last = bodies[0], bodies[-1]
    assert first["meta"] == {"current_page": 1, "from": 1, "last_page": 3, "path": f"{sim.base_url}/api/v3/points",
                             "per_page": 3, "to": 3, "total": 7}
    assert last["meta"]["from"] == 7 and last["meta"]["to"] == 7 and last["links"]["next"] is None
    assert first["links"]["prev"] is None and last["links"]["prev"] == bodies[1]["links"]["first"].replace(
        "page%5Bnumber%5D=1", "page%5Bnumber%5D=2")
    nxt = httpx.URL(first["links"]["next"])
    assert str(nxt).startswith(sim.base_url) and nxt.params["page[number]"] == "2"
    assert nxt.params["page[size]"] == "3" and nxt.params["filter[updated_at][gte]"] == "2026-01-01"
    assert httpx.URL(first["links"]["last"]).params["page[number]"] == "3"
    beyond = client.get("/api/v3/points", params={"page[size]": 3, "page[number]": 9}).json()
    assert beyond["data"] == [] and beyond["meta"]["from"] is None and beyond["links"]["next"] is None


def test_filter_and_sort(client: httpx.Client, tenant: OmneoTenant, clock: Any) -> None:
    profile_id, ids = _points(tenant, clock, 4)  # updated 12:00:01 .. 12:00:04
    for since in ("2026-01-01 12:00:03", "2026-01-01T12:00:03Z", "2026-01-01T13:00:03+01:00"):
        got = client.get("/api/v3/points", params={"filter[updated_at][gte]": since}).json()["data"]
        assert [p["id"] for p in got] == ids[2:], since  # inclusive
    desc = client.get("/api/v3/points", params={"sort": "-updated_at"}).json()["data"]
    assert [p["id"] for p in desc] == ids[::-1]
    asc = client.get("/api/v3/points", params={"sort": "updated_at"}).json()["data"]
    assert [p["id"] for p in asc] == ids
    assert client.get("/api/v3/points", params={"filter[profile_id]": "other"}).json()["data"] == []
    profiles = client.get("/api/v3/profiles", params={"filter[updated_at][gte]": "2026-01-01 12:00:04"}).json()
    assert [p["id"] for p in profiles["data"]] == [profile_id]  # every award bumped the profile


def test_records_inserted_while_paging_are_not_skipped(
    client: httpx.Client, tenant: OmneoTenant, clock: Any, sim: OmneoSimulator,
) -> None:
    profile_id, ids = _points(tenant, clock, 5)
    added: list[int] = []

    def insert(req: Any, page: list[dict[str, Any]]) -> None:
        if req.arg("page[number]") in (None, "1"):
            clock.t += timedelta(seconds=1)
            added.append(tenant.award_points(profile_id, 99)["id"])

    assert sim.on_page(insert) is insert
    records, _ = _walk(client, "/api/v3/points", {"page[size]": 2, "sort": "updated_at"})
    assert [r["id"] for r in records] == ids + added and len(added) == 1
    sim.on_page(None)
    assert len(_walk(client, "/api/v3/points", {"page[size]": 2})[0]) == 6


def test_duplicate_across_pages(client: httpx.Client, tenant: OmneoTenant, clock: Any, sim: OmneoSimulator) -> None:
    _, ids = _points(tenant, clock, 5)
    sim.duplicate_across_pages = True
    records, bodies = _walk(client, "/api/v3/points", {"page[size]": 2})
    assert [r["id"] for r in records] == [ids[0], ids[1], ids[1], ids[2], ids[3], ids[3], ids[4]]
    assert [b["meta"]["total"] for b in bodies] == [5, 5, 5]


def test_profile_balances_and_redemptions(client: httpx.Client, tenant: OmneoTenant, clock: Any) -> None:
    p = tenant.add_profile("sam@lee.com", "Sam", "Lee")
    pid = p["id"]
    tenant.award_points(pid, 1250)
    late = tenant.issue_reward(pid, 10, expires_at=clock.t + timedelta(days=60))
    soon = tenant.issue_reward(pid, 5, name="Spend Reward", expires_at=clock.t + timedelta(days=10))
    clock.t += timedelta(minutes=5)
    redemption = tenant.redeem(pid, 8)
    # closest expiry first; money as numeric strings, as the v3 reference renders it
    assert soon["value_remaining"] == "0.00" and late["value_remaining"] == "7.00"
    assert [i["type_attributes"]["id"] for i in redemption["items"]] == [soon["id"], late["id"]]
    assert redemption["total"] == "8.00" and [i["value"] for i in redemption["items"]] == ["5.00", "3.00"]
    with pytest.raises(ValueError):
        tenant.redeem(pid, 100)
    clock.t += timedelta(minutes=5)
    txn = tenant.add_transaction(pid, 42.5, redemption_id=redemption["id"])
    assert redemption["transaction_id"] == txn["id"] and redemption["updated_at"] == "2026-01-01 12:10:00"
    assert txn["redemption"]["id"] == redemption["id"] and "redemption_id" not in txn
    body = client.get(f"/api/v3/profiles/{pid}/balances").json()
    assert body == {"data": {"reward_balance": 7.0, "point_balance": 1250.0, "point_balance_dollars": 12.5,
                             "combined_balance_dollars": 19.5, "benefit_balance": 0.0}}
    profile = client.get(f"/api/v3/profiles/{pid}").json()["data"]
    assert profile["updated_at"] == "2026-01-01 12:10:00" and profile["reward_balance"] == 7.0
    tier = tenant.achieve_tier(pid, "Silver")
    assert tier["next_tier"]["name"] == "Gold" and tier["prev_tier"] is None
    assert tenant.achieve_tier(pid, "Gold")["prev_tier"]["name"] == "Silver"
    assert client.get("/api/v3/profiles/nope").status_code == 404
    assert client.get("/api/v3/profiles/nope/balances").status_code == 404
    clock.t += timedelta(days=400)  # everything expired
    assert client.get(f"/api/v3/profiles/{pid}/balances").json()["data"]["combined_balance_dollars"] == 0


def test_every_record_validates(tenant: OmneoTenant, clock: Any) -> None:
    out = seed_omneo(tenant, profiles=6, events=80, seed=3, start=clock.t)
    kinds = {name for name, _ in out}
    assert kinds == {"profiles", "points", "rewards", "redemptions", "transactions", "tiers"}
    for name, record in out:
        decoded = decode("omneo", name, record, merchant="m")
        assert decoded.updated_at.tzinfo is not None
    pid = out[0][1]["id"]
    rec = decode("omneo", "balances", tenant.balance_record(pid), merchant="m")
    assert rec.customer.provider_id == pid
    point = next(r for n, r in out if n == "points")
    rec = decode("omneo", "points", tenant.with_profile(point), merchant="m")
    assert rec.customer.email and rec.customer.email.endswith("@example.test")


def test_seed_is_deterministic(clock: Any) -> None:
    runs = []
    for _ in range(2):
        with OmneoSimulator(rate_per_s=None, now=clock) as s:
            runs.append(seed_omneo(s.add_tenant("t"), profiles=4, events=40, seed=7, start=clock.t))
    assert runs[0] == runs[1]
    stamps = [r["created_at"] for n, r in runs[0] if n != "profiles"]
    assert stamps == sorted(stamps) and all("2025-12-31 12:00:00" <= s < "2026-01-01 12:00:00" for s in stamps)


def test_rate_limit_sends_retry_after(clock: Any, mono: Any) -> None:
    with OmneoSimulator(rate_per_s=3, now=clock, monotonic=mono) as s:
        s.add_tenant("a"), s.add_tenant("b")
        with httpx.Client(base_url=s.base_url, timeout=5) as c:
            statuses = [c.get("/api/v3/points", headers={"Authorization": "Bearer a"}).status_code for _ in range(4)]
            assert statuses == [200, 200, 200, 429]
            r = c.get("/api/v3/points", headers={"Authorization": "Bearer a"})
            assert r.json() == {"message": "Too Many Attempts."} and r.headers["Retry-After"] == "1"
            assert r.headers["X-RateLimit-Limit"] == "3"
            assert c.get("/api/v3/points", headers={"Authorization": "Bearer b"}).status_code == 200  # per token
            mono.t += 1.0
            assert c.get("/api/v3/points", headers={"Authorization": "Bearer a"}).status_code == 200


def test_slow_next_and_fail_next(client: httpx.Client, sim: OmneoSimulator) -> None:
    sim.slow_next(1, 0.4, path_prefix="/api/v3/rewards")
    assert client.get("/api/v3/points", timeout=0.3).status_code == 200  # other paths are not delayed
    with pytest.raises(httpx.ReadTimeout):
        client.get("/api/v3/rewards", timeout=0.15)
    start = time.monotonic()
    assert client.get("/api/v3/rewards").status_code == 200 and time.monotonic() - start < 0.3
    sim.fail_next(2, 503)
    r = client.get("/api/v3/points")
    assert r.status_code == 503 and "message" in r.json()
    assert client.get("/api/v3/points").status_code == 503 and client.get("/api/v3/points").status_code == 200


def test_webhook_sender(receiver: Any, tenant: OmneoTenant) -> None:
    secret = "omneo-hook-secret"
    sender = OmneoWebhookSender(receiver.url, secret)
    p = tenant.add_profile("kim@park.com", "Kim", "Park", "+61400000009")
    reward = tenant.with_profile(tenant.issue_reward(p["id"], 10))
    assert sender.send("reward.issued", reward) == 204
    assert sender.send("balance.updated", tenant.balance_record(p["id"])) == 204
    first, second = receiver.got
    now = time.time()
    ids = [verify("omneo", secret, g.headers, g.body, now_s=now) for g in receiver.got]
    assert ids[0] != ids[1] and ids[0] == sender.deliveries[0].msg_id
    assert first.headers["x-omneo-event"] == "reward.issued"
    # Omneo's signature: the lowercase hex HMAC-SHA256 of the raw body (specs/omneo/README.md §5.4)
    assert first.headers["x-omneo-hmac-sha256"] == hmac.new(secret.encode(), first.body, hashlib.sha256).hexdigest()
    name, raw, extra = unwrap("omneo", json.loads(first.body), event=first.headers["x-omneo-event"])
    assert name == "rewards" and extra == {"_event": "reward.issued"}
    assert decode("omneo", name, raw, merchant="m").customer.email == "kim@park.com"
    assert sender.replay_last() == 204
    replay = receiver.got[-1]
    assert replay.body == second.body and verify("omneo", secret, replay.headers, replay.body, now_s=now) == ids[1]
    sender.send_forged("reward.issued", reward)
    with pytest.raises(SignatureError, match="does not match"):
        verify("omneo", secret, receiver.got[-1].headers, receiver.got[-1].body, now_s=time.time())
    receiver.status = 500
    assert sender.send("reward.issued", reward) == 500 and sender.last.status == 500
    with pytest.raises(ValueError):
        sender.send("rewards", reward)  # a resource name is not a trigger
