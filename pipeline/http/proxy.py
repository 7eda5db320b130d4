"""The standard proxy variables, read as httpx reads them (``trust_env``), for our own transport.

httpx applies ``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY``/``NO_PROXY`` only when it builds its own
transport; a client given ``transport=`` (``KeepAliveTransport``) ignores them. So
``build_client`` mounts one ``KeepAliveTransport(proxy=...)`` per proxy pattern below, and
httpx's own ``mounts`` routing picks the transport for each URL, most specific pattern first,
exactly as it does for its env proxies.

The rules are httpx 0.28's ``httpx._utils.get_environment_proxies`` (itself
``urllib.request.getproxies_environment``): lower-case names win over upper-case; ``NO_PROXY=*``
disables every proxy; ``NO_PROXY`` entries are hosts, ``.domain`` / ``domain`` suffixes, IPv4 or
IPv6 addresses or URL patterns. Only ``http://`` proxies are supported (a CONNECT tunnel for
https targets); an ``https://`` or ``socks5://`` proxy is refused with ConfigError naming the variable.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from pipeline.errors import ConfigError

__all__ = ["environment_proxies"]


def _is_ip(host: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(host.split("/")[0]).version == version
    except ValueError:
        return False


def _variables(env: Mapping[str, str]) -> dict[str, tuple[str, str]]:
    """scheme ("http", "https", "all", "no") -> (variable name, value), lower-case names winning."""
    found: dict[str, tuple[str, str]] = {}
    for name, value in env.items():  # upper-case first, then lower-case overrides (as urllib)
        if value and name.endswith("_PROXY") and name.isupper():
            found[name[:-6].lower()] = (name, value)
    for name, value in env.items():
        if name.endswith("_proxy") and name.islower():
            if value:
                found[name[:-6]] = (name, value)
            else:
                found.pop(name[:-6], None)
    return found


def environment_proxies(env: Mapping[str, str]) -> dict[str, str | None]:
    """httpx mount pattern -> proxy URL (None: no proxy for that pattern)."""
    found = _variables(env)
    mounts: dict[str, str | None] = {}
    for scheme in ("http", "https", "all"):
        if scheme in found:
            name, value = found[scheme]
            url = value if "://" in value else f"http://{value}"
            if not url.startswith("http://"):
                raise ConfigError(f"only http:// proxies are supported, got {url.split('://')[0]}://", key=name)
            mounts[f"{scheme}://"] = url
    for host in (h.strip() for h in found.get("no", ("", ""))[1].split(",")):
        if host == "*":
            return {}
        if not host:
            continue
        if "://" in host:
            mounts[host] = None
        elif _is_ip(host, 4) or host.lower() == "localhost":
            mounts[f"all://{host}"] = None
        elif _is_ip(host, 6):
            mounts[f"all://[{host}]"] = None
        else:
            mounts[f"all://*{host}"] = None
    return mounts
