"""The provider port and the shared HTTP fetch with retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Protocol

import httpx

from pipeline.backoff import backoff_s
from pipeline.clock import Clock
from pipeline.errors import InvalidRecord, RetriableError
from pipeline.http.client import HttpClient
from pipeline.http.policy import raise_for_response, raise_for_transport
from pipeline.types import Record

__all__ = ["Page", "Provider", "Rejected", "get_json"]


@dataclass(frozen=True)
class Rejected:
    """A raw record that failed validation, kept whole for quarantine."""

    stream: str
    payload: Mapping[str, Any]
    error: InvalidRecord


@dataclass(frozen=True)
class Page:
    """One provider page: valid records, rejected ones, and the cursor of the next page.

    ``after_handover`` (if set) is called once the page's deliveries are enqueued, to commit
    what must not be committed earlier (e.g. the snapshots its change events were diffed with).
    """

    records: list[Record]
    rejected: list[Rejected] = field(default_factory=list)
    next_cursor: str | None = None
    after_handover: Callable[[], None] | None = None


class Provider(Protocol):
    """A loyalty program's API for one merchant.

    ``streams`` lists what ``pages`` can read, in the order a sync reads them (identities
    first, so activity can be joined to them).
    """

    kind: ClassVar[str]
    streams: ClassVar[tuple[str, ...]]

    def pages(self, stream: str, *, since: datetime | None, cursor: str | None) -> Iterator[Page]:
        """Pages of ``stream`` updated at or after ``since``, starting at ``cursor``.

        Raises:
            RetriableError: the API stayed unavailable through the retries.
            AuthError: the credential was refused.
            FatalError: the API rejected the request.
        """
        ...


def get_json(
    client: HttpClient,
    path: str,
    *,
    params: Mapping[str, Any],
    what: str,
    clock: Clock,
    attempts: int = 5,
    base_s: float = 0.5,
    cap_s: float = 20.0,
) -> Any:
    """GET and decode JSON, retrying 429/5xx/transport errors with backoff (honouring
    ``Retry-After``); other errors propagate at once."""
    for attempt in range(1, attempts + 1):
        try:
            try:
                response = client.get(path, params=params)
            except httpx.TransportError as exc:
                raise raise_for_transport(exc, what=what) from None
            raise_for_response(response, what=what)
            try:
                return response.json()
            except ValueError:
                raise RetriableError(f"{what} returned a body that is not JSON") from None
        except RetriableError as exc:
            if attempt == attempts:
                raise
            clock.sleep(max(backoff_s(attempt, base_s=base_s, cap_s=cap_s), exc.retry_after_s or 0.0))
    raise AssertionError("unreachable")
