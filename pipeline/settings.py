"""Process settings: one frozen object, built once from the environment at the edge."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pipeline.errors import ConfigError
from pipeline.redisurl import validate_url

__all__ = ["Settings"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Everything a process needs that is not per-connection.

    Environment variables (all optional):

    ``REDIS_URL`` state, DLQ, limiter (default ``redis://127.0.0.1:6379/0``; ``sentinel://`` URLs
    as in pipeline/redisurl.py follow a Sentinel-managed primary);
    ``BROKER_URL`` Celery broker (default: ``REDIS_URL``);
    ``CONNECTIONS_FILE`` merchants and their connections (default ``connections.toml``);
    ``HTTP_TIMEOUT_S`` per-request timeout (default 10);
    ``DELIVERY_BATCH_SIZE`` deliveries per task (default 100);
    ``DELIVERY_MAX_ATTEMPTS`` attempts before dead-lettering (default 8);
    ``DELIVERY_RETRY_MAX_S`` cap of one retry delay (default 60);
    ``MAX_INLINE_WAIT_S`` longest rate-limit pacing inside a delivery task; longer waits defer
    the rest of the batch to the due set instead of holding the worker (default 1);
    ``DELIVERY_WINDOW`` requests one delivery batch keeps in flight (default 4);
    ``REDIS_MAX_CONNECTIONS`` a process's Redis connections at most (default 2048; redis-py's own
    default of 100 refuses the 101st task in flight);
    ``LOG_LEVEL`` (default INFO);
    ``WEBHOOK_READ_TIMEOUT_S`` seconds a webhook client has to send its body (default 20);
    ``METRICS_CACHE_S`` the Redis gauges of ``/metrics`` are collected at most this often (default 10);
    ``LOG_FORMAT`` ``text`` or ``json`` (default text); ``SENTRY_DSN`` (and ``SENTRY_ENVIRONMENT``) error
    reports, scrubbed; ``METRICS_PORT`` (and ``METRICS_ADDR``, default 0.0.0.0) a worker's Prometheus port.
    """

    redis_url: str = "redis://127.0.0.1:6379/0"
    broker_url: str = ""
    connections_file: str = "connections.toml"
    http_timeout_s: float = 10.0
    delivery_batch_size: int = 100
    delivery_max_attempts: int = 8
    delivery_retry_base_s: float = 1.0
    delivery_retry_max_s: float = 60.0
    dedup_ttl_s: int = 7 * 24 * 3600
    max_inline_wait_s: float = 1.0
    redis_max_connections: int = 2048
    delivery_window: int = 4
    log_level: str = "INFO"
    webhook_read_timeout_s: float = 20.0
    metrics_cache_s: float = 10.0
    # observability of the Celery processes (workers/observability.py)
    log_format: str = "text"
    sentry_dsn: str = ""
    sentry_environment: str = ""
    metrics_port: int | None = None
    metrics_addr: str = "0.0.0.0"

    def __post_init__(self) -> None:
        # Redis URLs (plain or sentinel://) are parsed in one place: pipeline/redisurl.py
        validate_url(self.redis_url, key="REDIS_URL")
        if self.broker_url:
            validate_url(self.broker_url, key="BROKER_URL", extra_schemes=frozenset({"amqp", "pyamqp", "memory"}))
        if not self.broker_url:
            object.__setattr__(self, "broker_url", self.redis_url)
        if self.delivery_batch_size < 1:
            raise ConfigError("must be at least 1", key="DELIVERY_BATCH_SIZE")
        if self.delivery_max_attempts < 1:
            raise ConfigError("must be at least 1", key="DELIVERY_MAX_ATTEMPTS")
        if not 1 <= self.delivery_window <= 64:
            raise ConfigError("must be 1 to 64", key="DELIVERY_WINDOW")
        if self.redis_max_connections < 16:
            raise ConfigError("must be at least 16", key="REDIS_MAX_CONNECTIONS")
        if self.http_timeout_s <= 0:
            raise ConfigError("must be positive", key="HTTP_TIMEOUT_S")
        if self.webhook_read_timeout_s <= 0:
            raise ConfigError("must be positive", key="WEBHOOK_READ_TIMEOUT_S")
        if self.metrics_cache_s < 0:
            raise ConfigError("must be 0 (no cache) or more", key="METRICS_CACHE_S")
        object.__setattr__(self, "log_format", self.log_format.strip().lower())
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"expected text or json, got {self.log_format!r}", key="LOG_FORMAT")
        if self.metrics_port is not None and not 0 < self.metrics_port < 65536:
            raise ConfigError(f"{self.metrics_port} is not a port number", key="METRICS_PORT")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); bad values raise ConfigError."""
        env = os.environ if env is None else env
        kwargs: dict[str, object] = {}
        for field, var, cast in _ENV_FIELDS:
            raw = env.get(var)
            if raw is None or raw == "":
                continue
            try:
                kwargs[field] = cast(raw)
            except ValueError:
                raise ConfigError(f"expected {cast.__name__}, got {raw!r}", key=var) from None
        # the proxy variables are read per HTTP client (as httpx does); a bad one stops the process here
        from pipeline.http.proxy import environment_proxies

        environment_proxies(env)
        return cls(**kwargs)  # type: ignore[arg-type]


_ENV_FIELDS: tuple[tuple[str, str, type], ...] = (
    ("redis_url", "REDIS_URL", str),
    ("broker_url", "BROKER_URL", str),
    ("connections_file", "CONNECTIONS_FILE", str),
    ("http_timeout_s", "HTTP_TIMEOUT_S", float),
    ("delivery_batch_size", "DELIVERY_BATCH_SIZE", int),
    ("delivery_max_attempts", "DELIVERY_MAX_ATTEMPTS", int),
    ("delivery_retry_base_s", "DELIVERY_RETRY_BASE_S", float),
    ("delivery_retry_max_s", "DELIVERY_RETRY_MAX_S", float),
    ("dedup_ttl_s", "DEDUP_TTL_S", int),
    ("max_inline_wait_s", "MAX_INLINE_WAIT_S", float),
    ("redis_max_connections", "REDIS_MAX_CONNECTIONS", int),
    ("delivery_window", "DELIVERY_WINDOW", int),
    ("log_level", "LOG_LEVEL", str),
    ("webhook_read_timeout_s", "WEBHOOK_READ_TIMEOUT_S", float),
    ("metrics_cache_s", "METRICS_CACHE_S", float),
    ("log_format", "LOG_FORMAT", str),
    ("sentry_dsn", "SENTRY_DSN", str),
    ("sentry_environment", "SENTRY_ENVIRONMENT", str),
    ("metrics_port", "METRICS_PORT", int),
    ("metrics_addr", "METRICS_ADDR", str),
)
