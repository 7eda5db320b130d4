"""Cursor correctness against the Smile simulator over HTTP, with real Redis state: records
carrying the watermark's exact timestamp, inserted while a sync pages, are neither lost nor
delivered twice."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from typing import Any

import pytest
import redis

from pipeline.clock import SystemClock
from pipeline.http.client import build_client
from pipeline.ingest import Ingestor
from pipeline.providers.smile import SmileProvider
from sandbox.sim import SmileSimulator
from pipeline.state.counters import RedisCounters
from pipeline.state.cursors import RedisCursorStore
from pipeline.state.directory import RedisCustomerDirectory
from pipeline.state.journal import RedisJournal
from pipeline.state.ledger import RedisLedger
from pipeline.state.snapshots import RedisSnapshotStore
from pipeline.transform.mapper import Mapper
from pipeline.types import Customer, Delivery
from tests.factories import provider_account

pytestmark = [pytest.mark.redis]

T = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)


@pytest.mark.parametrize("lookback_s", [0, 60])
def test_records_at_the_cursor_timestamp_inserted_while_paging(real_redis: redis.Redis, lookback_s: int) -> None:
    with SmileSimulator(rate_per_s=None, now=lambda: T) as smile:
        account = smile.add_account("key")
        customer = account.add_customer(email="jane@example.test", state="member", points_balance=0)
        for _ in range(7):
            account.add_transaction(customer["id"], 10, "Placed an order", at=T)
        inserted: list[int] = []

        class InsertingWhilePaging(SmileProvider):
            streams = ("points_transactions",)

            def fetch(self, stream: str, **kw: Any) -> Any:
                page = super().fetch(stream, **kw)
                if len(inserted) < 3:  # after each of the first pages, a new record at exactly T
                    inserted.append(account.add_transaction(customer["id"], 5, "Late order", at=T)["id"])
                return page

        acct = provider_account(base_url=f"{smile.base_url}/v1", page_size=2, lookback_s=lookback_s)
        acct = type(acct)(**{**acct.__dict__, "credential": type(acct.credential)("key")})
        client = build_client(base_url=acct.base_url, headers=SmileProvider.auth_headers(acct), timeout_s=5)
        directory = RedisCustomerDirectory(real_redis)
        directory.put_many("m", "smile", [Customer(provider_id=str(customer["id"]), email="jane@example.test")])
        provider = InsertingWhilePaging(merchant="m", account=acct, client=client, directory=directory,
                                        snapshots=RedisSnapshotStore(real_redis), clock=SystemClock())
        sent: list[Delivery] = []
        ingestor = Ingestor(merchant="m", provider=provider, platforms=["postscript"],
                            enqueue=lambda p, b: sent.extend(b), mapper=Mapper(),
                            cursors=RedisCursorStore(real_redis), ledger=RedisLedger(real_redis),
                            quarantine=RedisJournal(real_redis), counters=RedisCounters(real_redis),
                            clock=SystemClock(), lookback_s=lookback_s, batch_size=100, seen_ttl_s=3600)
        ingestor.sync()
        first = len(sent)
        ingestor.sync()
        ingestor.sync()

    assert len(inserted) == 3
    delivered = Counter(d.item.properties["Transaction ID"] for d in sent)
    every = set(account.points_transactions)
    assert set(delivered) == every  # none lost
    assert max(delivered.values()) == 1  # none twice
    assert first == 7  # the first sync took what existed when it started...
    state = RedisCursorStore(real_redis).get("m", "smile", "points_transactions")
    assert state.watermark == T.isoformat() and not state.in_progress  # ...and the watermark is exactly T
