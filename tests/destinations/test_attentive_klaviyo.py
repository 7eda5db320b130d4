"""Attentive and Klaviyo destinations over real HTTP against their simulators; every request
they send is validated against the vendored OpenAPI documents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from pipeline.clock import FrozenClock
from pipeline.config import PlatformAccount, Secret
from pipeline.destinations.attentive import AttentiveDestination
from pipeline.destinations.klaviyo import KlaviyoDestination
from pipeline.errors import AuthError, FatalError, RateLimited
from pipeline.http.client import build_client
from sandbox.sim import AttentiveSimulator, KlaviyoSimulator
from pipeline.state.subscribers import MemorySubscriberCache
from pipeline.types import Customer
from tests.factories import event, profile
from tests.support.openapi import RequestValidator


def account(kind: str, base_url: str, key: str, policy: str = "create") -> PlatformAccount:
    return PlatformAccount(kind=kind, base_url=base_url, credential_env="X", credential=Secret(key),
                           rate_per_s=None, unknown_subscriber=policy)


def destination(cls: Any, acct: PlatformAccount) -> Any:
    client = build_client(base_url=acct.base_url, headers=cls.auth_headers(acct), timeout_s=5)
    return cls(merchant="acme", account=acct, client=client, subscribers=MemorySubscriberCache(FrozenClock()))


KLAVIYO_SPECS = {"/api/events": "klaviyo/create_event.json", "/api/profile-import": "klaviyo/create_or_update_profile.json",
                 "/api/profile-bulk-import-jobs": "klaviyo/bulk_import_profiles.json",
                 "/api/profiles": "klaviyo/get_profiles.json"}


def validate_all(sim: Any, spec: RequestValidator | None) -> int:
    """Validate every request the simulator received; returns how many."""
    for r in sim.requests:
        query = str(httpx.QueryParams([(k, v) for k, vs in r.query.items() for v in vs]))
        validator = spec or RequestValidator(KLAVIYO_SPECS[r.path])
        validator.validate(httpx.Request(r.method, f"http://sim{r.path}" + (f"?{query}" if query else ""),
                                         headers=r.headers, content=r.body))
    return len(sim.requests)


@pytest.fixture
def attentive() -> Iterator[AttentiveSimulator]:
    with AttentiveSimulator(rate_per_s=None) as sim:
        yield sim


@pytest.fixture
def klaviyo() -> Iterator[KlaviyoSimulator]:
    with KlaviyoSimulator(limits=None, bulk_delay_s=0.05) as sim:
        yield sim


PHONE = Customer(provider_id="c2", email=None, phone="(555) 201-0100")


def test_attentive_events_and_attributes(attentive: AttentiveSimulator) -> None:
    acc = attentive.add_account("att-token")
    dest = destination(AttentiveDestination, account("attentive", attentive.base_url, "att-token"))
    assert dest.send(event(), delivery_id="d-1").outcome == "delivered"
    assert dest.send(replace(event(id="e2"), customer=PHONE), delivery_id="d-2").outcome == "delivered"
    assert dest.send(profile(), delivery_id="d-3").outcome == "delivered"
    assert [e["externalEventId"] for e in acc.events] == ["d-1", "d-2"]
    assert acc.events[1]["user"] == {"phone": "+15552010100"}
    assert acc.users_by_email("jane@example.test")[0]["properties"]["Smile Points Balance"] == 300
    validate_all(attentive, RequestValidator("attentive-v1-openapi.yaml", server_prefix="/v1"))


def test_attentive_errors_are_classified(attentive: AttentiveSimulator) -> None:
    attentive.add_account("att-token")
    dest = destination(AttentiveDestination, account("attentive", attentive.base_url, "att-token"))
    with pytest.raises(FatalError, match="attentive cannot take this event"):
        dest.send(replace(event(), customer=Customer(provider_id="x", phone="12")), delivery_id="d")
    attentive.fail_next(1, 429)
    with pytest.raises(RateLimited):
        dest.send(event(), delivery_id="d")
    wrong = destination(AttentiveDestination, account("attentive", attentive.base_url, "nope"))
    with pytest.raises(AuthError):
        wrong.send(event(), delivery_id="d")


def test_klaviyo_events_profiles_and_dedup(klaviyo: KlaviyoSimulator) -> None:
    acc = klaviyo.add_account("pk_test")
    dest = destination(KlaviyoDestination, account("klaviyo", klaviyo.base_url, "pk_test"))
    assert dest.send(event(), delivery_id="d-1").outcome == "delivered"
    assert dest.send(event(), delivery_id="d-1").outcome == "delivered"  # a retry after a lost answer
    assert len(acc.events) == 1 and acc.deduplicated == 1  # Klaviyo deduplicates on unique_id
    assert dest.send(profile(), delivery_id="d-2").outcome == "delivered"
    assert acc.profile_by_email("jane@example.test")["properties"]["Smile Points Balance"] == 300
    job_id = dest.send_profiles_bulk([profile(email=f"p{i}@example.test", id=f"p{i}") for i in range(120)])
    assert job_id in str(acc.jobs)
    assert validate_all(klaviyo, None) == 4


def test_klaviyo_skip_policy_does_not_create_unknown_profiles(klaviyo: KlaviyoSimulator) -> None:
    acc = klaviyo.add_account("pk_test")
    dest = destination(KlaviyoDestination, account("klaviyo", klaviyo.base_url, "pk_test", policy="skip"))
    skipped = dest.send(profile(), delivery_id="d-1")
    assert skipped.outcome == "skipped" and "policy: skip" in skipped.reason
    assert acc.profile_by_email("jane@example.test") is None
    dest.send(event(), delivery_id="d-2")  # an event creates the profile at Klaviyo ...
    dest._profiles.forget("acme", "klaviyo", "jane@example.test")
    assert dest.send(profile(id="p2"), delivery_id="d-3").outcome == "delivered"  # ... which is then updated
    assert validate_all(klaviyo, None) == 4  # lookup, event, lookup, import


def test_klaviyo_429_carries_retry_after() -> None:
    with KlaviyoSimulator(limits={"events": (1, 100)}) as sim:
        sim.add_account("pk_test")
        dest = destination(KlaviyoDestination, account("klaviyo", sim.base_url, "pk_test"))
        dest.send(event(), delivery_id="d-1")
        with pytest.raises(RateLimited) as info:
            dest.send(event(id="e2"), delivery_id="d-2")
        assert info.value.retry_after_s is not None and info.value.retry_after_s >= 1


def test_attentive_bulk_attributes_in_requests_of_256(attentive: AttentiveSimulator) -> None:
    acc = attentive.add_account("att-token")
    dest = destination(AttentiveDestination, account("attentive", attentive.base_url, "att-token"))
    updates = [profile(email=f"u{i}@example.test", id=f"p{i}") for i in range(300)]
    assert dest.send_profiles_bulk(updates) == "job-2"  # 256 + 44
    assert len(acc.users) == 300 and acc.users_by_email("u299@example.test")[0]["properties"]["Smile Points Balance"] == 300
    v2 = RequestValidator("attentive-v2-openapi.yaml")
    for r in attentive.requests:
        v2.validate(httpx.Request(r.method, f"http://sim{r.path}", headers=r.headers, content=r.body))
