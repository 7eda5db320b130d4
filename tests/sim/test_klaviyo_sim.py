"""The Klaviyo simulator over real loopback HTTP."""

from __future__ import annotations

import copy
import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Iterator

import httpx
import pytest

from pipeline.destinations.klaviyo.encoding import (BULK_PROFILE_IMPORT_PATH, CONTENT_TYPE, EVENTS_PATH,
                                                    PROFILE_IMPORT_PATH, REVISION, encode_bulk_profiles, encode_event,
                                                    encode_profile)
from sandbox.sim import KlaviyoAccount, KlaviyoSimulator
from pipeline.types import Customer
from tests.factories import event, profile
from tests.sim.conftest import FakeMonotonic

HEADERS = {"Authorization": "Klaviyo-API-Key pk_a", "revision": REVISION, "Content-Type": CONTENT_TYPE,
           "Accept": CONTENT_TYPE}
PHONE_ONLY = Customer(provider_id="c2", phone="(555) 555-0100")
BOTH = Customer(provider_id="c3", email="sam@example.test", phone="+44 20 7946 0958")


@pytest.fixture
def sim() -> Iterator[KlaviyoSimulator]:
    with KlaviyoSimulator() as s:
        yield s


@pytest.fixture
def account(sim: KlaviyoSimulator) -> KlaviyoAccount:
    return sim.add_account("pk_a")


@pytest.fixture
def client(sim: KlaviyoSimulator, account: KlaviyoAccount) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=HEADERS, timeout=5) as c:
        yield c


def post(c: httpx.Client, path: str, body: Any, **headers: str) -> httpx.Response:
    return c.post(path, content=json.dumps(body).encode(), headers=headers)


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    """The single JSON:API error of ``r``, checked for shape."""
    assert r.status_code == status, r.text
    (err,) = r.json()["errors"]
    assert {"id", "status", "code", "title", "detail"} <= set(err) and err["status"] == status
    return err  # type: ignore[no-any-return]


def test_auth_revision_and_content_type(sim: KlaviyoSimulator, account: KlaviyoAccount) -> None:
    body = encode_event(event(), delivery_id="d-1")
    with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
        for auth in ("Klaviyo-API-Key pk_nope", "Bearer pk_a", "pk_a"):
            assert error(post(c, EVENTS_PATH, body, Authorization=auth), 401)["code"] == "not_authenticated"
        for revision in ("2024-10-15", "2026-07-15.pre", ""):
            err = error(post(c, EVENTS_PATH, body, revision=revision), 400)
            assert err["source"] == {"parameter": "revision"} and REVISION in err["detail"]
        r = c.post(EVENTS_PATH, content=json.dumps(body).encode(), headers={"revision": ""})
        assert r.status_code == 400
        err = error(post(c, EVENTS_PATH, body, **{"Content-Type": "text/plain"}), 415)
        assert err["code"] == "unsupported_media_type"
        assert post(c, EVENTS_PATH, body, **{"Content-Type": "application/json"}).status_code == 202
        err = error(c.get("/api/profiles", headers={"revision": "2023-01-24"}), 400)
        assert err["source"]["parameter"] == "revision"
    assert len(account.events) == 1


def test_accepts_what_the_encoder_produces(client: httpx.Client, account: KlaviyoAccount) -> None:
    items = [event(), replace(event("Opted In to Okendo Referrals (Referrer)", id="e2"), customer=PHONE_ONLY),
             replace(event("Okendo " * 20 + "Points Earned", id="e3"), customer=BOTH,
                     properties={"since": datetime(2026, 1, 2, tzinfo=timezone.utc), "ratio": 0.5, "gone": None})]
    for i, item in enumerate(items):
        r = post(client, EVENTS_PATH, encode_event(item, delivery_id=f"d-{i}"))
        assert r.status_code == 202 and r.content == b"", r.text
        assert int(r.headers["RateLimit-Remaining"]) == 3500 - i - 1 and r.headers["RateLimit-Limit"] == "3500"
    metrics = [e["metric"] for e in account.events]
    assert metrics[:2] == ["Smile Points Earned", "Opted In to Okendo Referrals (Referrer)"]
    assert len(account.events[2]["metric"]) == 127
    assert [(e["email"], e["phone_number"]) for e in account.events] == [
        ("jane@example.test", None), (None, "+15555550100"), ("sam@example.test", "+442079460958")]
    assert account.events[2]["properties"] == {"since": "2026-01-02T00:00:00+00:00", "ratio": 0.5}
    assert account.events[0]["time"] == "2026-03-01T12:00:00+00:00" and account.events[0]["unique_id"] == "d-0"
    assert len(account.profiles) == 3
    assert account.events_of_metric("Smile Points Earned")[0]["profile_id"] in account.profiles
    for update in (profile(), profile(email=None, phone="555-555-0100"), profile(email="new@example.test")):
        assert post(client, PROFILE_IMPORT_PATH, encode_profile(update)).status_code in (200, 201)
    updates = [profile(email=f"u{i}@example.test", phone=f"+1555555{i:04d}") for i in range(3)]
    assert post(client, BULK_PROFILE_IMPORT_PATH, encode_bulk_profiles(updates)).status_code == 202


def test_profile_create_then_update(client: httpx.Client, account: KlaviyoAccount) -> None:
    r = post(client, PROFILE_IMPORT_PATH, encode_profile(profile(email="Jane@Example.test")))
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert data["type"] == "profile" and data["links"]["self"].endswith(f"/api/profiles/{data['id']}/")
    assert data["attributes"]["properties"] == {"Enrolled in Smile": True, "Smile Points Balance": 300}
    again = replace(profile(email="jane@example.test", phone="555 555 0100"),
                    properties={"Smile Points Balance": 350, "Tier": "Gold"})
    r = post(client, PROFILE_IMPORT_PATH, encode_profile(again))
    assert r.status_code == 200 and r.json()["data"]["id"] == data["id"]
    stored = account.profile_by_email("JANE@example.test")
    assert stored is not None and stored["phone_number"] == "+15555550100"
    assert stored["properties"] == {"Enrolled in Smile": True, "Smile Points Balance": 350, "Tier": "Gold"}
    cleared = {"data": {"type": "profile", "id": data["id"], "attributes": {"properties": {"Tier": None}}}}
    assert post(client, PROFILE_IMPORT_PATH, cleared).status_code == 200 and "Tier" not in stored["properties"]
    assert len(account.profiles) == 1 and len(account.profile_imports) == 3
    # identifiers of two different profiles: 409, nothing changes
    assert post(client, PROFILE_IMPORT_PATH, encode_profile(profile(email="other@example.test"))).status_code == 201
    both = encode_profile(profile(email="other@example.test", phone="+15555550100"))
    assert error(post(client, PROFILE_IMPORT_PATH, both), 409)["code"] == "duplicate_profile"
    unknown = {"data": {"type": "profile", "id": "01NOPE", "attributes": {}}}
    assert error(post(client, PROFILE_IMPORT_PATH, unknown), 404)["source"] == {"pointer": "/data/id"}


EVENT = encode_event(event(), delivery_id="d-1")
A = "/data/attributes"


@pytest.mark.parametrize(
    ("path", "value", "pointer"),
    [
        (("data", "type"), "events", "/data/type"),
        (("data", "attributes", "properties"), None, f"{A}/properties"),
        (("data", "attributes", "properties"), {f"p{i}": i for i in range(401)}, f"{A}/properties"),
        (("data", "attributes", "time"), "yesterday", f"{A}/time"),
        (("data", "attributes", "time"), "1989-12-31T00:00:00+00:00", f"{A}/time"),
        (("data", "attributes", "time"), "2099-01-01T00:00:00+00:00", f"{A}/time"),
        (("data", "attributes", "unique_id"), 7, f"{A}/unique_id"),
        (("data", "attributes", "value"), True, f"{A}/value"),
        (("data", "attributes", "backfill"), "yes", f"{A}/backfill"),
        (("data", "attributes", "metadata"), {}, f"{A}/metadata"),
        (("data", "attributes", "metric", "data", "type"), "event", f"{A}/metric/data/type"),
        (("data", "attributes", "metric", "data", "attributes", "name"), "x" * 128, f"{A}/metric/data/attributes/name"),
        (("data", "attributes", "metric", "data", "attributes", "name"), " ", f"{A}/metric/data/attributes/name"),
        (("data", "attributes", "profile", "data", "type"), "profiles", f"{A}/profile/data/type"),
        (("data", "attributes", "profile", "data", "attributes"), {}, f"{A}/profile/data/attributes"),
        (("data", "attributes", "profile", "data", "attributes"), {"email": "nope"},
         f"{A}/profile/data/attributes/email"),
        (("data", "attributes", "profile", "data", "attributes"), {"phone_number": "5555550100"},
         f"{A}/profile/data/attributes/phone_number"),
        (("data", "attributes", "profile", "data", "attributes"), {"email": "a@b.test", "zip": "1"},
         f"{A}/profile/data/attributes/zip"),
        (("data", "attributes", "profile", "data", "attributes"), {"email": "a@b.test", "properties": [1]},
         f"{A}/profile/data/attributes/properties"),
    ],
)
def test_event_validation_names_the_field(
    client: httpx.Client, account: KlaviyoAccount, path: tuple[str, ...], value: Any, pointer: str
) -> None:
    body = copy.deepcopy(EVENT)
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    err = error(post(client, EVENTS_PATH, body), 400)
    assert err["code"] == "invalid" and err["source"] == {"pointer": pointer} and pointer in err["detail"]
    assert account.events == [] and account.profiles == {}


def test_event_body_errors(client: httpx.Client, account: KlaviyoAccount) -> None:
    assert error(post(client, EVENTS_PATH, {"type": "event"}), 400)["source"] == {"pointer": "/data"}
    assert error(post(client, EVENTS_PATH, [EVENT]), 400)["source"] == {"pointer": "/"}
    assert error(client.post(EVENTS_PATH, content=b"{nope"), 400)["source"] == {"pointer": "/"}
    external_only = copy.deepcopy(EVENT)
    external_only["data"]["attributes"]["profile"]["data"]["attributes"] = {"external_id": "cust-1"}
    assert post(client, EVENTS_PATH, external_only).status_code == 202 and account.events[0]["email"] is None


def test_unique_id_deduplicates_per_metric_and_profile(client: httpx.Client, account: KlaviyoAccount) -> None:
    body = encode_event(event(), delivery_id="same")
    assert [post(client, EVENTS_PATH, body).status_code for _ in range(3)] == [202, 202, 202]
    assert len(account.events) == 1 and account.deduplicated == 2
    other_metric = encode_event(event("Smile Points Redeemed"), delivery_id="same")
    other_profile = encode_event(event(email="sam@example.test"), delivery_id="same")
    assert [post(client, EVENTS_PATH, b).status_code for b in (other_metric, other_profile)] == [202, 202]
    assert len(account.events) == 3 and account.deduplicated == 2
    no_unique_id = copy.deepcopy(body)
    del no_unique_id["data"]["attributes"]["unique_id"]
    for when in ("2026-03-02T10:00:00.100+00:00", "2026-03-02T10:00:00.900+00:00", "2026-03-02T10:00:01+00:00"):
        no_unique_id["data"]["attributes"]["time"] = when
        assert post(client, EVENTS_PATH, no_unique_id).status_code == 202
    assert len(account.events) == 5 and account.deduplicated == 3  # without unique_id: one per second


def test_profile_lookup_filter(client: httpx.Client, account: KlaviyoAccount) -> None:
    post(client, PROFILE_IMPORT_PATH, encode_profile(profile(email="jane@example.test", phone="+15555550100")))
    post(client, PROFILE_IMPORT_PATH, encode_profile(profile(email="sam@example.test")))
    for flt in ('equals(email,"JANE@example.test")', "equals(phone_number,'+15555550100')"):
        r = client.get("/api/profiles", params={"filter": flt})
        assert r.status_code == 200 and r.headers["RateLimit-Limit"] == "750"
        (found,) = r.json()["data"]
        assert found["attributes"]["email"] == "jane@example.test" and r.json()["links"]["self"]
    assert client.get("/api/profiles", params={"filter": 'equals(email,"none@example.test")'}).json()["data"] == []
    assert len(client.get("/api/profiles").json()["data"]) == 2
    for bad in ('equals(first_name,"Jane")', 'any(email,["a@b.test"])', "email=jane@example.test"):
        assert error(client.get("/api/profiles", params={"filter": bad}), 400)["source"] == {"parameter": "filter"}


def test_burst_window_429_with_retry_after(mono: FakeMonotonic) -> None:
    with KlaviyoSimulator(limits={"events": (2, 100)}, monotonic=mono) as sim:
        account = sim.add_account("pk_a")
        with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
            ok = [post(c, EVENTS_PATH, encode_event(event(), delivery_id=f"d-{i}")) for i in range(2)]
            assert [r.headers["RateLimit-Remaining"] for r in ok] == ["99", "98"]
            assert {r.headers["RateLimit-Reset"] for r in ok} == {"60"}
            r = post(c, EVENTS_PATH, encode_event(event(), delivery_id="d-2"))
            err = error(r, 429)
            assert err["code"] == "throttled" and r.headers["Retry-After"] == "1" and "RateLimit-Limit" not in r.headers
            assert post(c, PROFILE_IMPORT_PATH, encode_profile(profile())).status_code == 200  # another class
            mono.t += 0.5
            assert post(c, EVENTS_PATH, encode_event(event(), delivery_id="d-2")).headers["Retry-After"] == "1"
            mono.t += 0.5
            r = post(c, EVENTS_PATH, encode_event(event(), delivery_id="d-2"))
            assert r.status_code == 202 and r.headers["RateLimit-Remaining"] == "97"
            assert r.headers["RateLimit-Reset"] == "59"
    assert len(account.events) == 3


def test_steady_window_429_with_retry_after(mono: FakeMonotonic) -> None:
    with KlaviyoSimulator(limits={"profiles": (10, 3)}, monotonic=mono, ratelimit_headers_on_429=True) as sim:
        sim.add_account("pk_a")
        sim.add_account("pk_b")
        with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
            for _ in range(3):
                assert c.get("/api/profiles").status_code == 200
                mono.t += 5
            r = c.get("/api/profiles")
            error(r, 429)
            assert r.headers["Retry-After"] == "45" and r.headers["RateLimit-Remaining"] == "0"
            assert c.get("/api/profiles", headers={"Authorization": "Klaviyo-API-Key pk_b"}).status_code == 200
            mono.t += 44.5
            assert c.get("/api/profiles").headers["Retry-After"] == "1"
            mono.t += 0.5
            r = c.get("/api/profiles")
            assert r.status_code == 200 and r.headers["RateLimit-Remaining"] == "2"


def test_limits_can_be_disabled() -> None:
    with KlaviyoSimulator(limits={"events": None}) as sim:
        sim.add_account("pk_a")
        with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
            r = post(c, EVENTS_PATH, encode_event(event(), delivery_id="d"))
            assert r.status_code == 202 and "RateLimit-Limit" not in r.headers
            assert c.get("/api/profiles").headers["RateLimit-Limit"] == "750"
    with KlaviyoSimulator(limits=None) as sim:
        sim.add_account("pk_a")
        with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
            assert "RateLimit-Limit" not in c.get("/api/profiles").headers


def test_bulk_import_job_lifecycle(mono: FakeMonotonic) -> None:
    with KlaviyoSimulator(bulk_delay_s=1.0, monotonic=mono) as sim:
        account = sim.add_account("pk_a")
        with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
            post(c, PROFILE_IMPORT_PATH, encode_profile(profile(email="u0@example.test")))
            body = encode_bulk_profiles([replace(profile(email=f"u{i}@example.test"), properties={"n": i})
                                         for i in range(4)])
            body["data"]["attributes"]["profiles"]["data"][3]["attributes"]["phone_number"] = "12345"
            body["data"]["relationships"] = {"lists": {"data": [{"type": "list", "id": "VRgFBd"}]}}
            r = post(c, BULK_PROFILE_IMPORT_PATH, body)
            assert r.status_code == 202, r.text
            job = r.json()["data"]
            assert job["type"] == "profile-bulk-import-job" and r.headers["RateLimit-Limit"] == "150"
            assert job["attributes"]["status"] == "queued" and job["attributes"]["total_count"] == 4
            assert job["relationships"]["lists"]["data"] == [{"type": "list", "id": "VRgFBd"}]
            url = f"{BULK_PROFILE_IMPORT_PATH}/{job['id']}"
            assert c.get(url).json()["data"]["attributes"]["status"] == "queued"
            assert account.profile_by_email("u1@example.test") is None
            mono.t += 0.5
            assert c.get(url).json()["data"]["attributes"]["status"] == "processing"
            mono.t += 0.5
            done = c.get(url).json()["data"]["attributes"]
            assert done["status"] == "complete" and (done["completed_count"], done["failed_count"]) == (3, 1)
            assert done["completed_at"] and done["started_at"]
            assert account.profile_by_email("u0@example.test")["properties"] == {  # type: ignore[index]
                "Enrolled in Smile": True, "Smile Points Balance": 300, "n": 0}
            assert account.profile_by_email("u3@example.test") is None and len(account.profiles) == 3
            assert account.jobs[job["id"]]["import_errors"][0]["index"] == 3
            assert error(c.get(f"{BULK_PROFILE_IMPORT_PATH}/01NOPE"), 404)["code"] == "not_found"
            second = post(c, BULK_PROFILE_IMPORT_PATH, encode_bulk_profiles([profile(email="late@example.test")]))
            sim.cancel_job(account, second.json()["data"]["id"])
            mono.t += 2
            assert c.get(f"{BULK_PROFILE_IMPORT_PATH}/{second.json()['data']['id']}").json()["data"]["attributes"][
                "status"] == "cancelled"
            assert account.profile_by_email("late@example.test") is None


def test_bulk_job_completes_on_its_own() -> None:
    with KlaviyoSimulator(bulk_delay_s=0.05) as sim:
        account = sim.add_account("pk_a")
        with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
            assert post(c, BULK_PROFILE_IMPORT_PATH, encode_bulk_profiles([profile()])).status_code == 202
        deadline = time.monotonic() + 2
        while not account.find("email", "jane@example.test") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert account.find("email", "jane@example.test") is not None  # applied without polling
        assert [j["status"] for j in account.jobs.values()] == ["complete"]


def test_bulk_job_validation(client: httpx.Client, account: KlaviyoAccount) -> None:
    ptr = "/data/attributes/profiles/data"
    one = {"type": "profile", "attributes": {"email": "a@example.test"}}
    for profiles in ([], [one] * 10_001, "all"):
        body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}
        assert error(post(client, BULK_PROFILE_IMPORT_PATH, body), 400)["source"] == {"pointer": ptr}
    body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [one, {"type": "x"}]}}}}
    assert error(post(client, BULK_PROFILE_IMPORT_PATH, body), 400)["source"] == {"pointer": f"{ptr}/1/type"}
    body = {"data": {"type": "profile-import-job", "attributes": {"profiles": {"data": [one]}}}}
    assert error(post(client, BULK_PROFILE_IMPORT_PATH, body), 400)["source"] == {"pointer": "/data/type"}
    big = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": [one] * 10_000}}}}
    r = post(client, BULK_PROFILE_IMPORT_PATH, big)
    assert r.status_code == 202 and r.json()["data"]["attributes"]["total_count"] == 10_000
    assert len(account.jobs) == 1


def test_faults_and_routing(sim: KlaviyoSimulator, client: httpx.Client, account: KlaviyoAccount) -> None:
    sim.fail_next(1, 503, path_prefix=EVENTS_PATH)
    assert error(post(client, EVENTS_PATH, EVENT), 503)["detail"] == "simulated 503 failure"
    assert post(client, EVENTS_PATH, EVENT).status_code == 202
    assert error(client.get(EVENTS_PATH), 405)["code"] == "method_not_allowed"
    assert error(client.get("/api/metrics"), 404)["code"] == "not_found"
    assert [q.status for q in sim.requests] == [503, 202, 405, 404] and sim.errors == []
