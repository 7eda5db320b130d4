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
    """At most ``limit`` requests per ``period_s``, paced at ``HEADROOM`` of that rate.

    ``burst`` (default 1: every request one interval after the previous) lets up to that many
    requests go back to back after a pause. It never lets a period hold more than ``limit``:
    a window with a burst also keeps the times of its last ``limit`` slots and gives a slot only
    once the ``limit``-th previous one is ``log_period_us`` (the period with headroom) old. So a
    burst is for a remote that counts requests per period (N per second, however spaced); it is
    no license to exceed N in any period.
    """

    limit: int
    period_s: float
    burst: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.burst <= self.limit:
            raise ValueError(f"burst must be between 1 and the limit ({self.limit}), got {self.burst}")

    @property
    def interval_us(self) -> int:
        """Spacing between two requests, with headroom."""
        return int(self.period_s * 1_000_000 / (self.limit * HEADROOM))

    @property
    def tolerance_us(self) -> int:
        """How far ahead of the steady pace a request may go (``burst - 1`` intervals)."""
        return (self.burst - 1) * self.interval_us

    @property
    def log_period_us(self) -> int:
        """With a burst: the span any ``limit + 1`` consecutive slots cover at least (the period
        with headroom, as ``limit`` intervals). 0 without a burst (the spacing alone holds it)."""
        return self.limit * self.interval_us if self.burst > 1 else 0
