"""Composition root: settings + connections → real adapters. The only place that builds them."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from functools import cached_property
from urllib.parse import urlparse

import redis
from redis import Redis

from pipeline.bulk import BulkSync, RedisBulkProgress
from pipeline.clock import Clock, SystemClock
from pipeline.config import Connection
from pipeline.delivery import Deliverer
from pipeline.destinations.registry import DESTINATIONS
from pipeline.http.client import HttpClient, build_client
from pipeline.ingest import Enqueue, Ingestor
from pipeline.providers.base import Provider
from pipeline.providers.registry import PROVIDERS, WEBHOOK_SCHEMES
from pipeline.ratelimit.limiter import RedisRateLimiter
from pipeline.ratelimit.throttle import Throttle
from pipeline.redisurl import connect
from pipeline.settings import Settings
from pipeline.state.contributions import RedisContributions
from pipeline.state.counters import RedisCounters
from pipeline.state.credentials import RedisCredentialStore
from pipeline.state.cursors import RedisCursorStore
from pipeline.state.directory import RedisCustomerDirectory
from pipeline.state.due import RedisDueStore
from pipeline.state.journal import RedisJournal
from pipeline.state.keeper import Keeper
from pipeline.state.leases import RedisLeases
from pipeline.state.ledger import RedisLedger
from pipeline.state.locks import RedisLocks
from pipeline.state.pauses import RedisPauses
from pipeline.state.profiles import RedisProfileStates
from pipeline.state.scopes import RedisScopeStore
from pipeline.state.sequences import RedisSequenceStore
from pipeline.state.snapshots import RedisSnapshotStore
from pipeline.state.subscribers import RedisSubscriberCache
from pipeline.state.trail import RedisTrail
from pipeline.status import Stores
from pipeline.transform.mapper import Mapper
from pipeline.transform.okendo_stats import OkendoMapper
from pipeline.types import Delivery
from pipeline.webhooks.intake import WebhookIntake
from pipeline.webhooks.receiver import Endpoint
from pipeline.webhooks.replay import RedisReplayGuard
from workers.resilience import until_redis_answers

__all__ = ["Publish", "Runtime"]

#: Hands a batch to a worker (``workers.tasks.deliver.publish``): merchant, platform, batch, queue.
Publish = Callable[..., None]


class Runtime:
    """Per-process adapters, built lazily (after the worker forks) and reused across tasks."""

    def __init__(
        self,
        settings: Settings,
        connections: Mapping[str, Connection],
        clock: Clock | None = None,
        publish: Publish | None = None,
    ) -> None:
        self.settings = settings
        self.connections = connections
        self.clock = clock or SystemClock()
        #: Set by the Celery app once its tasks exist (wiring never imports the tasks).
        self.publish = publish
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._clients: dict[tuple[str, str], HttpClient] = {}
        self._pid = os.getpid()

    def connection(self, merchant: str) -> Connection:
        try:
            return self.connections[merchant]
        except KeyError:
            raise KeyError(f"merchant {merchant!r} is not in {self.settings.connections_file}") from None

    @cached_property
    def redis(self) -> redis.Redis:
        return connect(self.settings.redis_url, health_check_interval=30)  # plain or sentinel://

    @cached_property
    def limiter(self) -> RedisRateLimiter:
        return RedisRateLimiter(self.redis)

    @cached_property
    def due(self) -> RedisDueStore:
        return RedisDueStore(self.redis)

    @cached_property
    def leases(self) -> RedisLeases:
        return RedisLeases(self.redis)

    @cached_property
    def ledger(self) -> RedisLedger:
        return RedisLedger(self.redis)

    @cached_property
    def journal(self) -> RedisJournal:
        """Dead letters, skips and quarantine."""
        return RedisJournal(self.redis)

    @cached_property
    def cursors(self) -> RedisCursorStore:
        return RedisCursorStore(self.redis)

    @cached_property
    def credentials(self) -> RedisCredentialStore:
        return RedisCredentialStore(self.redis)

    @cached_property
    def pauses(self) -> RedisPauses:
        return RedisPauses(self.redis)

    @cached_property
    def counters(self) -> RedisCounters:
        return RedisCounters(self.redis, self.clock)

    @cached_property
    def scopes(self) -> RedisScopeStore:
        return RedisScopeStore(self.redis)

    @cached_property
    def bulk_progress(self) -> RedisBulkProgress:
        return RedisBulkProgress(self.redis)

    @cached_property
    def replay_guard(self) -> RedisReplayGuard:
        """Webhook bodies waiting for their task (the worker's side, on the shared client)."""
        return RedisReplayGuard(self.redis)

    def web_replay_guard(self, timeout_s: float) -> RedisReplayGuard:
        """The web process's guard, on its own client: a frozen Redis costs a request ``timeout_s``,
        then 503, well inside a sender's deadline, instead of holding it until Redis wakes."""
        return RedisReplayGuard(
            connect(
                self.settings.redis_url,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                health_check_interval=30,
            )
        )

    def broker_redis(self) -> Redis | None:
        """The broker's Redis, for queue depths (None when the broker is not Redis)."""
        url = self.settings.broker_url
        if url == self.settings.redis_url:
            return self.redis
        if urlparse(url.split(";")[0]).scheme in ("redis", "rediss", "unix", "sentinel"):
            return connect(url, socket_timeout=5, socket_connect_timeout=5)
        return None

    @cached_property
    def trail(self) -> RedisTrail:
        return RedisTrail(self.redis, ttl_s=self.settings.dedup_ttl_s)

    def status_stores(self) -> Stores:
        """What ``pipeline.status.collect`` reads."""
        return Stores(
            redis=self.redis,
            cursors=self.cursors,
            credentials=self.credentials,
            pauses=self.pauses,
            counters=self.counters,
            scopes=self.scopes,
        )

    def enqueue_for(self, merchant: str, queue: str | None = None) -> Enqueue:
        """Hands ``merchant``'s batches to delivery (on ``queue``, default each platform's own)."""
        publish = self.publish
        if publish is None:
            raise RuntimeError("Runtime.publish is not set: build the runtime with workers.app.create_app")

        def enqueue(platform: str, batch: list[Delivery]) -> None:
            publish(merchant, platform, batch, queue=queue)

        return enqueue

    def bulk_sync(self, merchant: str, queue: str, *, full: bool = False, name: str = "initial") -> BulkSync:
        """Every customer of ``merchant``'s provider to every connected platform, through ``queue``."""
        conn = self.connection(merchant)
        return BulkSync(
            merchant=merchant,
            provider=self.provider(merchant),
            platforms=[p.kind for p in conn.platforms],
            enqueue=self.enqueue_for(merchant, queue),
            mapper=self.mapper,
            cursors=self.cursors,
            progress=self.bulk_progress,
            clock=self.clock,
            batch_size=self.settings.delivery_batch_size,
            full=full,
            name=name,
        )

    @cached_property
    def keeper(self) -> Keeper:
        """Renews the leases and locks this process's running tasks hold."""
        return Keeper(self.clock)

    @cached_property
    def mapper(self) -> Mapper:
        """The catalog mapper; Okendo records first update their customer's aggregates in Redis."""
        return OkendoMapper(RedisContributions(self.redis), self.clock)

    def _client(
        self,
        role: str,
        merchant: str,
        kind: str,
        base_url: str,
        headers: dict[str, str],
        rate_per_s: float | None,
        *,
        max_wait_s: float | None = None,
        rate_scale: float = 1.0,
    ) -> HttpClient:
        if os.getpid() != self._pid:  # forked: never share sockets with the parent
            self._clients.clear()
            self._pid = os.getpid()
        key = (f"{role}:{merchant}", kind)
        if key not in self._clients:
            throttle = Throttle(
                limiter=self.limiter,
                clock=self.clock,
                kind=kind,
                scope=f"{role}:{kind}:{merchant}",
                rate_per_s=rate_per_s,
                max_wait_s=max_wait_s,
                rate_scale=rate_scale,
            )
            self._clients[key] = build_client(
                base_url=base_url,
                headers=headers,
                timeout_s=self.settings.http_timeout_s,
                hooks=throttle,
            )
        return self._clients[key]

    def provider(self, merchant: str) -> Provider:
        account = self.connection(merchant).provider
        cls = PROVIDERS[account.kind]
        client = self._client(
            "provider",
            merchant,
            account.kind,
            account.base_url,
            cls.auth_headers(account),
            account.rate_per_s,
            rate_scale=account.rate_scale,
        )
        return cls(
            merchant=merchant,
            account=account,
            client=client,
            directory=RedisCustomerDirectory(self.redis),
            snapshots=RedisSnapshotStore(self.redis),
            clock=self.clock,
        )

    def ingestor(self, merchant: str, enqueue: Enqueue) -> Ingestor:
        conn = self.connection(merchant)
        return Ingestor(
            merchant=merchant,
            provider=self.provider(merchant),
            platforms=[p.kind for p in conn.platforms],
            enqueue=enqueue,
            mapper=self.mapper,
            cursors=self.cursors,
            ledger=self.ledger,
            quarantine=self.journal,
            counters=self.counters,
            clock=self.clock,
            lookback_s=conn.provider.lookback_s,
            batch_size=self.settings.delivery_batch_size,
            seen_ttl_s=self.settings.dedup_ttl_s,
            scopes=self.scopes,
        )

    def webhook_endpoint(self, provider: str, merchant: str) -> Endpoint | None:
        """The webhook endpoint of (provider, merchant), if that connection takes webhooks."""
        conn = self.connections.get(merchant)
        if conn is None or conn.provider.kind != provider or conn.provider.webhook_secret is None:
            return None
        return Endpoint(
            provider=provider, merchant=merchant, scheme=WEBHOOK_SCHEMES[provider], secret=conn.provider.webhook_secret
        )

    def webhook_intake(self, merchant: str, enqueue: Enqueue) -> WebhookIntake:
        conn = self.connection(merchant)
        return WebhookIntake(
            merchant=merchant,
            provider=conn.provider.kind,
            hand_over=self.ingestor(merchant, enqueue).hand_over,
            snapshots=RedisSnapshotStore(self.redis),
            sequences=RedisSequenceStore(self.redis),
            quarantine_journal=self.journal,
            counters=self.counters,
            clock=self.clock,
            locks=RedisLocks(self.redis, keeper=self.keeper),
        )

    def deliverer(self, merchant: str, platform: str) -> Deliverer:
        account = self.connection(merchant).platform(platform)
        cls = DESTINATIONS[account.kind]
        client = self._client(
            "platform",
            merchant,
            account.kind,
            account.base_url,
            cls.auth_headers(account),
            account.rate_per_s,
            max_wait_s=self.settings.max_inline_wait_s,
            rate_scale=account.rate_scale,
        )
        destination = cls(
            merchant=merchant, account=account, client=client, subscribers=RedisSubscriberCache(self.redis)
        )
        journal = self.journal
        s = self.settings
        return Deliverer(
            merchant=merchant,
            platform=platform,
            destination=destination,
            ledger=self.ledger,
            dead_letters=journal,
            skipped=journal,
            counters=self.counters,
            clock=self.clock,
            pauses=self.pauses,
            profiles=RedisProfileStates(self.redis),
            dedup_ttl_s=s.dedup_ttl_s,
            max_attempts=s.delivery_max_attempts,
            retry_base_s=s.delivery_retry_base_s,
            retry_max_s=s.delivery_retry_max_s,
            worker=self.worker,
            persist=until_redis_answers,
            trail=self.trail,
        )
