"""Shared fixtures: a real Redis (private ``redis-server`` started for the session), fakeredis,
clocks. Tests marked ``redis`` fail in CI when no Redis can be had, and skip elsewhere."""

from __future__ import annotations

import os
from collections.abc import Iterator

import fakeredis
import pytest
import redis

from pipeline.clock import FrozenClock
from sandbox.localredis import LocalRedis, ensure_redis, start_redis_server

IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[LocalRedis]:
    try:
        local = start_redis_server()
    except (FileNotFoundError, RuntimeError) as exc:
        try:
            local = ensure_redis(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0", allow_fake=False)
        except (FileNotFoundError, RuntimeError):
            if IN_CI:
                pytest.fail(f"no Redis for the integration tests: {exc} and nothing answers at REDIS_URL")
            pytest.skip(f"no Redis available: {exc}")
    yield local
    local.stop()


@pytest.fixture
def redis_url(redis_server: LocalRedis) -> str:
    return redis_server.url


@pytest.fixture
def real_redis(redis_server: LocalRedis) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def fake_redis() -> redis.Redis:
    return fakeredis.FakeRedis()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()
