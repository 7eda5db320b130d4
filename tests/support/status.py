"""The stores ``pipeline.status.collect`` reads, over a test's real Redis."""

from __future__ import annotations

import redis

from pipeline.state.counters import RedisCounters
from pipeline.state.credentials import RedisCredentialStore
from pipeline.state.cursors import RedisCursorStore
from pipeline.state.pauses import RedisPauses
from pipeline.state.scopes import RedisScopeStore
from pipeline.status import Stores


def status_stores(client: redis.Redis) -> Stores:
    return Stores(redis=client, cursors=RedisCursorStore(client), credentials=RedisCredentialStore(client),
                  pauses=RedisPauses(client), counters=RedisCounters(client), scopes=RedisScopeStore(client))
