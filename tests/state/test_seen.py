"""The seen-version markers of the ingest (pipeline/state/seen.py): one contract, run against the
in-memory version, the ledger-backed one and real Redis (the Lua script never runs on fakeredis)."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from pipeline import keys
from pipeline.clock import FrozenClock
from pipeline.state.ledger import MemoryLedger
from pipeline.state.seen import LedgerSeen, MemorySeen, RedisSeen

T = time.time()  # the ledger-backed twin keeps TTLs on the clock of its ledger


@pytest.fixture(params=["memory", "ledger", pytest.param("redis", marks=pytest.mark.redis)])
def seen(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return MemorySeen()
    if request.param == "ledger":
        return LedgerSeen(MemoryLedger(FrozenClock()))
    return RedisSeen(request.getfixturevalue("real_redis"))


def test_marked_versions_are_seen_per_stream(seen: Any) -> None:
    assert seen.which_seen("m", "smile", "points_transactions", ["1@a", "2@a"], now_s=T) == [False, False]
    seen.mark("m", "smile", "points_transactions", ["1@a"], now_s=T, ttl_s=60)
    assert seen.which_seen("m", "smile", "points_transactions", ["1@a", "2@a", "1@b"], now_s=T) == [True, False, False]
    assert seen.which_seen("m", "smile", "customers", ["1@a"], now_s=T) == [False]  # streams are apart
    assert seen.which_seen("m2", "smile", "points_transactions", ["1@a"], now_s=T) == [False]  # so are merchants
    assert seen.which_seen("m", "smile", "points_transactions", [], now_s=T) == []
    seen.mark("m", "smile", "points_transactions", [], now_s=T, ttl_s=60)  # nothing to mark: no error


@pytest.mark.redis
def test_a_marker_runs_out_and_the_page_is_marked_in_one_script(real_redis: redis.Redis) -> None:
    seen = RedisSeen(real_redis)
    versions = [f"{i}@2026-01-01T00:00:00+00:00" for i in range(2500)]  # more than one ZADD chunk
    before = real_redis.info("commandstats")
    seen.mark("m", "smile", "points_transactions", versions, now_s=T, ttl_s=60)
    after = real_redis.info("commandstats")
    calls = {k: after[k]["calls"] - before.get(k, {"calls": 0})["calls"] for k in after}
    assert calls.get("cmdstat_evalsha", 0) + calls.get("cmdstat_eval", 0) == 1
    assert calls["cmdstat_zadd"] == 3
    key = keys.seen_versions("m", "smile", "points_transactions")
    assert real_redis.zcard(key) == 2500
    assert 0 < real_redis.ttl(key) <= 60
    assert seen.which_seen("m", "smile", "points_transactions", versions[:2], now_s=T + 59) == [True, True]
    assert seen.which_seen("m", "smile", "points_transactions", versions[:2], now_s=T + 61) == [False, False]
    seen.mark("m", "smile", "points_transactions", ["new@x"], now_s=T + 61, ttl_s=60)  # prunes what ran out
    assert real_redis.zrange(key, 0, -1) == [b"new@x"]
