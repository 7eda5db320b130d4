"""The Klaviyo simulator's bulk create events (``POST /api/event-bulk-create-jobs``) over real loopback HTTP."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from typing import Any, Iterator

import httpx
import pytest

from pipeline.destinations.klaviyo.encoding import (BULK_EVENTS_PATH, BULK_PROFILE_IMPORT_PATH, CONTENT_TYPE,
                                                    EVENTS_PATH, PROFILE_IMPORT_PATH, REVISION, encode_bulk_events,
                                                    encode_bulk_profiles, encode_event, encode_profile)
from sandbox.sim import KlaviyoAccount, KlaviyoSimulator
from pipeline.types import Customer
from tests.factories import event, profile
from tests.sim.conftest import FakeMonotonic

HEADERS = {"Authorization": "Klaviyo-API-Key pk_a", "revision": REVISION, "Content-Type": CONTENT_TYPE,
           "Accept": CONTENT_TYPE}
SAM = Customer(provider_id="c2", email="sam@example.test")
PHONE_ONLY = Customer(provider_id="c3", phone="(555) 555-0100")
E = "/data/attributes/events-bulk-create/data"


@pytest.fixture
def sim() -> Iterator[KlaviyoSimulator]:
    with KlaviyoSimulator() as s:
        yield s


@pytest.fixture
def account(sim: KlaviyoSimulator) -> KlaviyoAccount:
    return sim.add_account("pk_a")


@pytest.fixture
def client(sim: KlaviyoSimulator, account: KlaviyoAccount) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim.base_url, headers=HEADERS, timeout=10) as c:
        yield c


def post(c: httpx.Client, path: str, body: Any) -> httpx.Response:
    return c.post(path, content=json.dumps(body).encode())


def error(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    (err,) = r.json()["errors"]
    assert {"id", "status", "code", "title", "detail"} <= set(err) and err["status"] == status
    return err  # type: ignore[no-any-return]


def test_records_each_event_at_once_and_creates_or_merges_profiles(client: httpx.Client,
                                                                   account: KlaviyoAccount) -> None:
    assert post(client, PROFILE_IMPORT_PATH, encode_profile(profile())).status_code == 201
    items = [("d-1", event()), ("d-2", replace(event("Smile Points Redeemed", id="e2"), customer=PHONE_ONLY)),
             ("d-3", replace(event(id="e3"), customer=SAM)), ("d-4", event("Smile Points Redeemed", id="e4"))]
    r = post(client, BULK_EVENTS_PATH, encode_bulk_events(items))
    assert r.status_code == 202 and r.content == b"", r.text
    assert r.headers["RateLimit-Limit"] == "150" and r.headers["RateLimit-Remaining"] == "149"
    assert [(e["unique_id"], e["metric"], e["email"], e["phone_number"], e["via"]) for e in account.events] == [
        ("d-1", "Smile Points Earned", "jane@example.test", None, "bulk"),
        ("d-4", "Smile Points Redeemed", "jane@example.test", None, "bulk"),
        ("d-2", "Smile Points Redeemed", None, "+15555550100", "bulk"),
        ("d-3", "Smile Points Earned", "sam@example.test", None, "bulk")]
    jane = account.find("email", "jane@example.test")
    assert jane is not None and jane["properties"]["Smile Points Balance"] == 300  # merged, not replaced
    assert len(account.profiles) == 3 and account.events[0]["profile_id"] == account.events[1]["profile_id"]
    assert account.events[0]["properties"] == {"Points": 100, "Description": "Placed an order", "Transaction ID": 7}
    assert account.events[0]["time"] == "2026-03-01T12:00:00+00:00"


def test_one_event_store_and_one_dedup_rule_with_create_event(client: httpx.Client, account: KlaviyoAccount) -> None:
    assert post(client, EVENTS_PATH, encode_event(event(), delivery_id="d-1")).status_code == 202
    bulk = encode_bulk_events([("d-1", event()), ("d-2", event(id="e2"))])
    assert post(client, BULK_EVENTS_PATH, bulk).status_code == 202
    assert [(e["unique_id"], e["via"]) for e in account.events] == [("d-1", "single"), ("d-2", "bulk")]
    assert account.deduplicated == 1
    assert post(client, EVENTS_PATH, encode_event(event(id="e2"), delivery_id="d-2")).status_code == 202
    assert post(client, BULK_EVENTS_PATH, bulk).status_code == 202  # a retry of the whole request
    assert len(account.events) == 2 and account.deduplicated == 4
    for other in (event("Smile Points Redeemed"), replace(event(), customer=SAM)):  # other metric, other profile
        assert post(client, BULK_EVENTS_PATH, encode_bulk_events([("d-1", other)])).status_code == 202
    assert len(account.events) == 4 and account.deduplicated == 4


def test_a_unique_id_repeated_in_one_request_fails_it(client: httpx.Client, account: KlaviyoAccount) -> None:
    body = encode_bulk_events([("d-1", event()), ("d-2", event(id="e2")), ("d-3", replace(event(), customer=SAM))])
    entries = body["data"]["attributes"]["events-bulk-create"]["data"]
    entries[0]["attributes"]["events"]["data"][1]["attributes"]["unique_id"] = "d-1"
    err = error(post(client, BULK_EVENTS_PATH, body), 400)
    assert err["source"] == {"pointer": f"{E}/0/attributes/events/data/1/attributes/unique_id"}
    assert account.events == [] and account.profiles == {}  # nothing processed
    same_profile = copy.deepcopy(entries[0])  # the same profile in a second entry (email case differs)
    same_profile["attributes"]["profile"]["data"]["attributes"]["email"] = "JANE@example.test"
    same_profile["attributes"]["events"]["data"] = same_profile["attributes"]["events"]["data"][:1]
    entries[0]["attributes"]["events"]["data"][1]["attributes"]["unique_id"] = "d-2"
    entries.append(same_profile)
    assert error(post(client, BULK_EVENTS_PATH, body), 400)["source"] == {
        "pointer": f"{E}/2/attributes/events/data/0/attributes/unique_id"}
    entries.pop()
    assert post(client, BULK_EVENTS_PATH, body).status_code == 202 and len(account.events) == 3


BULK = encode_bulk_events([("d-1", event()), ("d-2", event(id="e2"))])
EV = ("data", "attributes", "events-bulk-create", "data", 0, "attributes", "events", "data", 0, "attributes")
ENTRY = EV[:6]


@pytest.mark.parametrize(("path", "value", "pointer"), [
    (("data", "type"), "event-bulk-create-jobs", "/data/type"),
    (("data", "attributes", "events-bulk-create"), None, "/data/attributes/events-bulk-create"),
    (("data", "attributes", "events-bulk-create", "data"), [], E),
    (("data", "attributes", "events-bulk-create", "data"), {"type": "event-bulk-create"}, E),
    (("data", "attributes", "events-bulk-create", "data", 0, "type"), "event", f"{E}/0/type"),
    ((*ENTRY, "metadata"), {}, f"{E}/0/attributes/metadata"),
    ((*ENTRY, "backfill"), "yes", f"{E}/0/attributes/backfill"),
    ((*ENTRY, "profile", "data", "attributes"), {}, f"{E}/0/attributes/profile/data/attributes"),
    ((*ENTRY, "profile", "data", "attributes"), {"email": "nope"}, f"{E}/0/attributes/profile/data/attributes/email"),
    ((*ENTRY, "events", "data"), [], f"{E}/0/attributes/events/data"),
    ((*ENTRY, "events", "data", 0, "type"), "events", f"{E}/0/attributes/events/data/0/type"),
    ((*EV, "profile"), {"data": {}}, f"{E}/0/attributes/events/data/0/attributes/profile"),
    ((*EV, "properties"), {f"p{i}": i for i in range(401)}, f"{E}/0/attributes/events/data/0/attributes/properties"),
    ((*EV, "time"), "1989-12-31T00:00:00+00:00", f"{E}/0/attributes/events/data/0/attributes/time"),
    ((*EV, "unique_id"), 7, f"{E}/0/attributes/events/data/0/attributes/unique_id"),
    ((*EV, "metric", "data", "attributes", "name"), "x" * 128,
     f"{E}/0/attributes/events/data/0/attributes/metric/data/attributes/name"),
])
def test_validation_names_the_field(client: httpx.Client, account: KlaviyoAccount, path: tuple[Any, ...], value: Any,
                                    pointer: str) -> None:
    body = copy.deepcopy(BULK)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    err = error(post(client, BULK_EVENTS_PATH, body), 400)
    assert err["code"] == "invalid" and err["source"] == {"pointer": pointer} and pointer in err["detail"]
    assert account.events == [] and account.profiles == {}


def test_at_most_1000_events_and_5_mb(client: httpx.Client, account: KlaviyoAccount) -> None:
    customers = [Customer(provider_id=f"c{i}", email=f"u{i}@example.test") for i in range(3)]
    items = [(f"d-{i}", replace(event(id=f"e{i}"), customer=customers[i % 3])) for i in range(1_000)]
    body = encode_bulk_events(items)
    extra = encode_bulk_events([("d-extra", event())])["data"]["attributes"]["events-bulk-create"]["data"][0]
    body["data"]["attributes"]["events-bulk-create"]["data"].append(extra)  # 1,001 events
    assert error(post(client, BULK_EVENTS_PATH, body), 400)["source"] == {"pointer": E}
    assert account.events == []
    assert post(client, BULK_EVENTS_PATH, encode_bulk_events(items)).status_code == 202
    assert len(account.events) == 1_000
    huge = encode_bulk_events([("d-x", replace(event(), properties={"blob": "x" * 4_000_000}))])
    huge["data"]["attributes"]["events-bulk-create"]["data"][0]["attributes"]["events"]["data"][0]["attributes"][
        "properties"]["blob"] += "x" * 1_000_000  # over 5 MB: the encoder would not build it
    err = error(post(client, BULK_EVENTS_PATH, huge), 413)
    assert err["code"] == "too_large" and len(account.events) == 1_000


def test_unknown_profile_id_is_404_and_nothing_is_recorded(client: httpx.Client, account: KlaviyoAccount) -> None:
    body = encode_bulk_events([("d-1", event()), ("d-2", replace(event(), customer=SAM))])
    body["data"]["attributes"]["events-bulk-create"]["data"][1]["attributes"]["profile"]["data"]["id"] = "01NOPE"
    assert error(post(client, BULK_EVENTS_PATH, body), 404)["source"] == {
        "pointer": f"{E}/1/attributes/profile/data/id"}
    assert account.events == [] and account.profiles == {}


def test_own_rate_limit_class(mono: FakeMonotonic) -> None:
    with KlaviyoSimulator(limits={"events_bulk": (1, 3)}, monotonic=mono) as sim:
        account = sim.add_account("pk_a")
        with httpx.Client(base_url=sim.base_url, headers=HEADERS) as c:
            assert post(c, BULK_EVENTS_PATH, BULK).status_code == 202
            r = post(c, BULK_EVENTS_PATH, BULK)
            assert error(r, 429)["code"] == "throttled" and r.headers["Retry-After"] == "1"
            # neither create_event nor the profile bulk import job shares the quota
            assert post(c, EVENTS_PATH, encode_event(event(id="e9"), delivery_id="d-9")).status_code == 202
            assert post(c, BULK_PROFILE_IMPORT_PATH, encode_bulk_profiles([profile()])).status_code == 202
            mono.t += 1
            r = post(c, BULK_EVENTS_PATH, BULK)
            assert r.status_code == 202
            assert (r.headers["RateLimit-Limit"], r.headers["RateLimit-Remaining"]) == ("3", "1")
    assert len(account.events) == 3 and account.deduplicated == 2


def test_default_limits_are_10_per_second_and_150_per_minute() -> None:
    with KlaviyoSimulator() as sim:
        assert sim.windows["events_bulk"].limits == ((10, 1.0), (150, 60.0))
