"""Okendo's REST side of the sync: the review backfill (every status, every page, within 2
requests/s) and the given/family names from ``GET /customers/{customerId}``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis

from pipeline.clock import FrozenClock, SystemClock
from pipeline.config import ProviderAccount, Secret
from pipeline.http.client import build_client
from pipeline.providers.okendo import OkendoProvider
from pipeline.providers.resources import decode, snapshot_of
from pipeline.ratelimit.limiter import RedisRateLimiter
from pipeline.ratelimit.throttle import Throttle
from sandbox.sim import OkendoSimulator, OkendoStore, okendo_resources
from pipeline.state.contributions import MemoryContributions
from pipeline.state.directory import MemoryCustomerDirectory
from pipeline.state.snapshots import MemorySnapshotStore
from pipeline.transform.okendo_stats import OkendoMapper
from pipeline.types import Event
from tests.contracts.okendo_support import props

USER, KEY = "user-1", "okendo-key"


@pytest.fixture
def sim() -> Iterator[OkendoSimulator]:
    with OkendoSimulator() as s:  # Okendo's own limit: 2 requests/s, burst 4, answered with 429
        yield s


def _provider(sim: OkendoSimulator, clock: Any, *, snapshots: MemorySnapshotStore, throttle: Throttle | None = None,
              ) -> OkendoProvider:
    account = ProviderAccount(kind="okendo", base_url=f"{sim.base_url}/enterprise", credential_env="X",
                              credential=Secret(f"{USER}:{KEY}"), rate_per_s=None, page_size=50)
    client = build_client(base_url=account.base_url, headers=OkendoProvider.auth_headers(account), timeout_s=5,
                          hooks=throttle)
    return OkendoProvider(merchant="m", account=account, client=client, directory=MemoryCustomerDirectory(),
                          snapshots=snapshots, clock=clock)


def _reviews(store: OkendoStore, clock: Any, n: int) -> list[str]:
    return [store.add_review(f"shopper{i % 7}@example.test", 1 + i % 5, at=clock.now() - timedelta(minutes=i))[
        "reviewId"] for i in range(n)]


def test_backfill_reads_every_review_of_every_status_within_two_requests_per_second(
        sim: OkendoSimulator, real_redis: redis.Redis) -> None:
    clock = SystemClock()
    store = sim.add_store(USER, KEY)
    ids = _reviews(store, clock, 260)
    for rid in ids[:30]:
        store.reviews[rid]["status"] = "pending"
    store.reviews[ids[30]]["status"] = "rejected"
    throttle = Throttle(limiter=RedisRateLimiter(real_redis), clock=clock, kind="okendo", scope="provider:okendo:m",
                        rate_per_s=None)  # the shared limiter, with Okendo's published 2/s from the limits table
    provider = _provider(sim, clock, snapshots=MemorySnapshotStore(), throttle=throttle)

    pages = list(provider.pages("review", since=None, cursor=None))
    read = [r.record_id for p in pages for r in p.records]
    assert sorted(read) == sorted(ids) and not any(p.rejected for p in pages)
    statuses = [r.status for r in sim.requests if r.path == "/enterprise/reviews"]
    assert statuses == [200] * 5  # 229 approved (3 pages), pending, rejected: more than the burst, never a 429
    assert [r.query.get("status") for r in sim.requests][:1] == [["approved"]]

    # backfilled reviews feed the aggregates, never a Review Created event
    mapper = OkendoMapper(MemoryContributions(), clock)
    items = [i for p in pages for r in p.records for i in mapper.map(r)]
    assert not [i for i in items if isinstance(i, Event)]
    counts = {}
    for item in items:
        if "Okendo Number of Reviews" in item.properties:
            counts[item.customer.email] = item.properties["Okendo Number of Reviews"]
    assert sum(counts.values()) == 260 and len(counts) == 7


def test_a_completed_backfill_reads_nothing_more(sim: OkendoSimulator) -> None:
    clock = FrozenClock()
    store = sim.add_store(USER, KEY)
    _reviews(store, clock, 3)
    provider = _provider(sim, clock, snapshots=MemorySnapshotStore())
    assert list(provider.pages("review", since=clock.now() - timedelta(days=1), cursor=None))[0].records == []
    assert not [r for r in sim.requests if r.path == "/enterprise/reviews"]


def test_resuming_the_backfill_from_a_checkpointed_cursor(sim: OkendoSimulator) -> None:
    clock = FrozenClock()
    store = sim.add_store(USER, KEY)
    ids = _reviews(store, clock, 150)
    provider = _provider(sim, clock, snapshots=MemorySnapshotStore())
    first = next(iter(provider.pages("review", since=None, cursor=None)))
    rest = list(provider.pages("review", since=None, cursor=first.next_cursor))
    read = [r.record_id for r in first.records] + [r.record_id for p in rest for r in p.records]
    assert sorted(read) == sorted(ids) and len(read) == len(set(read))


def test_names_come_from_the_customers_endpoint_and_are_reread_weekly(sim: OkendoSimulator) -> None:
    clock = FrozenClock()
    store = sim.add_store(USER, KEY)
    snapshots = MemorySnapshotStore()
    for email, first, last in (("ann@example.test", "Ann", "Lee"), ("bo@example.test", "Bo", None)):
        member = store.members[store.enroll(email, first_name=first, last_name=last)["loyaltyCustomerId"]]
        record = decode("okendo", "loyalty_customer", okendo_resources.loyalty_customer(member=member), merchant="m",
                        extra={"_received_at": clock.now()})  # what the webhook left
        snapshots.put_many("m", "okendo", "loyalty_customer", {record.record_id: snapshot_of(record)})
    provider = _provider(sim, clock, snapshots=snapshots)

    def sync() -> list:
        out = []
        for page in provider.pages("customers", since=None, cursor=None):
            out += page.records
            if page.after_handover:
                page.after_handover()
        return out

    records = sync()
    mapper = OkendoMapper(MemoryContributions(), clock)
    names = {r.customer.email: props(mapper.map(r)) for r in records}
    assert names == {"ann@example.test": {"Okendo Given Name": "Ann", "Okendo Family Name": "Lee"},
                     "bo@example.test": {"Okendo Given Name": "Bo"}}
    assert sync() == []  # read this week already: no request
    assert len([r for r in sim.requests if r.path.startswith("/enterprise/customers/")]) == 2
    clock.advance(8 * 86400)
    assert len(sync()) == 2
