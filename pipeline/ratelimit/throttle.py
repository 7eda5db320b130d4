"""The shared limiter as httpx event hooks: wait before each request, learn from each 429."""

from __future__ import annotations

import httpx

from pipeline.clock import Clock
from pipeline.http.policy import retry_after_s
from pipeline.observability.metrics import observe_limiter_wait, record_response
from pipeline.ratelimit.limiter import RateLimiter, wait
from pipeline.ratelimit.limits import endpoint_class, windows_for

__all__ = ["DEFAULT_HOLD_S", "Throttle"]

#: Hold after a 429 that says nothing (Postscript, Smile): Smile documents "429 until 1 s has passed".
DEFAULT_HOLD_S = 1.0


class Throttle:
    """One account's throttle (the scope is per credential: limits are per token).

    Args:
        max_wait_s: longest pacing wait allowed inside a request; beyond it ``Throttled`` is
            raised so the caller can defer the work instead of holding a worker (None: wait).
    """

    def __init__(
        self,
        *,
        limiter: RateLimiter,
        clock: Clock,
        kind: str,
        scope: str,
        rate_per_s: float | None,
        max_wait_s: float | None = None,
        rate_scale: float = 1.0,
    ) -> None:
        self._limiter = limiter
        self._clock = clock
        self._kind = kind
        self._scope = scope
        self._rate = rate_per_s
        self._scale = rate_scale
        self.max_wait_s = max_wait_s

    def _scope_of(self, request: httpx.Request) -> tuple[str, str]:
        endpoint = endpoint_class(self._kind, request.url.path)
        return f"{self._scope}:{endpoint}", endpoint

    def before(self, request: httpx.Request) -> None:
        scope, endpoint = self._scope_of(request)
        waited = wait(
            self._limiter,
            self._clock,
            scope,
            windows_for(self._kind, endpoint, rate_per_s=self._rate, scale=self._scale),
            max_wait_s=self.max_wait_s,
        )
        if waited:
            observe_limiter_wait(self._kind, waited)

    def after(self, response: httpx.Response) -> None:
        record_response(self._kind, response.status_code)
        if response.status_code != 429:
            return
        scope, _ = self._scope_of(response.request)
        hold = retry_after_s(response)
        if hold is None and (reset := response.headers.get("ratelimit-reset", "")).isdigit():
            hold = float(reset)
        self._limiter.penalize(scope, hold if hold is not None else DEFAULT_HOLD_S)
