"""Building the HTTP clients: one place for timeouts, pooling, user agent and throttling."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

import httpx

from pipeline.http.lean import ConnectionPool, LeanClient
from pipeline.http.proxy import environment_proxies
from pipeline.http.transport import KeepAliveTransport

__all__ = ["HttpClient", "RequestHooks", "USER_AGENT", "build_client", "shared_pool"]

USER_AGENT = "loyalty-pipeline/0.1 (+https://github.com/loyalty-pipeline)"


class HttpClient(Protocol):
    """What adapters and providers call: the subset of ``httpx.Client`` that ``LeanClient`` has."""

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response: ...

    def get(
        self, url: str, *, params: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response: ...

    def post(self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None) -> httpx.Response: ...

    def close(self) -> None: ...


class RequestHooks(Protocol):
    """Called around every request, e.g. the shared limiter (pipeline/ratelimit/throttle.py)."""

    def pace(self, method: str, path: str) -> None: ...

    def learn(self, path: str, response: httpx.Response) -> None: ...

    def before(self, request: httpx.Request) -> None: ...

    def after(self, response: httpx.Response) -> None: ...


_pools: dict[int, ConnectionPool] = {}


def shared_pool() -> ConnectionPool:
    """This process's connection pool (a forked child gets its own: sockets are never shared)."""
    pid = os.getpid()
    if pid not in _pools:
        _pools.clear()
        _pools[pid] = ConnectionPool()
    return _pools[pid]


def build_client(
    *,
    base_url: str,
    headers: Mapping[str, str],
    timeout_s: float,
    transport: httpx.BaseTransport | None = None,
    hooks: RequestHooks | None = None,
    max_connections: int = 10,
    env: Mapping[str, str] | None = None,
) -> HttpClient:
    """A ``LeanClient`` on the process's shared connection pool (pipeline/http/lean.py has the
    measured cost), or an ``httpx.Client`` on ``KeepAliveTransport`` when a proxy is configured
    or a transport is injected.

    Args:
        transport: inject ``httpx.MockTransport`` in unit tests.
        hooks: ``pace`` before every request is sent (e.g. a rate limiter's wait), ``learn``
            from every response (headers only, e.g. a 429).
        env: where ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` are read (default
            ``os.environ``), as httpx's ``trust_env`` does; ignored when ``transport`` is given,
            as httpx ignores them then (pipeline/http/proxy.py).
    """
    default_headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **headers}
    proxies = environment_proxies(os.environ if env is None else env) if transport is None else {}
    if transport is None and not any(proxies.values()):
        return LeanClient(
            base_url=base_url,
            headers=default_headers,
            timeout_s=timeout_s,
            pool=shared_pool(),
            before_request=hooks.pace if hooks else None,
            after_response=hooks.learn if hooks else None,
        )
    mounts: dict[str, httpx.BaseTransport | None] | None = None
    if transport is None:
        mounts = {pattern: None if url is None else KeepAliveTransport(proxy=url) for pattern, url in proxies.items()}
    event_hooks: dict[str, list[Any]] = {"request": [hooks.before], "response": [hooks.after]} if hooks else {}
    client: HttpClient = httpx.Client(
        base_url=base_url,
        headers=default_headers,
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        transport=transport or KeepAliveTransport(),
        mounts=mounts or None,
        event_hooks=event_hooks,
    )
    return client
