"""Retry delays."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["backoff_s"]


def backoff_s(attempt: int, *, base_s: float, cap_s: float, rand: Callable[[], float] = random.random) -> float:
    """Exponential backoff with jitter for the ``attempt``-th failure (1-based): a delay
    drawn from [½, 1] × min(cap, base × 2^(attempt-1))."""
    ceiling = min(cap_s, base_s * 2.0 ** (attempt - 1))
    return ceiling * (0.5 + 0.5 * rand())
