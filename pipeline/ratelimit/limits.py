"""Rate limits as data: (kind, endpoint class) → the windows a request must fit in.

Defaults are the documented limits (research/destinations.md, providers.md). Each window is
enforced as a GCRA with a burst of one at ``HEADROOM`` of its rate, so that no fixed window
of the remote's (Postscript and Smile count per second) ever sees more than its limit.
A connection's ``rate_per_s`` replaces the per-second window of its kind.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["HEADROOM", "LIMITS", "RATE_CLASSES", "Window", "endpoint_class", "windows_for"]

#: Share of a documented rate we plan for: strictly below it, so timing jitter cannot push
#: a remote's fixed window over; ≥ 95 % so the limit is used.
HEADROOM = 0.97


@dataclass(frozen=True)
class Window:
    limit: int
    period_s: float

    @property
    def interval_us(self) -> int:
        """Spacing between two requests, with headroom."""
        return int(self.period_s * 1_000_000 / (self.limit * HEADROOM))


_S, _M = 1.0, 60.0
LIMITS: Mapping[str, Mapping[str, tuple[Window, ...]]] = {
    "postscript": {"default": (Window(15, _S),)},  # 15 rps per token; 429 without Retry-After
    "attentive": {"default": (Window(150, _S),), "identity": (Window(10, _S),), "bulk": (Window(100, _S),)},
    "klaviyo": {  # burst and steady windows per endpoint (XL events, L profiles, M bulk jobs)
        "events": (Window(350, _S), Window(3500, _M)),
        "profiles": (Window(75, _S), Window(700, _M)),
        "bulk": (Window(10, _S), Window(150, _M)),
        "events_bulk": (Window(10, _S), Window(150, _M)),  # bulk create events: its own quota
    },
    "smile": {"default": (Window(10, _S),)},
    "okendo": {"default": (Window(2, _S),)},
    "omneo": {"default": (Window(10, _S),)},
    "rediem": {"default": (Window(10, _S),)},
}

#: kind → (path pattern, endpoint class); first match wins, else "default".
RATE_CLASSES: Mapping[str, Sequence[tuple[re.Pattern[str], str]]] = {
    "klaviyo": ((re.compile(r"^/api/events"), "events"),
                (re.compile(r"^/api/event-bulk-create-jobs"), "events_bulk"),
                (re.compile(r"^/api/profile-bulk-import-jobs"), "bulk"), (re.compile(r"^/api/profile"), "profiles")),
    "attentive": ((re.compile(r"^/v1/identity-resolution"), "identity"), (re.compile(r"^/v1/subscriptions"), "identity"),
                  (re.compile(r"^/v2/bulk/"), "bulk")),
}


def endpoint_class(kind: str, path: str) -> str:
    for pattern, name in RATE_CLASSES.get(kind, ()):
        if pattern.search(path):
            return name
    return "default"


def windows_for(kind: str, endpoint: str, *, rate_per_s: float | None = None,
                scale: float = 1.0) -> tuple[Window, ...]:
    """The windows of (kind, endpoint class), each multiplied by ``scale`` (an account whose
    limits the platform raised); ``rate_per_s`` then replaces the one-second window."""
    table = LIMITS.get(kind, {})
    windows = table.get(endpoint) or table.get("default") or (Window(10, _S),)
    if scale != 1.0:
        windows = tuple(Window(max(1, round(w.limit * scale)), w.period_s) for w in windows)
    if rate_per_s is None:
        return windows
    replaced = tuple(Window(max(1, round(rate_per_s)), _S) if w.period_s == _S else w for w in windows)
    return replaced if any(w.period_s == _S for w in windows) else (Window(max(1, round(rate_per_s)), _S), *windows)
