"""Seed 002's Smile key has only ``customer:read``: the connection syncs customers and delivers
"Enrolled in Smile" and "Smile Points Balance"; the streams that need another scope are
skipped with the scope named, the connection is never paused, and ``status`` says what is
missing. Against the Smile simulator (which enforces scopes.md's scopes) and real Redis."""

from __future__ import annotations

from dataclasses import replace

import pytest
import redis

from pipeline.clock import SystemClock
from pipeline.config import Connection, Secret
from pipeline.http.client import build_client
from pipeline.ingest import Ingestor
from pipeline.jobs import SyncOutcome, run_sync
from pipeline.providers.smile import SmileProvider
from sandbox.sim import SmileSimulator
from pipeline.state.counters import RedisCounters
from pipeline.state.credentials import RedisCredentialStore
from pipeline.state.cursors import RedisCursorStore
from pipeline.state.directory import RedisCustomerDirectory
from pipeline.state.journal import RedisJournal
from pipeline.state.leases import RedisLeases
from pipeline.state.ledger import RedisLedger
from pipeline.state.scopes import RedisScopeStore
from pipeline.state.snapshots import RedisSnapshotStore
from pipeline.status import collect, render
from pipeline.transform.mapper import Mapper
from pipeline.types import Delivery
from tests.contracts.smile import SEED_002_PROPERTIES, SEED_002_SCOPES
from tests.factories import platform_account, provider_account

pytestmark = pytest.mark.redis


def _sync(r: redis.Redis, smile: SmileSimulator, key: str, sent: list[Delivery]) -> SyncOutcome:
    account = replace(provider_account(base_url=f"{smile.base_url}/v1"), credential=Secret(key))
    clock = SystemClock()
    client = build_client(base_url=account.base_url, headers=SmileProvider.auth_headers(account), timeout_s=5)
    provider = SmileProvider(merchant="acme", account=account, client=client, directory=RedisCustomerDirectory(r),
                             snapshots=RedisSnapshotStore(r), clock=clock)
    ingestor = Ingestor(merchant="acme", provider=provider, platforms=["postscript"],
                        enqueue=lambda p, batch: sent.extend(batch), mapper=Mapper(), cursors=RedisCursorStore(r),
                        ledger=RedisLedger(r), quarantine=RedisJournal(r), counters=RedisCounters(r), clock=clock,
                        lookback_s=60, batch_size=100, seen_ttl_s=3600, scopes=RedisScopeStore(r))
    return run_sync(merchant="acme", provider="smile", interval_s=300, ingestor=lambda: ingestor,
                    ledger=RedisLedger(r), leases=RedisLeases(r), holder="test-sync",
                    credentials=RedisCredentialStore(r), clock=clock, scheduled=False)


def test_a_customer_read_key_delivers_the_seed_002_properties_and_skips_the_rest(real_redis: redis.Redis) -> None:
    sent: list[Delivery] = []
    with SmileSimulator(rate_per_s=None) as smile:
        account = smile.add_account("seed-002-key", SEED_002_SCOPES)
        jane = account.add_customer(email="jane@example.test", state="member", points_balance=0)
        account.add_customer(email="sam@example.test", state="candidate", points_balance=0)
        account.add_transaction(jane["id"], 250, "Placed an order")
        outcome = _sync(real_redis, smile, "seed-002-key", sent)
        refused = [r for r in smile.requests if r.status == 403]

    assert outcome.status == "done"  # not "credential_refused": the connection keeps running
    assert outcome.report is not None
    assert set(outcome.report.skipped) == {"points_transactions", "reward_fulfillments"}
    assert "points_transaction:read" in outcome.report.skipped["points_transactions"]
    assert {r.path for r in refused} == {"/v1/points_transactions", "/v1/reward_fulfillments"}
    profiles = {d.item.customer.email: dict(d.item.properties) for d in sent if d.item.kind == "profile"}
    assert profiles == {"jane@example.test": {"Enrolled in Smile": True, "Smile Points Balance": 250},
                        "sam@example.test": {"Enrolled in Smile": False, "Smile Points Balance": 0}}
    assert all(set(p) == set(SEED_002_PROPERTIES) for p in profiles.values())
    assert not [d for d in sent if d.item.kind == "event"]  # no points history without its scope
    assert RedisCredentialStore(real_redis).get("acme", "provider", "smile") is None

    conn = Connection(merchant="acme", provider=provider_account(), platforms=(platform_account(),))
    data = collect(real_redis, {"acme": conn}, queues=[], now=SystemClock().now())
    (entry,) = data["connections"]
    assert [(m["stream"], m["scope"]) for m in entry["missing_scopes"]] == [
        ("points_transactions", "points_transaction:read"), ("reward_fulfillments", "reward_fulfillment:read")]
    text = render(data)
    assert "missing scopes: points_transaction:read (points_transactions skipped)" in text
    assert "credential failing" not in text


def test_granting_the_scope_reads_the_stream_and_clears_the_note(real_redis: redis.Redis) -> None:
    sent: list[Delivery] = []
    with SmileSimulator(rate_per_s=None) as smile:
        account = smile.add_account("key", SEED_002_SCOPES)
        jane = account.add_customer(email="jane@example.test", state="member", points_balance=0)
        account.add_transaction(jane["id"], 250, "Placed an order")
        assert _sync(real_redis, smile, "key", sent).status == "done"
        since = RedisScopeStore(real_redis).get("acme", "smile")[0].since
        assert _sync(real_redis, smile, "key", sent).status == "done"  # still missing: first "since" kept
        assert RedisScopeStore(real_redis).get("acme", "smile")[0].since == since
        account.scopes = (*SEED_002_SCOPES, "points_transaction:read", "reward_fulfillment:read")
        outcome = _sync(real_redis, smile, "key", sent)
    assert outcome.status == "done" and outcome.report is not None and outcome.report.skipped == {}
    assert RedisScopeStore(real_redis).get("acme", "smile") == []
    assert [d.item.name for d in sent if d.item.kind == "event"] == ["Smile Points Earned"]


def test_a_key_without_any_needed_scope_pauses_the_connection(real_redis: redis.Redis) -> None:
    with SmileSimulator(rate_per_s=None) as smile:
        smile.add_account("vip-only", ("vip_tier:read",))
        outcome = _sync(real_redis, smile, "vip-only", [])
    assert outcome.status == "credential_refused" and "none of the scopes" in outcome.reason
    assert RedisCredentialStore(real_redis).get("acme", "provider", "smile") is not None


def test_a_refused_key_is_still_a_refused_credential(real_redis: redis.Redis) -> None:
    with SmileSimulator(rate_per_s=None) as smile:
        smile.add_account("good")
        outcome = _sync(real_redis, smile, "revoked", [])
    assert outcome.status == "credential_refused" and "401" in outcome.reason
    assert RedisScopeStore(real_redis).get("acme", "smile") == []
