"""Rate limits as data: (kind, endpoint class) → the windows a request must fit in.

Defaults are the documented limits (research/destinations.md, providers.md), declared in
each integration's spec (``PlatformSpec.limits``, ``ProviderSpec.limits``). Each window is
enforced as a GCRA at ``HEADROOM`` of its rate, so that no fixed window of the remote's
(Postscript and Smile count per second) ever sees more than its limit; with a burst of one
unless the spec declares more (``Window.burst``: then a log of the window's last slots keeps
every period at or under its limit, however the burst is spent). A connection's
``rate_per_s`` (or its ``scale``) replaces the per-second window's limit and keeps its burst.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from pipeline.destinations.registry import PLATFORM_SPECS
from pipeline.providers.registry import PROVIDER_SPECS
from pipeline.ratelimit.window import HEADROOM, SECOND_S, Window

__all__ = ["HEADROOM", "LIMITS", "RATE_CLASSES", "Window", "endpoint_class", "windows_for"]

_S = SECOND_S
#: (kind, endpoint class) → windows, read from each platform's and provider's spec
LIMITS: Mapping[str, Mapping[str, tuple[Window, ...]]] = {
    **{s.kind: s.limits for s in PLATFORM_SPECS},
    **{s.kind: s.limits for s in PROVIDER_SPECS},
}

#: kind → (path pattern, endpoint class); first match wins, else "default".
RATE_CLASSES: Mapping[str, Sequence[tuple[re.Pattern[str], str]]] = {
    s.kind: tuple((re.compile(pattern), name) for pattern, name in s.rate_classes)
    for s in PLATFORM_SPECS
    if s.rate_classes
}


def endpoint_class(kind: str, path: str) -> str:
    for pattern, name in RATE_CLASSES.get(kind, ()):
        if pattern.search(path):
            return name
    return "default"


def windows_for(kind: str, endpoint: str, *, rate_per_s: float | None = None, scale: float = 1.0) -> tuple[Window, ...]:
    """The windows of (kind, endpoint class), each multiplied by ``scale`` (an account whose
    limits the platform raised); ``rate_per_s`` then replaces the one-second window."""
    table = LIMITS.get(kind, {})
    windows = table.get(endpoint) or table.get("default") or (Window(10, _S),)
    if scale != 1.0:
        windows = tuple(_with_limit(w, round(w.limit * scale)) for w in windows)
    if rate_per_s is None:
        return windows
    replaced = tuple(_with_limit(w, round(rate_per_s)) if w.period_s == _S else w for w in windows)
    return replaced if any(w.period_s == _S for w in windows) else (Window(max(1, round(rate_per_s)), _S), *windows)


def _with_limit(window: Window, limit: int) -> Window:
    """``window`` with another limit; its burst kept (at most the new limit)."""
    limit = max(1, limit)
    return Window(limit, window.period_s, burst=min(window.burst, limit))
