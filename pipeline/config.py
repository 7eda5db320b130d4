"""The connections file: which merchants exist, where their loyalty data comes from,
and which messaging platforms it goes to.

Example (TOML)::

    [merchants.acme.provider]
    kind = "smile"
    credential_env = "ACME_SMILE_API_KEY"     # the NAME of the env var, never the secret
    # base_url = "http://127.0.0.1:8101/v1"   # override to point at a simulator
    # sync_interval_s = 300
    # lookback_s = 120

    [[merchants.acme.platforms]]
    kind = "postscript"
    credential_env = "ACME_POSTSCRIPT_API_KEY"
    # unknown_subscriber = "skip"             # per-integration policy
    # rate_per_s = 15                       # replaces the documented per-second limit
    # rate_scale = 1.0                      # multiplies every documented window (raised limits)

Every problem is reported as ``ConfigError`` naming the file, the key and what is wrong.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, overload
from urllib.parse import urlparse

from pipeline.accounts import Connection, PlatformAccount, ProviderAccount, Secret
from pipeline.destinations.registry import PLATFORM_SPECS
from pipeline.errors import ConfigError
from pipeline.providers.registry import PROVIDER_SPECS

__all__ = ["Connection", "PlatformAccount", "ProviderAccount", "Secret", "load_connections", "parse_connections"]

#: Known kinds and their defaults, read from the integration specs (one registry line each).
PROVIDER_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    s.kind: {
        "base_url": s.base_url,
        "rate_per_s": None,
        "page_size": s.page_size,
        "webhooks": s.webhooks,
        "sync_interval_s": s.sync_interval_s,
    }
    for s in PROVIDER_SPECS
}
PLATFORM_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    s.kind: {
        "base_url": s.base_url,
        "rate_per_s": None,
        "unknown_subscriber": s.unknown_subscriber,
        "no_skip_reason": s.no_skip_reason,
    }
    for s in PLATFORM_SPECS
}
UNKNOWN_SUBSCRIBER_POLICIES = ("skip", "create")
#: (provider, platform) → the unknown-subscriber policy its integration guide states, where it
#: differs from the platform's default. Seed 000 (Rediem → Postscript): "All customer records
#: will be added to Postscript as part of this sync."
SEED_UNKNOWN_SUBSCRIBER: Mapping[tuple[str, str], str] = {("rediem", "postscript"): "create"}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def load_connections(
    path: str | os.PathLike[str], env: Mapping[str, str] | None = None, *, require_secrets: bool = True
) -> dict[str, Connection]:
    """Read and validate a connections file; credentials are resolved from ``env``.

    ``require_secrets=False`` is for operator commands that send nothing (the console, ``dlq``,
    ``status``, ``connection resume``): a credential variable that is not set reads as an
    empty ``Secret`` instead of stopping the command."""
    source = str(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found (set CONNECTIONS_FILE)", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", source=source) from None
    try:
        document = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=source) from None
    return parse_connections(
        document, source=source, env=os.environ if env is None else env, require_secrets=require_secrets
    )


def parse_connections(
    document: Mapping[str, Any], *, source: str, env: Mapping[str, str], require_secrets: bool = True
) -> dict[str, Connection]:
    """Validate an already-parsed connections document."""
    reader = _Reader(source, env, require_secrets=require_secrets)
    unknown = set(document) - {"merchants"}
    if unknown:
        raise ConfigError(f"unknown top-level key(s): {', '.join(sorted(unknown))}", source=source)
    merchants = reader.table(document, "merchants", "merchants", required=True)
    if not merchants:
        raise ConfigError("declares no merchant", source=source, key="merchants")
    connections: dict[str, Connection] = {}
    for merchant, body in merchants.items():
        where = f"merchants.{merchant}"
        if not _ID.match(merchant):
            raise ConfigError(
                "merchant ids are lower-case letters, digits, '-' and '_' (max 63)", source=source, key=where
            )
        if not isinstance(body, Mapping):
            raise ConfigError("must be a table", source=source, key=where)
        reader.no_unknown(body, where, {"provider", "platforms", "name"})
        provider = reader.provider(
            reader.table(body, "provider", f"{where}.provider", required=True), f"{where}.provider"
        )
        platform_list = body.get("platforms")
        if not isinstance(platform_list, list) or not platform_list:
            raise ConfigError("needs at least one [[...platforms]] entry", source=source, key=f"{where}.platforms")
        platforms = tuple(
            reader.platform(p, f"{where}.platforms[{i}]", provider=provider.kind) for i, p in enumerate(platform_list)
        )
        kinds = [p.kind for p in platforms]
        if len(set(kinds)) != len(kinds):
            raise ConfigError("a platform kind is connected twice", source=source, key=f"{where}.platforms")
        connections[merchant] = Connection(merchant=merchant, provider=provider, platforms=platforms)
    return connections


class _Reader:
    """Typed access to the parsed document, raising ConfigError with file and key."""

    def __init__(self, source: str, env: Mapping[str, str], *, require_secrets: bool = True) -> None:
        self.source = source
        self.env = env
        self.require_secrets = require_secrets

    def fail(self, key: str, message: str) -> ConfigError:
        return ConfigError(message, source=self.source, key=key)

    def table(self, parent: Mapping[str, Any], name: str, key: str, *, required: bool = False) -> Mapping[str, Any]:
        value = parent.get(name)
        if value is None:
            if required:
                raise self.fail(key, "is missing")
            return {}
        if not isinstance(value, Mapping):
            raise self.fail(key, "must be a table")
        return value

    def no_unknown(self, body: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        unknown = set(body) - allowed
        if unknown:
            raise self.fail(
                where, f"unknown key(s) {', '.join(sorted(unknown))}; allowed: {', '.join(sorted(allowed))}"
            )

    @overload
    def number(
        self, body: Mapping[str, Any], name: str, where: str, default: float, *, minimum: float = 0.0
    ) -> float: ...
    @overload
    def number(
        self, body: Mapping[str, Any], name: str, where: str, default: None, *, minimum: float = 0.0
    ) -> float | None: ...
    def number(
        self, body: Mapping[str, Any], name: str, where: str, default: float | None, *, minimum: float = 0.0
    ) -> float | None:
        value = body.get(name, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(f"{where}.{name}", f"must be a number, got {type(value).__name__}")
        if value <= minimum:
            raise self.fail(f"{where}.{name}", f"must be greater than {minimum:g}")
        return float(value)

    def common(
        self, body: Any, where: str, defaults: Mapping[str, Mapping[str, Any]], extra: set[str]
    ) -> dict[str, Any]:
        if not isinstance(body, Mapping):
            raise self.fail(where, "must be a table")
        self.no_unknown(body, where, {"kind", "base_url", "credential_env", "rate_per_s", "rate_scale"} | extra)
        kind = body.get("kind")
        if not isinstance(kind, str) or kind not in defaults:
            raise self.fail(f"{where}.kind", f"unknown kind {kind!r}; expected one of {', '.join(sorted(defaults))}")
        base_url = body.get("base_url", defaults[kind]["base_url"])
        if base_url is None:
            raise self.fail(f"{where}.base_url", f"is required for {kind} (it has no default)")
        parsed = urlparse(base_url) if isinstance(base_url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise self.fail(f"{where}.base_url", f"must be an http(s) URL, got {base_url!r}")
        return {
            "kind": kind,
            "base_url": base_url.rstrip("/"),
            "credential_env": body.get("credential_env"),
            "credential": self.secret(body, "credential_env", where),
            "rate_per_s": self.number(body, "rate_per_s", where, defaults[kind]["rate_per_s"]),
            "rate_scale": self.number(body, "rate_scale", where, 1.0),
        }

    def secret(self, body: Mapping[str, Any], name: str, where: str) -> Secret:
        env_name = body.get(name)
        if not isinstance(env_name, str) or not _ENV_NAME.match(env_name):
            raise self.fail(
                f"{where}.{name}", "must name an environment variable (the secret itself never goes in this file)"
            )
        secret = self.env.get(env_name, "")
        if not secret.strip() and self.require_secrets:
            raise self.fail(f"{where}.{name}", f"environment variable {env_name} is not set or empty")
        return Secret(secret.strip())

    def provider(self, body: Any, where: str) -> ProviderAccount:
        fields = self.common(
            body, where, PROVIDER_DEFAULTS, {"sync_interval_s", "lookback_s", "page_size", "webhook_secret_env"}
        )
        defaults = PROVIDER_DEFAULTS[fields["kind"]]
        page_size = body.get("page_size", defaults["page_size"])
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= 250:
            raise self.fail(f"{where}.page_size", "must be an integer between 1 and 250")
        webhooks = defaults.get("webhooks")
        webhook_secret = None
        if "webhook_secret_env" in body or webhooks == "required":
            if webhooks is None:
                raise self.fail(f"{where}.webhook_secret_env", f"{fields['kind']} sends no webhooks")
            webhook_secret = self.secret(body, "webhook_secret_env", where)
        return ProviderAccount(
            **fields,
            sync_interval_s=self.number(body, "sync_interval_s", where, defaults.get("sync_interval_s", 300.0)),
            lookback_s=self.number(body, "lookback_s", where, 120.0, minimum=-1.0),
            page_size=page_size,
            webhook_secret_env=body.get("webhook_secret_env"),
            webhook_secret=webhook_secret,
        )

    def platform(self, body: Any, where: str, *, provider: str = "") -> PlatformAccount:
        fields = self.common(body, where, PLATFORM_DEFAULTS, {"unknown_subscriber"})
        default = SEED_UNKNOWN_SUBSCRIBER.get(
            (provider, fields["kind"]), PLATFORM_DEFAULTS[fields["kind"]]["unknown_subscriber"]
        )
        policy = body.get("unknown_subscriber", default)
        if policy not in UNKNOWN_SUBSCRIBER_POLICIES:
            raise self.fail(
                f"{where}.unknown_subscriber",
                f"must be one of {', '.join(UNKNOWN_SUBSCRIBER_POLICIES)}, got {policy!r}",
            )
        no_skip = PLATFORM_DEFAULTS[fields["kind"]]["no_skip_reason"]
        if no_skip and policy == "skip":
            raise self.fail(f"{where}.unknown_subscriber", no_skip)
        return PlatformAccount(**fields, unknown_subscriber=policy)
