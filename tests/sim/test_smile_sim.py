"""The Smile.io simulator over real loopback HTTP."""

from __future__ import annotations

import http.client
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import httpx
import pytest

from sandbox.sim import PostscriptSimulator, SmileAccount, SmileSimulator, seed_demo

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


class _Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


@pytest.fixture
def sim(clock: _Clock) -> Iterator[SmileSimulator]:
    with SmileSimulator(rate_per_s=None, now=clock) as s:
        yield s


@pytest.fixture
def account(sim: SmileSimulator) -> SmileAccount:
    return sim.add_account("api_key_a")


@pytest.fixture
def client(sim: SmileSimulator, account: SmileAccount) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer api_key_a"}, timeout=5) as c:
        yield c


def _customer_with_txns(account: SmileAccount, clock: _Clock, n: int) -> list[int]:
    cust = account.add_customer(first_name="Jane", email="jane@doe.com")
    ids = []
    for i in range(n):
        clock.t += timedelta(seconds=1)
        ids.append(account.add_transaction(cust["id"], 10 + i, "Placed an order")["id"])
    return ids


def test_auth_required(sim: SmileSimulator, account: SmileAccount) -> None:
    with httpx.Client(base_url=sim.base_url) as c:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "api_key_a"}):
            r = c.get("/v1/customers", headers=headers)
            assert r.status_code == 401
            assert r.json()["error"]["code"] == "unauthorized"
    assert [req.status for req in sim.requests] == [401, 401, 401]
    assert sim.requests[1].headers["authorization"] == "Bearer nope"


@pytest.mark.parametrize("limit", ["0", "251", "abc", "1.5", "-1", ""])
def test_limit_validation(client: httpx.Client, limit: str) -> None:
    r = client.get("/v1/points_transactions", params={"limit": limit})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "invalid_parameter" and "limit" in err["message"]


def test_limit_bounds_and_unknown_params(client: httpx.Client, account: SmileAccount, clock: _Clock) -> None:
    _customer_with_txns(account, clock, 3)
    assert client.get("/v1/points_transactions", params={"limit": 250}).status_code == 200
    assert len(client.get("/v1/points_transactions", params={"limit": 1}).json()["points_transactions"]) == 1
    r = client.get("/v1/points_transactions", params={"updated_since": "2026-01-01T00:00:00Z"})
    assert r.status_code == 400 and "updated_since" in r.json()["error"]["message"]
    for params in ({"state": "vip"}, {"include": "orders"}, {"updated_at_min": "yesterday"}):
        r = client.get("/v1/customers", params=params)
        assert r.status_code == 400 and next(iter(params)) in r.json()["error"]["message"]
    # an unencoded "+" offset arrives as a space: a classic wire mistake
    assert client.get("/v1/customers?updated_at_min=2026-01-01T00:00:00+00:00").status_code == 400
    assert client.get("/v1/customers", params={"updated_at_min": "2026-01-01T00:00:00+00:00"}).status_code == 200


def test_pagination_newest_first_with_inserts_mid_paging(
    client: httpx.Client, account: SmileAccount, clock: _Clock
) -> None:
    original = _customer_with_txns(account, clock, 10)
    seen: list[int] = []
    r = client.get("/v1/points_transactions", params={"limit": 3}).json()
    assert r["metadata"]["previous_cursor"] is None
    seen += [t["id"] for t in r["points_transactions"]]
    cust_id = account.points_transactions[original[0]]["customer_id"]
    new = [account.add_transaction(cust_id, 5, "Signed up")["id"] for _ in range(4)]  # inserted mid-paging
    cursor = r["metadata"]["next_cursor"]
    while cursor:
        page = client.get("/v1/points_transactions", params={"limit": 3, "cursor": cursor}).json()
        seen += [t["id"] for t in page["points_transactions"]]
        cursor = page["metadata"]["next_cursor"]
    assert seen == sorted(original, reverse=True)
    fresh = client.get("/v1/points_transactions", params={"limit": 4}).json()
    assert [t["id"] for t in fresh["points_transactions"]] == sorted(new, reverse=True)


def test_previous_cursor_and_shapes(client: httpx.Client, account: SmileAccount, clock: _Clock) -> None:
    ids = _customer_with_txns(account, clock, 5)
    p1 = client.get("/v1/points_transactions", params={"limit": 2}).json()
    def page(cursor: str) -> dict[str, Any]:
        body: dict[str, Any] = client.get("/v1/points_transactions", params={"limit": 2, "cursor": cursor}).json()
        return body

    p2 = page(p1["metadata"]["next_cursor"])
    back = page(p2["metadata"]["previous_cursor"])
    assert back["points_transactions"] == p1["points_transactions"]
    txn = p1["points_transactions"][0]
    assert set(txn) == {"id", "customer_id", "points_change", "description", "internal_note", "created_at", "updated_at"}
    assert txn["id"] == ids[-1] and txn["created_at"] == "2026-01-01T12:00:05.000Z"
    one = client.get(f"/v1/points_transactions/{ids[0]}").json()["points_transaction"]
    assert one["points_change"] == 10


def test_updated_at_min_is_inclusive(client: httpx.Client, account: SmileAccount, clock: _Clock) -> None:
    ids = _customer_with_txns(account, clock, 5)
    pivot = account.points_transactions[ids[2]]["updated_at"]
    got = client.get("/v1/points_transactions", params={"updated_at_min": pivot}).json()["points_transactions"]
    assert [t["id"] for t in got] == [ids[4], ids[3], ids[2]]
    # the filter travels inside the cursor
    p1 = client.get("/v1/points_transactions", params={"updated_at_min": pivot, "limit": 2}).json()
    p2 = client.get("/v1/points_transactions", params={"limit": 2, "cursor": p1["metadata"]["next_cursor"]}).json()
    assert [t["id"] for t in p2["points_transactions"]] == [ids[2]] and p2["metadata"]["next_cursor"] is None


def test_customers_filters_and_lookup(client: httpx.Client, account: SmileAccount, clock: _Clock) -> None:
    a = account.add_customer(email="A@x.test", state="member", vip_status={"vip_tier_id": 7, "progress_value": 300.0})
    b = account.add_customer(email="b@x.test", state="candidate")
    clock.t += timedelta(minutes=5)
    account.add_transaction(a["id"], 100, "Placed an order")
    body = client.get("/v1/customers").json()
    assert [c["id"] for c in body["customers"]] == [b["id"], a["id"]] and "vip_status" not in body["customers"][0]
    assert body["metadata"] == {"next_cursor": None, "previous_cursor": None}
    def ids(**params: str) -> list[int]:
        return [c["id"] for c in client.get("/v1/customers", params=params).json()["customers"]]

    assert ids(state="candidate") == [b["id"]] and ids(email="a@x.test") == [a["id"]]
    since = client.get("/v1/customers", params={"updated_at_min": "2026-01-01T12:05:00Z"}).json()["customers"]
    assert [c["points_balance"] for c in since] == [100]
    vip = client.get(f"/v1/customers/{a['id']}", params={"include": "vip_status"}).json()["customer"]
    assert vip["vip_status"]["vip_tier_id"] == 7 and vip["updated_at"] == "2026-01-01T12:05:00.000Z"
    assert client.get("/v1/customers/999").json()["error"]["code"] == "not_found"
    assert client.get("/v1/customers/abc").status_code == 404


def test_bad_cursors(sim: SmileSimulator, client: httpx.Client, account: SmileAccount, clock: _Clock) -> None:
    _customer_with_txns(account, clock, 3)
    cursor = client.get("/v1/points_transactions", params={"limit": 1}).json()["metadata"]["next_cursor"]
    other = sim.add_account("api_key_b")
    other.add_customer()
    r = client.get("/v1/points_transactions", params={"cursor": cursor}, headers={"Authorization": "Bearer api_key_b"})
    assert r.status_code == 400 and "cursor" in r.json()["error"]["message"]
    assert client.get("/v1/customers", params={"cursor": cursor}).status_code == 400
    assert client.get("/v1/points_transactions", params={"cursor": "garbage!!"}).status_code == 400
    assert client.get("/v1/points_transactions", params={"cursor": "eyJ4IjoxfQ"}).status_code == 400


def test_rate_limit_then_recovery(clock: _Clock) -> None:
    with SmileSimulator(rate_per_s=3, now=clock) as sim:
        sim.add_account("k1")
        sim.add_account("k2")
        with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer k1"}) as c:
            t0 = time.monotonic()
            assert [c.get("/v1/customers").status_code for _ in range(3)] == [200] * 3
            r = c.get("/v1/customers")
            assert r.status_code == 429 and "retry-after" not in r.headers
            assert r.json()["error"]["code"] == "too_many_requests"
            assert c.get("/v1/customers").status_code == 429  # every request until the second passes
            assert c.get("/v1/customers", headers={"Authorization": "Bearer k2"}).status_code == 200  # per token
            time.sleep(max(0.0, 1.05 - (time.monotonic() - t0)))
            assert c.get("/v1/customers").status_code == 200


def test_fail_next_and_keep_alive(sim: SmileSimulator, client: httpx.Client) -> None:
    sim.fail_next(2, 503)
    assert [client.get("/v1/customers").status_code for _ in range(3)] == [503, 503, 200]
    assert [r.status for r in sim.requests] == [503, 503, 200]
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    for _ in range(3):  # several requests on one persistent connection
        conn.request("GET", "/v1/customers", headers={"Authorization": "Bearer api_key_a"})
        resp = conn.getresponse()
        assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
        resp.read()
    conn.close()
    r = client.post("/v1/customers", json={})
    assert r.status_code == 405 and r.headers["allow"] == "GET"
    assert client.get("/v2/customers").status_code == 404
    assert sim.errors == []


def test_stop_drops_keep_alive_connections(account: SmileAccount, sim: SmileSimulator) -> None:
    with httpx.Client(base_url=sim.base_url, headers={"Authorization": "Bearer api_key_a"}) as c:
        assert c.get("/v1/customers").status_code == 200
        sim.stop()
        with pytest.raises(httpx.TransportError):
            c.get("/v1/customers")


def test_seed_demo_is_deterministic_and_consistent() -> None:
    start = datetime(2026, 3, 1, tzinfo=timezone.utc)
    results = []
    for _ in range(2):
        smile, ps = SmileSimulator(), PostscriptSimulator()  # not started: seeding needs no sockets
        account, shop = smile.add_account("k"), ps.add_shop("sk_k")
        summary = seed_demo(account, shop, customers=40, transactions=400, seed=7, start=start)
        results.append((summary, account, shop))
    (s1, a1, shop1), (s2, a2, _) = results
    assert s1 == s2 and s1.customers == 40 and s1.transactions == 400 and s1.subscribers == 32

    def strip(recs: Any) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k not in ("id", "customer_id")} for r in recs]

    assert strip(a1.points_transactions.values()) == strip(a2.points_transactions.values())
    txns = list(a1.points_transactions.values())
    stamps = [t["created_at"] for t in txns]
    assert stamps == sorted(set(stamps)) and stamps[0] >= "2026-02-28T00:00:00.000Z" and stamps[-1] < "2026-03-01"
    assert any(t["points_change"] < 0 and t["internal_note"] is None and t["description"].startswith("Redeemed")
               for t in txns)
    assert any(t["internal_note"] and t["description"] == "Points correction" for t in txns)
    running: dict[int, int] = {}
    for t in txns:
        running[t["customer_id"]] = running.get(t["customer_id"], 0) + t["points_change"]
        assert running[t["customer_id"]] >= 0
    assert all(c["points_balance"] == running.get(c["id"], 0) for c in a1.customers.values())
    assert {s["email"] for s in shop1.subscribers.values()} == s1.emails_subscribed
    assert {c["state"] for c in a1.customers.values()} == {"member", "candidate"}
    assert all(e.endswith(".7@example.test") for e in s1.emails_subscribed)
