"""Bulk initial sync against the Smile and Postscript simulators with real Redis: killed
mid-page, resumed, and nothing reaches Postscript twice."""

from __future__ import annotations

from collections import Counter

import pytest
import redis

from pipeline.bulk import BulkSync, RedisBulkProgress
from pipeline.clock import SystemClock
from pipeline.config import PlatformAccount, Secret
from pipeline.delivery import Deliverer
from pipeline.destinations.postscript import PostscriptDestination
from pipeline.http.client import build_client
from pipeline.providers.smile import SmileProvider
from sandbox.sim import PostscriptSimulator, SmileSimulator
from pipeline.state.counters import RedisCounters
from pipeline.state.cursors import RedisCursorStore
from pipeline.state.directory import RedisCustomerDirectory
from pipeline.state.journal import RedisJournal
from pipeline.state.ledger import RedisLedger
from pipeline.state.pauses import RedisPauses
from pipeline.state.profiles import RedisProfileStates
from pipeline.state.snapshots import RedisSnapshotStore
from pipeline.state.subscribers import RedisSubscriberCache
from pipeline.transform.mapper import Mapper
from pipeline.types import Delivery
from tests.factories import provider_account

pytestmark = [pytest.mark.redis]


class Crash(Exception):
    pass


def test_bulk_sync_killed_and_resumed_sends_nothing_twice(real_redis: redis.Redis) -> None:
    clock = SystemClock()
    with SmileSimulator(rate_per_s=None) as smile, PostscriptSimulator(rate_per_s=None) as ps:
        account, shop = smile.add_account("smile-key"), ps.add_shop("sk_key")
        for n in range(23):
            email = f"c{n}@example.test"
            account.add_customer(email=email, state="member", points_balance=10 * n)
            shop.add_subscriber(email=email)
        acct = provider_account(base_url=f"{smile.base_url}/v1", page_size=5)
        acct = type(acct)(**{**acct.__dict__, "credential": Secret("smile-key")})
        provider = SmileProvider(merchant="m", account=acct, client=build_client(
            base_url=acct.base_url, headers=SmileProvider.auth_headers(acct), timeout_s=5),
            directory=RedisCustomerDirectory(real_redis), snapshots=RedisSnapshotStore(real_redis), clock=clock)
        queued: list[list[Delivery]] = []
        calls = {"n": 0}

        def enqueue(platform: str, batch: list[Delivery]) -> None:
            calls["n"] += 1
            queued.append(batch)
            if calls["n"] == 3:  # killed after handing over page 3, before its checkpoint
                raise Crash()

        progress = RedisBulkProgress(real_redis)

        def job() -> BulkSync:
            return BulkSync(merchant="m", provider=provider, platforms=["postscript"], enqueue=enqueue,
                            mapper=Mapper(), cursors=RedisCursorStore(real_redis), progress=progress, clock=clock,
                            batch_size=100)

        with pytest.raises(Crash):
            job().run()
        assert progress.get("m")["status"] == "running" and progress.get("m")["pages"] == "2"
        report = job().run()
        assert report.resumed and progress.get("m")["status"] == "done"
        assert sum(len(b) for b in queued) == 23 + 5  # page 3 was handed over twice

        platform = PlatformAccount(kind="postscript", base_url=ps.base_url, credential_env="P",
                                   credential=Secret("sk_key"), rate_per_s=None)
        deliverer = Deliverer(
            merchant="m", platform="postscript",
            destination=PostscriptDestination(merchant="m", account=platform, client=build_client(
                base_url=ps.base_url, headers=PostscriptDestination.auth_headers(platform), timeout_s=5),
                subscribers=RedisSubscriberCache(real_redis)),
            ledger=RedisLedger(real_redis), dead_letters=RedisJournal(real_redis), skipped=RedisJournal(real_redis),
            counters=RedisCounters(real_redis), clock=clock, pauses=RedisPauses(real_redis),
            profiles=RedisProfileStates(real_redis), dedup_ttl_s=600, max_attempts=3, retry_base_s=1, retry_max_s=5)
        results = [deliverer.deliver(batch) for batch in queued]
    patched = Counter(sub_id for sub_id, _ in shop.patches)
    assert len(patched) == 23 and set(patched.values()) == {1}  # every customer once, none twice
    assert sum(r.duplicates for r in results) == 5
    for sub in shop.subscribers.values():
        n = int(sub["email"][1:].split("@")[0])
        assert sub["properties"]["Smile Points Balance"] == 10 * n
