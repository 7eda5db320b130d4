"""Getting a Redis for the demo: existing URL, private redis-server, embedded fallback."""

from __future__ import annotations

import pytest
import redis

from sandbox import localredis
from pipeline.ratelimit.limiter import RedisRateLimiter
from pipeline.ratelimit.limits import Window


def test_uses_the_given_url_when_it_answers(redis_url: str) -> None:
    local = localredis.ensure_redis(redis_url)
    assert local.kind == "existing" and local.url == redis_url
    local.stop()  # stops nothing it did not start
    assert redis.Redis.from_url(redis_url).ping()


def test_starts_a_private_redis_server_when_the_url_does_not_answer() -> None:
    dead = f"redis://127.0.0.1:{localredis.free_port()}/0"
    local = localredis.ensure_redis(dead)
    try:
        assert local.kind == "redis-server" and local.url != dead
        assert redis.Redis.from_url(local.url).ping()
    finally:
        local.stop()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(local.url, socket_connect_timeout=0.5).ping()


def test_falls_back_to_embedded_fakeredis_that_runs_our_lua(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localredis.shutil, "which", lambda _name: None)
    local = localredis.ensure_redis(None)
    try:
        assert local.kind == "fakeredis" and "fakeredis" in local.describe()
        limiter = RedisRateLimiter(redis.Redis.from_url(local.url))
        one = (Window(1, 1.0),)
        assert limiter.acquire("s", one) == 0 and limiter.acquire("s", one) > 0
    finally:
        local.stop()


def test_no_fallback_when_forbidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(localredis.shutil, "which", lambda _name: None)
    with pytest.raises(FileNotFoundError):
        localredis.ensure_redis(None, allow_fake=False)
