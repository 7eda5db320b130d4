"""Errors, classified by what the caller should do.

::

    PipelineError
    ├── ConfigError            bad settings or connections file: fix it, nothing runs
    ├── RetriableError         try again later (429, 5xx, timeouts, connection errors)
    │   ├── RateLimited        the remote said "too many requests"
    │   └── Throttled          our own shared limiter says "not now": costs no attempt
    ├── FatalError             retrying cannot help (400, 404, 422): dead-letter the work
    │   ├── AuthError          the credential is refused (401, 403): pause the connection
    │   └── ScopeMissing       the key lacks one stream's scope (403 there): skip that stream
    └── InvalidRecord          one input record is malformed: quarantine it, keep the batch

Messages never carry secrets or personal data: they name the field, the status and
the endpoint, not the value.
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "FatalError",
    "InvalidRecord",
    "PipelineError",
    "RateLimited",
    "RetriableError",
    "ScopeMissing",
    "Throttled",
]


class PipelineError(Exception):
    """Root of every error this package raises on purpose."""


class ConfigError(PipelineError):
    """The configuration is unusable; the message names the file, the key and the problem."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        where = ": ".join(part for part in (source, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.key = key


class RetriableError(PipelineError):
    """Transient failure; the same request may succeed later.

    Args:
        retry_after_s: the delay the remote asked for, if it said one.
        status: the HTTP status, if there was a response.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after_s = retry_after_s


class RateLimited(RetriableError):
    """The remote answered 429."""


class Throttled(RetriableError):
    """Our shared rate limiter has no slot soon enough: defer the work; it is not an attempt."""


class FatalError(PipelineError):
    """Permanent failure of one request; retrying it cannot succeed."""

    def __init__(self, message: str, *, status: int | None = None, response_excerpt: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.response_excerpt = response_excerpt


class AuthError(FatalError):
    """The credential was refused (401/403): the whole connection needs attention."""


class InvalidRecord(PipelineError):
    """A provider record failed validation.

    Args:
        provider: provider kind, e.g. ``"smile"``.
        field: dotted path of the offending field.
    """

    def __init__(self, message: str, *, provider: str, field: str | None = None) -> None:
        super().__init__(f"{provider}: {field}: {message}" if field else f"{provider}: {message}")
        self.provider = provider
        self.field = field


class ScopeMissing(FatalError):
    """The key works but lacks the scope one stream needs (a 403 there): skip that stream,
    keep the connection running, and say which scope to add."""

    def __init__(self, message: str, *, stream: str, scope: str, status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.stream = stream
        self.scope = scope
