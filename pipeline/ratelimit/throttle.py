"""The shared limiter as httpx event hooks: wait before each request, learn from each 429."""

from __future__ import annotations

from collections.abc import Sequence

import httpx

from pipeline.clock import Clock
from pipeline.http.policy import retry_after_s
from pipeline.observability.metrics import observe_limiter_wait, record_response
from pipeline.ratelimit.limiter import RateLimiter, wait
from pipeline.ratelimit.limits import Window, endpoint_class, windows_for

__all__ = ["DEFAULT_HOLD_S", "Throttle"]

#: Paths whose limiter plan is kept (paths with ids in them would grow it without end).
PLAN_CACHE = 256
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
        self._plans: dict[str, tuple[str, str, Sequence[Window]]] = {}

    def _scope_of(self, path: str) -> tuple[str, str]:
        endpoint = endpoint_class(self._kind, path)
        return f"{self._scope}:{endpoint}", endpoint

    def _plan(self, path: str) -> tuple[str, str, Sequence[Window]]:
        """(scope, endpoint class, windows) of a path, worked out once per path."""
        plan = self._plans.get(path)
        if plan is None:
            scope, endpoint = self._scope_of(path)
            windows = windows_for(self._kind, endpoint, rate_per_s=self._rate, scale=self._scale)
            plan = (scope, endpoint, windows)
            if len(self._plans) < PLAN_CACHE:
                self._plans[path] = plan
        return plan

    def before(self, request: httpx.Request) -> None:
        """httpx's request hook."""
        self.pace(request.method, request.url.path)

    def after(self, response: httpx.Response) -> None:
        """httpx's response hook."""
        self.learn(response.request.url.path, response)

    def pace(self, method: str, path: str) -> None:
        """Wait for this request's slot (raises ``Throttled`` beyond ``max_wait_s``)."""
        scope, _, windows = self._plan(path)
        waited = wait(self._limiter, self._clock, scope, windows, max_wait_s=self.max_wait_s)
        if waited:
            observe_limiter_wait(self._kind, waited)

    def learn(self, path: str, response: httpx.Response) -> None:
        """Count the answer; a 429 slows this endpoint's scope down and holds it."""
        record_response(self._kind, response.status_code)
        if response.status_code != 429:
            return
        scope, _ = self._scope_of(path)
        hold = retry_after_s(response)
        if hold is None and (reset := response.headers.get("ratelimit-reset", "")).isdigit():
            hold = float(reset)
        self._limiter.penalize(scope, hold if hold is not None else DEFAULT_HOLD_S)
