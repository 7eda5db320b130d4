"""What a failed send means for the deliveries it carried: one table, error class → action,
read by ``outcome_for``, for single and bulk sends alike.

Only errors raised on purpose (``PipelineError``) are classified. Anything else (``ValueError``,
``KeyError``, ``TypeError``) is a bug, in our code or in an adapter: it propagates out of
``Deliverer.deliver``, whose claims are released on the way, so the batch stays in the due set
and is sent again once the bug is fixed. A bug never becomes a dead letter.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.errors import AuthError, FatalError, PipelineError, RateLimited, RetriableError, Throttled
from pipeline.http.policy import Action

__all__ = ["OUTCOMES", "outcome_for"]

#: Error class → action; the most specific class of an error wins (its MRO is walked).
OUTCOMES: Mapping[type[PipelineError], Action] = {
    Throttled: Action.DEFER,  # our shared limiter has no slot soon enough: costs no attempt
    RateLimited: Action.RATE_LIMITED,  # the platform's 429: retried, costs no attempt
    RetriableError: Action.RETRY,  # 5xx, timeouts, connection errors: retried with backoff
    AuthError: Action.AUTH,  # 401/403: the connection is paused
    FatalError: Action.FATAL,  # 400/404/422, or an item the platform cannot take: dead-lettered
    PipelineError: Action.FATAL,  # any other error raised on purpose about this item
}


def outcome_for(exc: PipelineError) -> Action:
    """The action for ``exc``: the row of its most specific class in ``OUTCOMES``."""
    for cls in type(exc).__mro__:
        if cls in OUTCOMES:
            return OUTCOMES[cls]
    raise TypeError(f"{type(exc).__name__} is not a PipelineError")  # unreachable for a PipelineError
