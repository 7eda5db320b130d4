"""A rate-limit window, shared by the integration specs and the limiter (pipeline/ratelimit/limits.py)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["HEADROOM", "MINUTE_S", "SECOND_S", "Window"]

#: Share of a documented rate we plan for: strictly below it, so timing jitter cannot push
#: a remote's fixed window over; ≥ 95 % so the limit is used.
HEADROOM = 0.97
SECOND_S, MINUTE_S = 1.0, 60.0


@dataclass(frozen=True)
class Window:
    limit: int
    period_s: float

    @property
    def interval_us(self) -> int:
        """Spacing between two requests, with headroom."""
        return int(self.period_s * 1_000_000 / (self.limit * HEADROOM))
