"""The Rediem activity-feed simulator over real loopback HTTP: keyset paging, snapshots, webhooks."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from typing import Any, Iterator

import httpx
import pytest

from pipeline.providers.resources import decode, unwrap
from pipeline.providers.schemas.rediem import ACTIVITY_TYPES
from sandbox.sim import RediemProgram, RediemSimulator, RediemWebhookSender, seed_rediem
from pipeline.webhooks.signatures import SignatureError, verify

CRED = "rediem-cred-a"


@pytest.fixture
def sim(clock: Any) -> Iterator[RediemSimulator]:
    with RediemSimulator(rate_per_s=None, now=clock) as s:
        yield s


@pytest.fixture
def program(sim: RediemSimulator) -> RediemProgram:
    return sim.add_program(CRED)


@pytest.fixture
def client(sim: RediemSimulator, program: RediemProgram) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": f"Bearer {CRED}"}, timeout=5) as c:
        yield c


def _activities(program: RediemProgram, clock: Any, n: int) -> tuple[str, list[str]]:
    member = program.add_member("ava@adams.com", "+15550000001", "Ava")
    ids = []
    for i in range(n):
        clock.t += timedelta(seconds=1)
        ids.append(program.record(member["id"], "points_earned", points=10 * (i + 1))["id"])
    return member["id"], ids


def _walk(client: httpx.Client, **params: Any) -> tuple[list[dict[str, Any]], int]:
    """Follow next_cursor; returns (records, pages)."""
    body = client.get("/api/v1/activities", params=params).json()
    records, pages = list(body["data"]), 1
    while body["next_cursor"]:
        body = client.get("/api/v1/activities", params={"cursor": body["next_cursor"],
                                                        "limit": params.get("limit", 50)}).json()
        records += body["data"]
        pages += 1
    return records, pages


def test_auth(sim: RediemSimulator, program: RediemProgram) -> None:
    with httpx.Client(base_url=sim.base_url) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": CRED}):
            r = c.get("/api/v1/activities", headers=headers)
            assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"updated_since": "yesterday"}, {"page": "2"},
    {"cursor": "not-a-cursor"}, {"updated_at_min": "2026-01-01T00:00:00Z"},
])
def test_validation_400(client: httpx.Client, params: dict[str, str]) -> None:
    r = client.get("/api/v1/activities", params=params)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_parameter"
    assert next(iter(params)) in r.json()["error"]["message"]


def test_cursor_belongs_to_its_program(client: httpx.Client, program: RediemProgram, clock: Any,
                                       sim: RediemSimulator) -> None:
    _activities(program, clock, 3)
    cursor = client.get("/api/v1/activities", params={"limit": 1}).json()["next_cursor"]
    sim.add_program("other")
    r = client.get("/api/v1/activities", params={"cursor": cursor}, headers={"Authorization": "Bearer other"})
    assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]


def test_keyset_walk(client: httpx.Client, program: RediemProgram, clock: Any) -> None:
    _, ids = _activities(program, clock, 7)
    records, pages = _walk(client, limit=3)
    assert [r["id"] for r in records] == ids and pages == 3
    assert client.get("/api/v1/activities").json()["next_cursor"] is None  # default limit 50: one page
    assert len(client.get("/api/v1/activities", params={"limit": 100}).json()["data"]) == 7
    since = records[4]["updated_at"]
    got = client.get("/api/v1/activities", params={"updated_since": since}).json()["data"]
    assert [r["id"] for r in got] == ids[4:]  # inclusive
    got, _ = _walk(client, limit=1, updated_since=since)  # the filter travels in the cursor
    assert [r["id"] for r in got] == ids[4:]


def test_ties_on_updated_at_order_by_id(client: httpx.Client, program: RediemProgram) -> None:
    member = program.add_member("t@t.com")
    ids = [program.record(member["id"], "points_earned", points=10)["id"] for _ in range(5)]  # same instant
    records, _ = _walk(client, limit=2)
    assert [r["id"] for r in records] == ids


def test_inserts_and_updates_while_paging_are_not_skipped(
    client: httpx.Client, program: RediemProgram, clock: Any, sim: RediemSimulator,
) -> None:
    member_id, ids = _activities(program, clock, 6)
    added: list[str] = []

    def during(req: Any, page: list[dict[str, Any]]) -> None:
        if req.arg("cursor") is None:  # while the client holds page 1
            added.append(program.record(member_id, "points_earned", points=5)["id"])  # same instant as the last
            clock.t += timedelta(seconds=1)
            program.touch(ids[0], rejection_reason=None)  # an already-sent record changes

    sim.on_page(during)
    records, _ = _walk(client, limit=2)
    assert [r["id"] for r in records] == ids + added + [ids[0]]


def test_duplicate_across_pages(client: httpx.Client, program: RediemProgram, clock: Any,
                                sim: RediemSimulator) -> None:
    _, ids = _activities(program, clock, 5)
    sim.duplicate_across_pages = True
    records, pages = _walk(client, limit=2)
    assert [r["id"] for r in records] == [ids[0], ids[1], ids[1], ids[2], ids[3], ids[3], ids[4]]
    records, pages = _walk(client, limit=1)  # progress even with a page size of 1
    assert list(dict.fromkeys(r["id"] for r in records)) == ids and pages == 5


def test_rate_limit_has_no_retry_after(clock: Any, mono: Any) -> None:
    with RediemSimulator(rate_per_s=2, now=clock, monotonic=mono) as s:
        s.add_program("c")
        with httpx.Client(base_url=s.base_url, headers={"Authorization": "Bearer c"}, timeout=5) as c:
            responses = [c.get("/api/v1/activities") for _ in range(3)]
            assert [r.status_code for r in responses] == [200, 200, 429]
            last = responses[-1]
            assert last.json()["error"]["code"] == "rate_limited" and "retry-after" not in last.headers
            mono.t += 1
            assert c.get("/api/v1/activities").status_code == 200


def test_member_snapshot_stays_consistent(program: RediemProgram, clock: Any) -> None:
    m = program.add_member("ben@baker.com", "+15550000002", "Ben", birth_date="1990-04-01")
    signup = program.record(m["id"], "signup", points=100)
    assert signup["customer"]["has_account"] and signup["customer"]["point_balance"] == 100
    earned = program.record(m["id"], "points_earned", points=450, action_type="Placed an order")
    snap = earned["customer"]
    assert snap["point_balance"] == 550 and snap["last_action_points"] == 450
    assert snap["impacts"] == {"Trees Planted": 1, "Plastic Bottles Recycled": 9} == snap["impacts_yoy"]
    assert snap["points_to_next_tier"] == 950 and snap["spend_to_next_tier"] == 95
    redeemed = program.record(m["id"], "points_redeemed", points=500)
    assert redeemed["customer"]["point_balance"] == 50 and redeemed["reward_code"]
    assert redeemed["customer"]["redemption_reward_code"] == redeemed["reward_code"]
    assert earned["customer"]["point_balance"] == 550  # earlier snapshots are frozen
    with pytest.raises(ValueError, match="only 50"):
        program.record(m["id"], "points_redeemed", points=100)
    up = program.record(m["id"], "tier_achieved", tier="Sapling")
    assert up["previous_tier"] == "Seedling" and up["customer"]["current_tier"] == "Sapling"
    down = program.record(m["id"], "tier_downgrade", tier="Seedling")
    assert down["previous_tier"] == "Sapling"
    program.record(m["id"], "referral_received", advocate_first_name="Cleo")
    done = program.record(m["id"], "referral_completed", points=250, referred_email="dan@diaz.com")
    assert done["customer"]["point_balance"] == 300 and done["customer"]["advocate_first_name"] == "Cleo"
    rejected = program.record(m["id"], "action_rejected", action_type="Follow on Instagram")
    assert rejected["rejection_reason"] and rejected["customer"]["last_action_type"] == "referral_completed"
    with pytest.raises(ValueError):
        program.record(m["id"], "points_earned")  # points missing
    with pytest.raises(ValueError):
        program.record(m["id"], "bonus", points=1)
    assert {a["type"] for a in program.activities.values()} == set(ACTIVITY_TYPES)
    for activity in program.activities.values():
        rec = decode("rediem", "activities", activity, merchant="m")
        assert rec.customer.email == "ben@baker.com" and rec.customer.phone == "+15550000002"


def test_seed_validates_and_is_deterministic(clock: Any) -> None:
    runs = []
    for _ in range(2):
        with RediemSimulator(rate_per_s=None, now=clock) as s:
            runs.append(seed_rediem(s.add_program("p"), members=5, activities=120, seed=2, start=clock.t))
    assert runs[0] == runs[1] and len(runs[0]) == 125
    assert {a["type"] for a in runs[0]} >= set(ACTIVITY_TYPES) - {"tier_downgrade"}
    for activity in runs[0]:
        decode("rediem", "activities", activity, merchant="m")
        assert activity["customer"]["point_balance"] >= 0


def test_webhook_sender(receiver: Any, program: RediemProgram) -> None:
    secret = "rediem-hook-secret"
    sender = RediemWebhookSender(receiver.url, secret)
    m = program.add_member("eve@evans.com")
    act = program.record(m["id"], "signup", points=200)
    assert sender.send(act) == 204
    got = receiver.got[-1]
    msg_id = verify("hmac", secret, got.headers, got.body, now_s=time.time())
    name, raw, _ = unwrap("rediem", json.loads(got.body))
    assert name == "activities" and decode("rediem", name, raw, merchant="m").record_id == act["id"]
    assert sender.replay_last() == 204
    assert verify("hmac", secret, receiver.got[-1].headers, receiver.got[-1].body, now_s=time.time()) == msg_id
    assert receiver.got[-1].body == got.body
    sender.send_stale(act, age_s=600)
    with pytest.raises(SignatureError, match="away from now"):
        verify("hmac", secret, receiver.got[-1].headers, receiver.got[-1].body, now_s=time.time())
    sender.send_forged(act)
    with pytest.raises(SignatureError, match="no signature"):
        verify("hmac", secret, receiver.got[-1].headers, receiver.got[-1].body, now_s=time.time())
    assert [d.forged for d in sender.deliveries] == [False, False, False, True]
