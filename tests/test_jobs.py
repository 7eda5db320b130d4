"""Scheduled sync discipline: once per slot, one at a time, a refused credential pauses only
its own connection (checked end to end against the Smile simulator and real Redis)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from pipeline.clock import FrozenClock, SystemClock
from pipeline.errors import AuthError
from pipeline.ingest import Ingestor, SyncReport
from pipeline.jobs import RECHECK_S, SYNC_LEASE_S, run_sync
from pipeline.state.leases import Leases, MemoryLeases, RedisLeases
from pipeline.state.credentials import MemoryCredentialStore, RedisCredentialStore
from pipeline.state.ledger import MemoryLedger, RedisLedger
from pipeline.state.counters import RedisCounters
from pipeline.state.cursors import RedisCursorStore
from pipeline.state.directory import RedisCustomerDirectory
from pipeline.state.journal import RedisJournal
from pipeline.state.snapshots import RedisSnapshotStore
from pipeline.http.client import build_client
from pipeline.providers.smile import SmileProvider
from sandbox.sim import SmileSimulator
from pipeline.transform.mapper import Mapper
from pipeline.types import Delivery
from tests.factories import T0, provider_account


class FakeIngestor:
    def __init__(self, error: Exception | None = None, pages: int = 1,
                 between_pages: Callable[[int], None] | None = None) -> None:
        self.runs = 0
        self.error = error
        self.pages, self.handed_over = pages, 0
        self.between_pages = between_pages

    def sync(self, on_page: Callable[[], None] | None = None) -> SyncReport:
        self.runs += 1
        if self.error:
            raise self.error
        for n in range(self.pages):
            if self.between_pages is not None:
                self.between_pages(n)
            if on_page is not None:
                on_page()
            self.handed_over += 1
        return SyncReport(pulled=1)


def job(ingestor: FakeIngestor, ledger: MemoryLedger, creds: MemoryCredentialStore, clock: FrozenClock,
        merchant: str = "acme", scheduled: bool = True, leases: Leases | None = None, holder: str = "run-1") -> str:
    return run_sync(merchant=merchant, provider="smile", interval_s=300, ingestor=lambda: ingestor,  # type: ignore[arg-type,return-value]
                    ledger=ledger, leases=leases or MemoryLeases(), holder=holder, credentials=creds, clock=clock,
                    scheduled=scheduled).status


def test_a_job_fired_twice_in_one_slot_runs_once() -> None:
    clock, creds = FrozenClock(T0), MemoryCredentialStore()
    ledger, ingestor = MemoryLedger(clock), FakeIngestor()
    assert [job(ingestor, ledger, creds, clock) for _ in range(2)] == ["done", "duplicate_slot"]
    clock.advance(300)
    assert job(ingestor, ledger, creds, clock) == "done"
    assert ingestor.runs == 2


def test_a_refused_credential_pauses_the_connection_until_the_recheck() -> None:
    clock, creds = FrozenClock(T0), MemoryCredentialStore()
    ledger = MemoryLedger(clock)
    bad = FakeIngestor(AuthError("smile GET /customers answered 401 (credential refused)", status=401))
    assert job(bad, ledger, creds, clock) == "credential_refused"
    state = creds.get("acme", "provider", "smile")
    assert state is not None and "401" in state.reason
    clock.advance(300)
    assert job(bad, ledger, creds, clock) == "paused" and bad.runs == 1
    clock.advance(RECHECK_S)
    bad.error = None
    assert job(bad, ledger, creds, clock) == "done"
    assert creds.get("acme", "provider", "smile") is None


def test_manual_runs_skip_the_slot_claim_but_not_the_running_lease() -> None:
    clock, creds = FrozenClock(T0), MemoryCredentialStore()
    ledger, ingestor, leases = MemoryLedger(clock), FakeIngestor(), MemoryLeases()
    assert job(ingestor, ledger, creds, clock, leases=leases) == "done"
    assert job(ingestor, ledger, creds, clock, scheduled=False, leases=leases) == "done"
    assert leases.holder("sync", "acme") is None  # released when done
    leases.acquire("sync", "acme", "another-run", now_s=clock.now().timestamp(), ttl_s=SYNC_LEASE_S)
    assert job(ingestor, ledger, creds, clock, scheduled=False, leases=leases) == "already_running"


def test_a_killed_sync_blocks_its_merchant_only_until_its_lease_runs_out() -> None:
    clock, creds = FrozenClock(T0), MemoryCredentialStore()
    ledger, ingestor, leases = MemoryLedger(clock), FakeIngestor(), MemoryLeases()
    # a run that died holding the lease: nothing renews it any more
    leases.acquire("sync", "acme", "dead-run", now_s=clock.now().timestamp(), ttl_s=SYNC_LEASE_S)
    clock.advance(SYNC_LEASE_S - 1)
    assert job(ingestor, ledger, creds, clock, scheduled=False, leases=leases, holder="run-2") == "already_running"
    clock.advance(1)
    assert job(ingestor, ledger, creds, clock, scheduled=False, leases=leases, holder="run-2") == "done"
    assert ingestor.runs == 1


def test_a_sync_renews_its_lease_before_every_page_and_stops_once_it_was_handed_on() -> None:
    clock, creds = FrozenClock(T0), MemoryCredentialStore()
    leases = MemoryLeases()
    seen: list[float] = []

    def slow_pages(n: int) -> None:  # each page takes most of a lease; the renewals keep it
        clock.advance(SYNC_LEASE_S * 0.9)
        held = leases.holder("sync", "acme")
        assert held is not None and held[0] == "run-1"
        seen.append(held[1])

    steady = FakeIngestor(pages=4, between_pages=slow_pages)
    assert job(steady, MemoryLedger(clock), creds, clock, leases=leases) == "done"
    assert steady.handed_over == 4 and seen == sorted(seen) and len(set(seen)) == 4

    def handed_on(n: int) -> None:  # the worker stalled past its lease; the dispatcher resumed the sync
        if n == 2:
            clock.advance(SYNC_LEASE_S + 1)
            assert leases.expired("sync", now_s=clock.now().timestamp()) == [("acme", "run-1")]
            leases.acquire("sync", "acme", "run-2", now_s=clock.now().timestamp(), ttl_s=SYNC_LEASE_S)

    stalled = FakeIngestor(pages=4, between_pages=handed_on)
    assert job(stalled, MemoryLedger(clock), creds, clock, scheduled=False, leases=leases) == "lease_lost"
    assert stalled.handed_over == 2  # nothing after the lease was lost
    held = leases.holder("sync", "acme")
    assert held is not None and held[0] == "run-2"  # the loser did not release the new holder's lease


@pytest.mark.redis
def test_credential_failure_on_one_connection_leaves_the_other_untouched(real_redis: redis.Redis) -> None:
    with SmileSimulator() as smile:
        good = smile.add_account("good-key")
        smile.add_account("other-key")
        customer = good.add_customer(email="jane@example.test", state="member", points_balance=0)
        for n in range(3):
            good.add_transaction(customer["id"], 100, "Placed an order")
        clock = SystemClock()
        sent: dict[str, list[Delivery]] = {"good": [], "bad": []}
        outcomes = {}
        for merchant, key in (("bad", "revoked-key"), ("good", "good-key")):
            account = provider_account(base_url=f"{smile.base_url}/v1")
            account = type(account)(**{**account.__dict__, "credential": type(account.credential)(key)})
            client = build_client(base_url=account.base_url, headers=SmileProvider.auth_headers(account), timeout_s=5)
            provider = SmileProvider(merchant=merchant, account=account, client=client,
                                     directory=RedisCustomerDirectory(real_redis),
                                     snapshots=RedisSnapshotStore(real_redis), clock=clock)
            ingestor = Ingestor(merchant=merchant, provider=provider, platforms=["postscript"],
                                enqueue=lambda p, b, m=merchant: sent[m].extend(b), mapper=Mapper(),
                                cursors=RedisCursorStore(real_redis), ledger=RedisLedger(real_redis),
                                quarantine=RedisJournal(real_redis), counters=RedisCounters(real_redis),
                                clock=clock, lookback_s=60, batch_size=100, seen_ttl_s=3600)
            outcomes[merchant] = run_sync(merchant=merchant, provider="smile", interval_s=300,
                                          ingestor=lambda i=ingestor: i, ledger=RedisLedger(real_redis),
                                          leases=RedisLeases(real_redis), holder=f"run-{merchant}",
                                          credentials=RedisCredentialStore(real_redis), clock=clock).status
    assert outcomes == {"bad": "credential_refused", "good": "done"}
    assert sent["bad"] == []
    assert sorted(d.item.name for d in sent["good"] if d.item.kind == "event") == ["Smile Points Earned"] * 3
    assert RedisCredentialStore(real_redis).get("bad", "provider", "smile") is not None
    assert RedisCredentialStore(real_redis).get("good", "provider", "smile") is None
