"""Readiness warnings about Redis, and the heartbeat that proves a worker consumes."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from pipeline.observability.health import (beat_heartbeat, heartbeat_ages, heartbeat_key, is_alive, main,
                                           readiness)


@pytest.mark.redis
def test_the_test_redis_has_no_persistence(real_redis: redis.Redis) -> None:
    warnings = readiness(real_redis)  # started with --appendonly no --save ""
    assert any(w.startswith("persistence is off") for w in warnings), warnings
    assert not any("maxmemory-policy" in w for w in warnings)  # noeviction by default


@pytest.mark.redis
def test_an_evicting_redis_is_reported(real_redis: redis.Redis) -> None:
    real_redis.config_set("maxmemory-policy", "allkeys-lru")
    try:
        assert any(w.startswith("maxmemory-policy is allkeys-lru") for w in readiness(real_redis))
    finally:
        real_redis.config_set("maxmemory-policy", "noeviction")


class _ManagedRedis:
    """A Redis whose CONFIG command is disabled, as on many managed services."""

    def ping(self) -> bool:
        return True

    def config_get(self, name: str) -> Any:
        raise redis.ResponseError("unknown command 'CONFIG', with args beginning with: 'GET'")


class _Configured(_ManagedRedis):
    def __init__(self, **config: str) -> None:
        self.config = config

    def config_get(self, name: str) -> Any:
        return {name.encode(): self.config[name].encode()} if name in self.config else {}


def test_a_disabled_config_is_a_warning_not_a_crash() -> None:
    (warning,) = readiness(_ManagedRedis())  # type: ignore[arg-type]
    assert warning.startswith("cannot read config")


def test_a_well_configured_redis_has_no_warning() -> None:
    good = _Configured(appendonly="yes", save="3600 1", appendfsync="everysec", **{"maxmemory-policy": "noeviction"})
    assert readiness(good) == []  # type: ignore[arg-type]
    lazy = _Configured(appendonly="yes", save="", appendfsync="no", **{"maxmemory-policy": "noeviction"})
    assert [w.split(":")[0] for w in readiness(lazy)] == ["appendfsync is no"]  # type: ignore[arg-type]


def test_unreachable_redis_raises() -> None:
    dead = redis.Redis(port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    with pytest.raises(redis.ConnectionError):
        readiness(dead)


def test_heartbeat_liveness(fake_redis: redis.Redis) -> None:
    assert not is_alive(fake_redis, "celery@w1", now_s=1000.0, max_age_s=60)
    beat_heartbeat(fake_redis, "celery@w1", now_s=1000.0)
    assert is_alive(fake_redis, "celery@w1", now_s=1059.0, max_age_s=60)
    assert not is_alive(fake_redis, "celery@w1", now_s=1061.0, max_age_s=60)
    assert not is_alive(fake_redis, "celery@w2", now_s=1000.0, max_age_s=60)
    assert 0 < fake_redis.ttl(heartbeat_key("celery@w1")) <= 24 * 3600
    beat_heartbeat(fake_redis, "celery@w2", now_s=1010.0)
    assert heartbeat_ages(fake_redis, now_s=1030.0) == {"celery@w1": 30.0, "celery@w2": 20.0}


@pytest.mark.redis
def test_probe_command(real_redis: redis.Redis, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    env = {"REDIS_URL": redis_url}
    assert main(["alive", "--worker", "celery@probe", "--max-age", "60"], env) == 1
    beat_heartbeat(real_redis, "celery@probe", now_s=time.time())
    assert main(["alive", "--worker", "celery@probe", "--max-age", "60"], env) == 0
    assert main(["ready"], env) == 0
    assert "warning: persistence is off" in capsys.readouterr().out
