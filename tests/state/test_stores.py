"""One contract per store, run against the in-memory version and against real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from pipeline.clock import FrozenClock
from pipeline.state.counters import MemoryCounters, RedisCounters
from pipeline.state.cursors import CursorState, MemoryCursorStore, RedisCursorStore
from pipeline.state.directory import MemoryCustomerDirectory, RedisCustomerDirectory
from pipeline.state.journal import MemoryJournal, RedisJournal
from pipeline.state.ledger import Claim, MemoryLedger, RedisLedger
from pipeline.state.subscribers import ABSENT, MemorySubscriberCache, RedisSubscriberCache
from pipeline.types import Customer

Factory = Callable[[], Any]


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def make(backend: str, request: pytest.FixtureRequest, memory: Factory, real: Callable[[redis.Redis], Any]) -> Any:
    if backend == "memory":
        return memory()
    return real(request.getfixturevalue("real_redis"))


def test_cursor_store(backend: str, request: pytest.FixtureRequest) -> None:
    store = make(backend, request, MemoryCursorStore, RedisCursorStore)
    assert store.get("m", "smile", "customers") == CursorState()
    state = CursorState(watermark="2026-01-01T00:00:00+00:00", window_start="", page_cursor="abc")
    store.put("m", "smile", "customers", state)
    assert store.get("m", "smile", "customers") == state
    assert store.get("m", "smile", "points_transactions") == CursorState()


def test_ledger(backend: str, request: pytest.FixtureRequest) -> None:
    ledger = make(backend, request, lambda: MemoryLedger(FrozenClock()), RedisLedger)
    assert ledger.which_exist(["a", "b"]) == [False, False]
    ledger.mark(["a"], ttl_s=60)
    assert ledger.which_exist(["a", "b"]) == [True, False]
    assert ledger.which_exist([]) == []


def test_ledger_claims(backend: str, request: pytest.FixtureRequest) -> None:
    ledger = make(backend, request, lambda: MemoryLedger(FrozenClock()), RedisLedger)
    assert ledger.claim("plain", ttl_s=60) and not ledger.claim("plain", ttl_s=60)  # no owner: once
    assert ledger.claim("c", ttl_s=60, owner="batch-1")
    assert not ledger.claim("c", ttl_s=60, owner="batch-2")  # held by another
    assert ledger.claim("c", ttl_s=60, owner="batch-1")  # the same batch again takes it over
    ledger.release("c", owner="batch-2")  # not its claim: nothing happens
    assert not ledger.claim("c", ttl_s=60, owner="batch-2")
    ledger.release("c", owner="batch-1")
    assert ledger.claim("c", ttl_s=60, owner="batch-2")
    assert ledger.claim_many(["c", "d", "e"], ttl_s=60, owner="batch-1") == [Claim.BUSY, Claim.TAKEN, Claim.TAKEN]
    assert ledger.claim_many(["d"], ttl_s=60, owner="batch-1") == [Claim.RESUMED]  # it held "d" already
    assert ledger.claim_many([], ttl_s=60, owner="batch-1") == []
    ledger.release_many(["c", "d"], owner="batch-1")
    assert ledger.claim_many(["c", "d", "e"], ttl_s=60, owner="batch-3") == [Claim.BUSY, Claim.TAKEN, Claim.BUSY]
    ledger.mark(["f-done"], ttl_s=60)  # delivered meanwhile by another batch: not claimed, said DONE
    assert ledger.claim_many(["f", "g"], ttl_s=60, owner="batch-4",
                             unless=["f-done", "g-done"]) == [Claim.DONE, Claim.TAKEN]
    assert ledger.claim("f", ttl_s=60, owner="batch-5")  # the DONE one was left unclaimed


def test_ledger_settle_acknowledges_releases_renews_and_reports_in_one_call(
    backend: str, request: pytest.FixtureRequest
) -> None:
    ledger = make(backend, request, lambda: MemoryLedger(FrozenClock()), RedisLedger)
    assert ledger.claim_many(["s1", "s2", "s3", "s4"], ttl_s=60, owner="b") == [Claim.TAKEN] * 4
    assert ledger.claim("theirs", ttl_s=60, owner="other")
    ledger.mark(["s3-done"], ttl_s=60)  # another batch acknowledged s3 meanwhile
    done = ledger.settle(["s1-done"], ttl_s=60, owner="b", release=["s1", "theirs"],
                         extend=[("s2", "s2-done"), ("s3", "s3-done"), ("s4", "s4-done")], extend_ttl_s=30)
    assert done == [False, True, False]
    assert ledger.which_exist(["s1-done", "s1", "s2", "s3", "s4", "theirs"]) == [True, False, True, False, True, True]
    assert ledger.claim("s1", ttl_s=60, owner="c") and ledger.claim("s3", ttl_s=60, owner="c")  # released
    assert not ledger.claim("s2", ttl_s=60, owner="c") and not ledger.claim("theirs", ttl_s=60, owner="c")
    assert ledger.settle([], ttl_s=60, owner="b") == []
    if backend == "redis":
        client = request.getfixturevalue("real_redis")
        assert 0 < client.ttl("s2") <= 30 and client.ttl("s1-done") > 30  # renewed to extend_ttl_s


def test_journal(backend: str, request: pytest.FixtureRequest) -> None:
    journal = make(backend, request, lambda: MemoryJournal(FrozenClock()), RedisJournal)
    ids = [journal.append("j", {"n": n}) for n in range(3)]
    assert [e for _, e in journal.read("j")] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert [e for _, e in journal.read("j", after=ids[0], count=1)] == [{"n": 1}]
    assert journal.delete("j", ids[1]) and not journal.delete("j", ids[1])
    assert journal.length("j") == 2


def test_counters(backend: str, request: pytest.FixtureRequest) -> None:
    counters = make(backend, request, MemoryCounters, RedisCounters)
    counters.add("m", {"pulled": 3, "delivered": 0})
    counters.add("m", {"pulled": 2})
    got = counters.get("m")
    assert got["pulled"] == 5 and got["delivered"] == 0 and counters.get("other")["pulled"] == 0


def test_customer_directory(backend: str, request: pytest.FixtureRequest) -> None:
    directory = make(backend, request, MemoryCustomerDirectory, RedisCustomerDirectory)
    directory.put_many("m", "smile", [Customer(provider_id="1", email="a@x.test"), Customer(provider_id="2")])
    assert directory.get_many("m", "smile", ["1", "2", "3"]) == {
        "1": Customer(provider_id="1", email="a@x.test"), "2": Customer(provider_id="2")}


def test_subscriber_cache(backend: str, request: pytest.FixtureRequest) -> None:
    cache = make(backend, request, lambda: MemorySubscriberCache(FrozenClock()), RedisSubscriberCache)
    assert cache.get("m", "postscript", "a@x.test") is None
    cache.put("m", "postscript", "a@x.test", "s_1", ttl_s=60)
    cache.put("m", "postscript", "b@x.test", ABSENT, ttl_s=60)
    assert cache.get("m", "postscript", "A@x.test ") == "s_1"  # identities are normalised
    assert cache.get("m", "postscript", "b@x.test") == ABSENT
    cache.forget("m", "postscript", "a@x.test")
    assert cache.get("m", "postscript", "a@x.test") is None


def test_no_personal_data_in_redis_keys(real_redis: redis.Redis) -> None:
    RedisSubscriberCache(real_redis).put("m", "postscript", "jane@example.test", "s_1", ttl_s=60)
    RedisCustomerDirectory(real_redis).put_many("m", "smile", [Customer(provider_id="9", email="jane@example.test")])
    assert not [k for k in real_redis.keys("*") if b"jane" in k]


def test_profile_states_many(backend: str, request: pytest.FixtureRequest) -> None:
    from pipeline.state.profiles import MemoryProfileStates, RedisProfileStates

    states = make(backend, request, MemoryProfileStates, RedisProfileStates)
    states.put_many("m", "klaviyo", [("a@x.io", {"Points": ("2026-01-01T00:00:00+00:00", "h1")}), ("b@x.io", {})],
                    ttl_s=60)
    assert states.get_many("m", "klaviyo", ["a@x.io", "b@x.io"]) == [
        {"Points": ("2026-01-01T00:00:00+00:00", "h1")}, {}]
    assert states.get_many("m", "klaviyo", []) == []
    assert states.get("m", "klaviyo", "a@x.io") == {"Points": ("2026-01-01T00:00:00+00:00", "h1")}


def test_profile_states_keep_the_later_entry_whatever_the_order_of_writes(
        backend: str, request: pytest.FixtureRequest) -> None:
    """Two workers that sent updates of one customer concurrently may record them in either order."""
    from pipeline.state.profiles import MemoryProfileStates, RedisProfileStates

    states = make(backend, request, MemoryProfileStates, RedisProfileStates)
    later, earlier = ("2026-01-01T10:00:00+02:00", "h2"), ("2026-01-01T07:59:59.5+00:00", "h1")  # 08:00Z vs 07:59:59.5Z
    states.put("m", "postscript", "a@x.io", {"Reviews": later, "Name": ("2026-01-01T00:00:00+00:00", "n")}, ttl_s=60)
    states.put("m", "postscript", "a@x.io", {"Reviews": earlier, "Name": ("2026-01-02T00:00:00+00:00", "n2")},
               ttl_s=60)
    assert states.get("m", "postscript", "a@x.io") == {"Reviews": later, "Name": ("2026-01-02T00:00:00+00:00", "n2")}
