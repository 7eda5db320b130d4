"""Redis URLs, parsed in one place: plain ``redis://`` / ``rediss://`` / ``unix://``, or Sentinel.

A Sentinel URL names the sentinels and the monitored primary; every process (state client, Celery
broker, probes, web) follows the primary across failovers through it::

    sentinel://[[user]:password@]host1:26379,host2:26379,host3:26379[/db]?master_name=mymaster
        [&sentinel_password=...][&sentinel_username=...][&ssl=true][&socket_timeout=...]

Celery's own spelling (``sentinel://h1:26379;sentinel://h2:26379/0``, hosts separated by ``;``)
is accepted too, with ``master_name`` in the query of any part. ``password`` (user info) is the
primary's (``requirepass``); ``sentinel_password`` the sentinels' (``requirepass`` in
sentinel.conf), when they have one. The query takes no other keys: a typo fails at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlparse

from pipeline.errors import ConfigError

if TYPE_CHECKING:
    import redis

__all__ = ["SentinelTarget", "broker_options", "connect", "is_sentinel", "parse_sentinel_url", "validate_url"]

PLAIN_SCHEMES = frozenset({"redis", "rediss", "unix"})
SENTINEL_SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379
_QUERY_KEYS = frozenset({"master_name", "sentinel_password", "sentinel_username", "ssl", "socket_timeout"})


@dataclass(frozen=True, kw_only=True)
class SentinelTarget:
    """A Sentinel-managed primary: where the sentinels are and which primary they watch."""

    sentinels: tuple[tuple[str, int], ...]
    master_name: str
    db: int = 0
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sentinel_username: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)
    ssl: bool = False
    socket_timeout_s: float | None = None

    def primary_kwargs(self) -> dict[str, Any]:
        """Connection arguments of the primary (what redis-py's and kombu's Sentinel pass on)."""
        out: dict[str, Any] = {"db": self.db}
        if self.username:
            out["username"] = self.username
        if self.password:
            out["password"] = self.password
        if self.ssl:
            out["ssl"] = True
        if self.socket_timeout_s is not None:
            out["socket_timeout"] = self.socket_timeout_s
        return out

    def sentinel_kwargs(self) -> dict[str, Any]:
        """Connection arguments of the sentinels themselves."""
        out: dict[str, Any] = {
            "socket_timeout": self.socket_timeout_s or 5.0,
            "socket_connect_timeout": self.socket_timeout_s or 5.0,
        }
        if self.sentinel_username:
            out["username"] = self.sentinel_username
        if self.sentinel_password:
            out["password"] = self.sentinel_password
        return out


def _fail(key: str, message: str) -> ConfigError:
    return ConfigError(message, key=key)


def parse_sentinel_url(url: str, *, key: str = "REDIS_URL") -> SentinelTarget:
    """Parse a ``sentinel://`` URL (either spelling above); ConfigError naming ``key`` if malformed.

    Messages never repeat the URL's user info (it holds passwords)."""
    parts = [p for p in url.split(";") if p.strip()]
    hosts: list[tuple[str, int]] = []
    query: dict[str, str] = {}
    username = password = None
    db = 0
    for part in parts:
        parsed = urlparse(part.strip())
        if parsed.scheme != SENTINEL_SCHEME:
            raise _fail(key, f"every ';'-separated part must be a sentinel:// URL, got scheme {parsed.scheme!r}")
        userinfo, _, hostlist = parsed.netloc.rpartition("@")
        if userinfo:
            user, _, secret = userinfo.partition(":")
            username, password = unquote(user) or None, unquote(secret) or None
        for item in hostlist.split(","):
            host, _, port = item.strip().rpartition(":") if item.count(":") == 1 else (item.strip(), "", "")
            host = host.strip("[]")
            if not host:
                raise _fail(key, "a sentinel host is empty (expected host:port, comma-separated)")
            try:
                hosts.append((host, int(port) if port else DEFAULT_SENTINEL_PORT))
            except ValueError:
                raise _fail(key, f"sentinel port {port!r} of {host} is not a number") from None
        path = parsed.path.strip("/")
        if path:
            if not path.isdigit():
                raise _fail(key, f"the path is the database number, got {path!r}")
            db = int(path)
        for name, value in parse_qsl(parsed.query, keep_blank_values=True):
            if name not in _QUERY_KEYS:
                raise _fail(key, f"unknown sentinel URL parameter {name!r}; allowed: {', '.join(sorted(_QUERY_KEYS))}")
            query[name] = value
    if not hosts:
        raise _fail(key, "names no sentinel host")
    master = query.get("master_name", "").strip()
    if not master:
        raise _fail(key, "needs ?master_name=<the name in the sentinels' 'sentinel monitor' line>")
    timeout = query.get("socket_timeout")
    try:
        timeout_s = float(timeout) if timeout else None
    except ValueError:
        raise _fail(key, f"socket_timeout must be a number of seconds, got {timeout!r}") from None
    return SentinelTarget(
        sentinels=tuple(dict.fromkeys(hosts)),
        master_name=master,
        db=db,
        username=username,
        password=password,
        sentinel_username=query.get("sentinel_username") or None,
        sentinel_password=query.get("sentinel_password") or None,
        ssl=query.get("ssl", "").lower() in ("1", "true", "yes"),
        socket_timeout_s=timeout_s,
    )


def validate_url(url: str, *, key: str, extra_schemes: frozenset[str] = frozenset()) -> None:
    """Raise ConfigError unless ``url`` is a Redis URL this project can connect to."""
    scheme = urlparse(url.split(";")[0]).scheme
    if scheme == SENTINEL_SCHEME:
        parse_sentinel_url(url, key=key)
    elif scheme not in PLAIN_SCHEMES | extra_schemes:
        host = urlparse(url.split(";")[0]).hostname or ""  # never the user info or query (passwords)
        raise _fail(
            key,
            f"unsupported URL scheme {scheme!r} (host {host!r}); expected redis://, rediss://, unix:// or sentinel://",
        )


def is_sentinel(url: str) -> bool:
    return urlparse(url.split(";")[0]).scheme == SENTINEL_SCHEME


def connect(url: str, **kwargs: Any) -> redis.Redis:
    """A redis-py client for ``url``: ``Redis.from_url`` for plain URLs; for Sentinel, a client of the
    current primary that asks the sentinels again after every connection error (so it follows a
    failover, and refuses to write to a demoted primary). ``kwargs`` go to the data connections."""
    import redis
    from redis.sentinel import Sentinel

    if not is_sentinel(url):
        return redis.Redis.from_url(url, **kwargs)
    target = parse_sentinel_url(url)
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=target.sentinel_kwargs())
    primary: redis.Redis = sentinel.master_for(target.master_name, **{**target.primary_kwargs(), **kwargs})
    return primary


def broker_options(url: str) -> dict[str, Any]:
    """Celery settings for a broker at ``url``: ``broker_url`` (kombu's ``;``-separated spelling for
    Sentinel), ``broker_transport_options`` (``master_name``, ``sentinel_kwargs``) and, for a TLS
    primary, ``broker_use_ssl``. Plain URLs pass through unchanged."""
    if not is_sentinel(url):
        return {"broker_url": url, "broker_transport_options": {}}
    from urllib.parse import quote

    target = parse_sentinel_url(url, key="BROKER_URL")
    auth = ""
    if target.password or target.username:
        auth = f"{quote(target.username or '', safe='')}:{quote(target.password or '', safe='')}@"
    out: dict[str, Any] = {
        "broker_url": ";".join(f"sentinel://{auth}{host}:{port}/{target.db}" for host, port in target.sentinels),
        "broker_transport_options": {"master_name": target.master_name, "sentinel_kwargs": target.sentinel_kwargs()},
    }
    if target.ssl:
        import ssl

        out["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return out
