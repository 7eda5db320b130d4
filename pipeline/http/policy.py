"""What an HTTP answer means for the caller: the status-code policy table and its reader."""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from http import HTTPStatus

import httpx

from pipeline.errors import AuthError, FatalError, RateLimited, RetriableError
from pipeline.redact import mask

__all__ = ["Action", "STATUS_POLICY", "action_for", "raise_for_response", "retry_after_s", "raise_for_transport"]


class Action(Enum):
    """What the caller does next: with an answer (``STATUS_POLICY``) or with an error
    (``pipeline.delivery.outcomes.OUTCOMES``)."""

    OK = "ok"
    RETRY = "retry"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    FATAL = "fatal"
    DEFER = "defer"  # our own limiter said "not now": wait, no attempt made (no status maps here)


#: Status → action. Statuses not listed fall back by class: 2xx ok, 5xx retry, other 4xx fatal.
STATUS_POLICY: Mapping[int, Action] = {
    HTTPStatus.REQUEST_TIMEOUT: Action.RETRY,
    HTTPStatus.CONFLICT: Action.FATAL,
    HTTPStatus.TOO_EARLY: Action.RETRY,
    HTTPStatus.TOO_MANY_REQUESTS: Action.RATE_LIMITED,
    HTTPStatus.UNAUTHORIZED: Action.AUTH,
    HTTPStatus.FORBIDDEN: Action.AUTH,
    HTTPStatus.NOT_IMPLEMENTED: Action.FATAL,
}


def action_for(status: int) -> Action:
    """The policy for one status code."""
    if status in STATUS_POLICY:
        return STATUS_POLICY[status]
    if 200 <= status < 300:
        return Action.OK
    if status >= 500:
        return Action.RETRY
    return Action.FATAL


def retry_after_s(response: httpx.Response, now: datetime | None = None) -> float | None:
    """The delay asked for by ``Retry-After`` (seconds or HTTP date), if any."""
    return retry_after_header(response.headers, now)


def retry_after_header(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """``retry_after_s`` of a header mapping (``Retry-After`` looked up as ``retry-after``)."""
    raw = headers.get("retry-after")
    if not raw:
        return None
    raw = raw.strip()
    if raw.isdigit():
        return float(raw)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def _excerpt(response: httpx.Response, limit: int = 300) -> str:
    """The start of the body, emails and phone numbers masked (platforms echo them in errors)."""
    try:
        text = response.text
    except Exception:  # noqa: BLE001 - undecodable body
        return "<undecodable body>"
    return str(mask(text[:limit]))


def raise_for_response(response: httpx.Response, *, what: str) -> httpx.Response:
    """Return ``response`` if the policy says OK; otherwise raise the classified error.

    ``what`` names the operation (e.g. ``"postscript POST /api/v2/events"``); it goes into
    the message, which never contains the request body or credentials.
    """
    action = action_for(response.status_code)
    status = response.status_code
    if action is Action.OK:
        return response
    message = f"{what} answered {status}"
    if action is Action.RATE_LIMITED:
        raise RateLimited(message, status=status, retry_after_s=retry_after_s(response))
    if action is Action.RETRY:
        raise RetriableError(message, status=status, retry_after_s=retry_after_s(response))
    if action is Action.AUTH:
        raise AuthError(message + " (credential refused)", status=status, response_excerpt=_excerpt(response))
    raise FatalError(message, status=status, response_excerpt=_excerpt(response))


def raise_for_transport(exc: httpx.TransportError, *, what: str) -> RetriableError:
    """Timeouts and connection errors are retriable; returns the error to raise."""
    return RetriableError(f"{what} failed: {type(exc).__name__}")
