"""The customer trail and the windowed counters, on real Redis: what the console's lookup and
overview read. Keys are identity hashes; nothing stores an email or phone."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
import redis

from pipeline import keys
from pipeline.clock import FrozenClock
from pipeline.delivery import Deliverer
from pipeline.destinations.base import SendResult
from pipeline.errors import FatalError, RateLimited
from pipeline.state import activity
from pipeline.state.counters import RedisCounters
from pipeline.state.journal import RedisJournal
from pipeline.state.ledger import RedisLedger
from pipeline.state.pauses import RedisPauses
from pipeline.state.profiles import RedisProfileStates
from pipeline.state.trail import RedisTrail, identity, latest_per_delivery
from pipeline.types import Customer, Delivery
from tests.factories import event, profile
from tests.test_delivery import ScriptedDestination

pytestmark = [pytest.mark.redis]


class CountingTrail(RedisTrail):
    calls = 0

    def record(self, rows):  # type: ignore[no-untyped-def]
        CountingTrail.calls += 1
        super().record(rows)


def _deliverer(client: redis.Redis, clock: FrozenClock, dest: ScriptedDestination, trail: RedisTrail) -> Deliverer:
    return Deliverer(merchant="acme", platform="postscript", destination=dest, ledger=RedisLedger(client),
                     dead_letters=RedisJournal(client), skipped=RedisJournal(client),
                     counters=RedisCounters(client, clock), clock=clock, pauses=RedisPauses(client),
                     profiles=RedisProfileStates(client), dedup_ttl_s=3600, max_attempts=3, retry_base_s=1,
                     retry_max_s=5, rand=lambda: 1.0, trail=trail)


def test_every_outcome_is_found_by_email_or_phone_and_no_plaintext_is_stored(real_redis: redis.Redis) -> None:
    clock = FrozenClock()
    trail = CountingTrail(real_redis, ttl_s=3600)
    jane = Customer(provider_id="c1", email="Jane.Doe@Example.test", phone="+15555550123")
    dest = ScriptedDestination(SendResult("delivered", status=202), SendResult("skipped", reason="not a subscriber"),
                               FatalError("postscript answered 400", status=400, response_excerpt="{}"),
                               RateLimited("postscript answered 429", status=429))
    batch = [Delivery(platform="postscript", item=replace(event(id=i), customer=jane)) for i in "abcd"]
    CountingTrail.calls = 0
    result = _deliverer(real_redis, clock, dest, trail).deliver(batch)
    assert (result.delivered, result.skipped, result.dead_lettered, len(result.retry)) == (1, 1, 1, 1)
    assert CountingTrail.calls == 1  # one write for the whole batch

    by_email = trail.lookup(identity(" jane.doe@example.test "))  # typed as an operator would
    assert identity("jane.doe@example.test") == keys.identity_hash("jane.doe@example.test")  # as keys hash it
    by_phone = trail.lookup(identity("+1 (555) 555-0123"))
    assert by_email == by_phone
    outcomes = {e.delivery_id: e for e in by_email}
    assert {e.outcome for e in by_email} == {"delivered", "skipped", "dead_lettered", "retrying"}
    dead = next(e for e in by_email if e.outcome == "dead_lettered")
    assert dead.http_status == 400 and dead.dlq_id and real_redis.xlen(keys.dlq("acme", "postscript")) == 1
    assert outcomes[batch[1].id].detail == "not a subscriber"
    assert next(e for e in by_email if e.outcome == "retrying").http_status == 429

    everything = b"".join(k + b"".join(real_redis.zrange(k, 0, -1)) for k in real_redis.scan_iter("lp:trail:*"))
    assert everything and b"jane" not in everything.lower() and b"5550123" not in everything
    ttl = real_redis.ttl(keys.trail(keys.identity_hash("jane.doe@example.test")))
    assert 0 < ttl <= 3600  # expires with the ledger

    # the 429 retry succeeds later: the delivery's latest state is delivered, its history kept
    clock.advance(30)
    _deliverer(real_redis, clock, ScriptedDestination(), trail).deliver(result.retry)
    latest = {e.delivery_id: (e, h) for e, h in latest_per_delivery(trail.lookup(identity("+15555550123")))}
    now, history = latest[batch[3].id]
    assert now.outcome == "delivered" and [h.outcome for h in history] == ["delivered", "retrying"]


def test_the_trail_is_bounded_per_identity(real_redis: redis.Redis) -> None:
    clock = FrozenClock()
    trail = RedisTrail(real_redis, ttl_s=600, max_entries=5)
    d = _deliverer(real_redis, clock, ScriptedDestination(), trail)
    for n in range(4):
        d.deliver([Delivery(platform="postscript", item=event(id=f"e{n}-{i}")) for i in range(3)])
        clock.advance(1)
    assert len(trail.lookup(keys.identity_hash("jane@example.test"))) == 5
    clock.advance(3600)  # older than the ledger keeps: dropped at the next write
    d.deliver([Delivery(platform="postscript", item=profile(id="late"))])
    assert [e.outcome for e in trail.lookup(keys.identity_hash("jane@example.test"))] == ["delivered"]


def test_windowed_counters_by_platform_and_ingest(real_redis: redis.Redis) -> None:
    clock = FrozenClock()
    counters = RedisCounters(real_redis, clock)
    counters.add("acme", {"pulled": 5, "transformed": 4})
    counters.add("acme", {"delivered": 3, "dead_lettered": 1}, platform="postscript")
    clock.advance(2 * 3600)  # out of the last hour, still in the last day
    counters.add("acme", {"delivered": 2}, platform="postscript")
    got = activity.windows(real_redis, [("acme", "postscript"), ("acme", activity.INGEST)], clock.now().timestamp())
    assert got["acme", "postscript"]["hour"] == {"delivered": 2}
    assert got["acme", "postscript"]["day"] == {"delivered": 5, "dead_lettered": 1}
    assert got["acme", activity.INGEST]["day"] == {"pulled": 5, "transformed": 4}
    assert counters.get("acme")["delivered"] == 5  # the totals are kept as before
    clock.advance(timedelta(days=2).total_seconds())
    later = activity.windows(real_redis, [("acme", "postscript")], clock.now().timestamp())
    assert later["acme", "postscript"] == {"hour": {}, "day": {}}
