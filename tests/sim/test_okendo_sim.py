"""The Okendo simulator: loyalty lookup, customers and the reviews list over real loopback HTTP,
the token bucket, documented resource shapes, webhooks."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import httpx
import pytest

from pipeline.providers.resources import decode, unwrap
from pipeline.providers.schemas.okendo import REFERRAL_ACTIVITIES, WEBHOOK_RESOURCE_TYPES
from sandbox.sim import OkendoSimulator, OkendoStore, OkendoWebhookSender, TokenBucket, seed_okendo
from sandbox.sim.okendo import resources
from pipeline.webhooks.signatures import SignatureError, verify
from tests.contracts import okendo as contract

USER, KEY = "0f0c8a3e-5d1b-4c0e-9b7a-2e4f6a8c0d12", "k" * 32
SECRET = "whsec_" + base64.b64encode(b"okendo-test-secret-0123456789abc").decode()


def _basic(user: str, key: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{key}".encode()).decode()


HEADERS = {"Authorization": _basic(USER, KEY), "okendo-api-version": "2025-02-01"}


@pytest.fixture
def sim(clock: Any) -> Iterator[OkendoSimulator]:
    with OkendoSimulator(rate_per_s=None, now=clock) as s:
        yield s


@pytest.fixture
def store(sim: OkendoSimulator) -> OkendoStore:
    return sim.add_store(USER, KEY)


@pytest.fixture
def client(sim: OkendoSimulator, store: OkendoStore) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=HEADERS, timeout=5) as c:
        yield c


def test_auth_and_version_header(sim: OkendoSimulator, store: OkendoStore) -> None:
    store.enroll("jane@doe.com")
    path, params = "/enterprise/loyalty/customers", {"email": "jane@doe.com"}
    with httpx.Client(base_url=sim.base_url) as c:
        for auth in ("", _basic(USER, "wrong"), _basic("someone-else", KEY), f"Bearer {KEY}", "Basic !!!"):
            r = c.get(path, params=params, headers={"Authorization": auth, "okendo-api-version": "2025-02-01"})
            assert r.status_code == 401 and r.json()["error"]["description"]
        for version in ({}, {"okendo-api-version": "2024-01-01"}):
            r = c.get(path, params=params, headers={"Authorization": _basic(USER, KEY), **version})
            assert r.status_code == 400 and "okendo-api-version" in r.json()["error"]["description"]
        assert c.get(path, params=params, headers=HEADERS).status_code == 200


def test_loyalty_customer_lookup(client: httpx.Client, store: OkendoStore) -> None:
    lid = store.enroll("Jane@Doe.com", first_name="Jane")["loyaltyCustomerId"]
    store.earn(lid, 700)
    store.redeem(lid, 500)
    store.set_tier(lid, "Silver")
    expected = {"loyaltyCustomer": {"loyaltyCustomerId": lid, "minimumVipTierName": None, "points": {"balance": 200},
                                    "status": "enrolled", "vipTierName": "Silver"}}
    assert client.get("/enterprise/loyalty/customers", params={"email": "jane@doe.com"}).json() == expected
    assert client.get("/enterprise/loyalty/customers", params={"loyaltyCustomerId": lid}).json() == expected
    r = client.get("/enterprise/loyalty/customers", params={"email": "nobody@x.com"})
    assert r.status_code == 404 and r.json() == {"error": {"description": "Loyalty customer not found"}}
    for params in ({}, {"email": "jane@doe.com", "loyaltyCustomerId": lid}, {"email": ""}, {"limit": "5"}):
        assert client.get("/enterprise/loyalty/customers", params=params).status_code == 400, params
    with pytest.raises(ValueError, match="only 200"):
        store.redeem(lid, 500)


def test_token_bucket_per_credential(clock: Any, mono: Any) -> None:
    with OkendoSimulator(now=clock, monotonic=mono) as s:  # defaults: 2/s, burst 4
        s.add_store(USER, KEY).enroll("a@b.com")
        s.add_store("other", KEY)
        path, params = "/enterprise/loyalty/customers", {"email": "a@b.com"}
        with httpx.Client(base_url=s.base_url, headers=HEADERS, timeout=5) as c:
            assert [c.get(path, params=params).status_code for _ in range(5)] == [200, 200, 200, 200, 429]
            r = c.get(path, params=params)
            assert r.status_code == 429 and r.json()["error"]["description"] and "retry-after" not in r.headers
            other = {"Authorization": _basic("other", KEY)}
            assert c.get(path, params=params, headers=other).status_code == 404  # its own bucket
            mono.t += 0.5  # one token back
            assert [c.get(path, params=params).status_code for _ in range(2)] == [200, 429]
            mono.t += 60  # refills only up to the burst
            assert [c.get(path, params=params).status_code for _ in range(5)] == [200, 200, 200, 200, 429]


def test_token_bucket_unit() -> None:
    t = [0.0]
    bucket = TokenBucket(2, 4, clock=lambda: t[0])
    assert [bucket.allow("a") for _ in range(5)] == [True] * 4 + [False]
    t[0] = 1.0
    assert [bucket.allow("a") for _ in range(3)] == [True, True, False]
    bucket.reset()
    assert bucket.allow("a")
    with pytest.raises(ValueError):
        TokenBucket(0, 4)


def test_slow_and_fail_next(client: httpx.Client, sim: OkendoSimulator, store: OkendoStore) -> None:
    store.enroll("a@b.com")
    sim.fail_next(1, 500, path_prefix="/enterprise/loyalty")
    r = client.get("/enterprise/loyalty/customers", params={"email": "a@b.com"})
    assert r.status_code == 500 and r.json() == {"error": {"description": "simulated 500 failure"}}
    sim.slow_next(1, 0.3)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/enterprise/loyalty/customers", params={"email": "a@b.com"}, timeout=0.1)
    assert client.get("/enterprise/loyalty/customers", params={"email": "a@b.com"}).status_code == 200


def test_every_builder_validates() -> None:
    assert set(resources.BUILDERS) == set(WEBHOOK_RESOURCE_TYPES)
    received = {"_received_at": datetime.now(timezone.utc)}
    for name, build in resources.BUILDERS.items():
        rec = decode("okendo", name, build(), merchant="m", extra=received)
        assert rec.record_id and rec.updated_at.tzinfo is not None, name
    for activity in REFERRAL_ACTIVITIES:
        raw = resources.referral(activity_type=activity)
        assert decode("okendo", "referral", raw, merchant="m", extra=received).data["activityType"] == activity
    for reward_type in (None, "coupon", "loyalty"):
        raw = resources.survey_response(reward_type=reward_type)
        assert ("reward" in raw) == (reward_type is not None)
        decode("okendo", "survey_response", raw, merchant="m", extra=received)
    review = resources.review(media_types=("image", "image", "video"), rating=2)
    assert [m["type"] for m in review["media"]] == ["image", "image", "video"] and review["isRecommended"] is False


def test_store_emits_the_documented_shapes(store: OkendoStore, clock: Any) -> None:
    lid = store.enroll("sam@lee.com", first_name="Sam", last_name="Lee", birthday="1990-03-04")["loyaltyCustomerId"]
    assert store.members[lid]["birthday"] == {"day": 4, "month": 3}
    store.earn(lid, 300)
    adjustment = store.adjust(lid, -50, internal_reason="Returned order", notification_text="Points removed")
    store.delete_transaction("loyalty_adjustment_transaction", adjustment)
    store.set_status(lid, "blocked")
    review = store.add_review("sam@lee.com", 4, media_types=("video",))
    store.add_review("sam@lee.com", 2)
    store.delete_review(review["reviewId"])
    store.add_quiz_response("sam@lee.com")
    store.add_survey_response("sam@lee.com", reward_type="coupon")
    store.add_referral("coupon_redeemed", "sam@lee.com", "kim@park.com")
    store.redeem(lid, 200)
    assert {d[0] for d in store.deliveries} == set(WEBHOOK_RESOURCE_TYPES)
    sender = OkendoWebhookSender("http://127.0.0.1:9/unused", SECRET)
    for resource_type, topic, raw in store.deliveries:
        assert contract.check(sender.envelope(resource_type, topic, raw)) == [], (resource_type, topic)
    members = [raw for rt, _, raw in store.deliveries if rt == "loyalty_customer"]
    assert [m["points"]["balance"] for m in members] == [0, 300, 250, 250, 50]
    assert members[0]["customer"] == {"email": "sam@lee.com", "customerId": store.people["sam@lee.com"]["customerId"]}
    deletes = [(rt, raw) for rt, topic, raw in store.deliveries if topic == "delete"]
    assert [rt for rt, _ in deletes] == ["loyalty_adjustment_transaction", "review"]
    assert "customer" not in deletes[0][1] and deletes[1][1] == {"reviewId": review["reviewId"],
                                                                  "subscriberId": store.subscriber_id}


def test_customers_and_reviews_endpoints(client: httpx.Client, store: OkendoStore, clock: Any) -> None:
    store.enroll("sam@lee.com", first_name="Sam", last_name="Lee")
    customer_id = store.people["sam@lee.com"]["customerId"]
    r = client.get(f"/enterprise/customers/{customer_id}")
    assert r.status_code == 200 and (r.json()["givenName"], r.json()["familyName"]) == ("Sam", "Lee")
    assert client.get("/enterprise/customers/nobody").status_code == 404
    written = [store.add_review("sam@lee.com", 5, at=clock.t - timedelta(minutes=i))["reviewId"] for i in range(5)]
    seen, url, pages = [], "/enterprise/reviews?limit=2", 0
    while url:
        body = client.get(url).json()
        seen += [rv["reviewId"] for rv in body["reviews"]]
        pages += 1
        url = f"/enterprise{body['nextUrl']}" if body.get("nextUrl") else ""  # relative to the base path
    assert seen == written and pages == 3  # newest first, every review once
    assert client.get("/enterprise/reviews", params={"status": "pending"}).json() == {"reviews": []}
    assert client.get("/enterprise/reviews", params={"limit": 101}).status_code == 400


def test_seed_okendo(clock: Any) -> None:
    runs = []
    for _ in range(2):
        with OkendoSimulator(rate_per_s=None, now=clock) as s:
            runs.append(seed_okendo(s.add_store(USER, KEY), members=4, seed=5, start=clock.t))
    assert runs[0] == runs[1]
    assert {d[0] for d in runs[0]} == set(WEBHOOK_RESOURCE_TYPES)
    for resource_type, topic, raw in runs[0]:
        decode("okendo", resource_type, raw, merchant="m", extra={"_topic": topic, "_received_at": clock.t})


def _verified(receiver: Any) -> list[dict[str, Any]]:
    return [json.loads(g.body) for g in receiver.got
            if verify("svix", SECRET, g.headers, g.body, now_s=time.time())]


def test_webhook_sender(receiver: Any, store: OkendoStore) -> None:
    sender = OkendoWebhookSender(receiver.url, SECRET)
    lid = store.enroll("amy@ito.com")["loyaltyCustomerId"]
    store.earn(lid, 100)
    assert sender.deliver_all(store.deliveries) == [204, 204, 204]
    bodies = _verified(receiver)
    assert [(b["resourceType"], b["sequenceNumber"], b["topic"]) for b in bodies] == [
        ("loyalty_customer", "1", "create"), ("loyalty_earning_transaction", "1", "create"),
        ("loyalty_customer", "2", "update")]
    assert all(b["version"] == "2025-02-01" for b in bodies)
    name, raw, extra = unwrap("okendo", bodies[2])
    assert name == "loyalty_customer" and extra == {"_topic": "update", "_sequence": 2}
    assert decode("okendo", name, raw, merchant="m", extra={**extra, "_received_at": datetime.now(timezone.utc)}
                  ).customer.email == "amy@ito.com"
    ids = {g.headers["svix-id"] for g in receiver.got}
    assert len(ids) == 3

    assert sender.replay_last() == 204
    assert receiver.got[-1].headers["svix-id"] == receiver.got[-2].headers["svix-id"]
    assert receiver.got[-1].body == receiver.got[-2].body


def test_webhook_fault_helpers(receiver: Any) -> None:
    sender = OkendoWebhookSender(receiver.url, SECRET)
    items = [("review", "create", resources.review()) for _ in range(3)]
    assert sender.deliver_out_of_order(items) == [204, 204, 204]
    bodies = _verified(receiver)
    assert [b["sequenceNumber"] for b in bodies] == ["3", "2", "1"]
    assert [b["resource"]["reviewId"] for b in bodies] == [i[2]["reviewId"] for i in reversed(items)]
    sender.deliver_stale("review", "update", resources.review(), age_s=3600)
    with pytest.raises(SignatureError, match="away from now"):
        verify("svix", SECRET, receiver.got[-1].headers, receiver.got[-1].body, now_s=time.time())
    sender.deliver_forged("review", "delete", resources.review())
    with pytest.raises(SignatureError, match="no signature"):
        verify("svix", SECRET, receiver.got[-1].headers, receiver.got[-1].body, now_s=time.time())
    assert json.loads(receiver.got[-1].body)["sequenceNumber"] == "5" and sender.sequence == {"review": 5}
    receiver.status = 503
    assert sender.deliver("review", "create", resources.review()) == 503
