"""A console over real Redis with dead letters and a customer trail in it, for the console tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import redis

from pipeline.clock import SystemClock
from pipeline.config import parse_connections
from pipeline.console import ConsoleAuth, ConsoleDeps, make_console
from pipeline.console.app import Console
from pipeline.delivery import Deliverer
from pipeline.destinations.base import SendResult
from pipeline.errors import FatalError
from pipeline.state.counters import RedisCounters
from pipeline.state.due import RedisDueStore
from pipeline.state.journal import RedisJournal
from pipeline.state.ledger import RedisLedger
from pipeline.state.pauses import RedisPauses
from pipeline.state.profiles import RedisProfileStates
from pipeline.state.trail import RedisTrail
from pipeline.types import Customer, Delivery
from tests.factories import event
from tests.support.status import status_stores

CONNECTIONS = {"merchants": {
    "acme": {"provider": {"kind": "smile", "base_url": "http://127.0.0.1:9/v1", "credential_env": "ACME_SMILE"},
             "platforms": [{"kind": "postscript", "base_url": "http://127.0.0.1:9", "credential_env": "ACME_PS"}]}}}
JANE = Customer(provider_id="c1", email="jane.doe@example.test", phone="+15555550123")


class Script:
    kind = "postscript"

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)

    def send(self, item: Any, *, delivery_id: str) -> SendResult:
        outcome = self.outcomes.pop(0) if self.outcomes else SendResult("delivered", status=202)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def seed(client: redis.Redis) -> list[Delivery]:
    """Jane: one event delivered, one dead-lettered (400), one skipped."""
    clock = SystemClock()
    d = Deliverer(merchant="acme", platform="postscript", destination=Script(
        SendResult("delivered", status=202),
        FatalError("postscript POST /api/v2/events answered 400: jane.doe@example.test invalid", status=400,
                   response_excerpt='{"error": "bad"}'),
        SendResult("skipped", reason="not a subscriber")),
        ledger=RedisLedger(client), dead_letters=RedisJournal(client), skipped=RedisJournal(client),
        counters=RedisCounters(client, clock), clock=clock, pauses=RedisPauses(client),
        profiles=RedisProfileStates(client), dedup_ttl_s=3600, max_attempts=3, retry_base_s=1, retry_max_s=5,
        trail=RedisTrail(client, ttl_s=3600))
    batch = [Delivery(platform="postscript", item=replace(event(id=f"e{i}", name=n), customer=JANE))
             for i, n in enumerate(["Smile Points Earned", "Smile Points Redeemed", "Smile Points Earned"])]
    d.deliver(batch)
    RedisCounters(client, clock).add("acme", {"pulled": 3, "transformed": 3})
    return batch


def console(client: redis.Redis, *, token: str | None = None, handed: list | None = None) -> Console:
    connections = parse_connections(CONNECTIONS, source="test", env={}, require_secrets=False)
    deps = ConsoleDeps(redis=client, connections=connections, clock=SystemClock(), due=RedisDueStore(client),
                       queues=["ingest", "deliver.postscript"], dedup_ttl_s=3600,
                       handover=lambda merchant, records: (handed if handed is not None else []).append(records),
                       status=status_stores(client), journal=RedisJournal(client), pauses=RedisPauses(client),
                       trail=RedisTrail(client, ttl_s=3600))
    return make_console(deps, ConsoleAuth(token))
