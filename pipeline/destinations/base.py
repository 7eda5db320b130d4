"""The destination port: one messaging platform account of one merchant.

``Destination`` sends one item. A platform with bulk endpoints also satisfies
``BulkEventDestination`` and/or ``BulkProfileDestination`` (Klaviyo both, Attentive profiles
only); the Deliverer checks that with ``isinstance`` (runtime-checkable protocols). A platform
kind is registered as a ``DestinationClass`` (pipeline/destinations/registry.py). The in-memory
twin is ``pipeline.destinations.memory.MemoryDestination``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from pipeline.errors import RetriableError
from pipeline.types import Event, Item, ProfileUpdate

if TYPE_CHECKING:
    import httpx

    from pipeline.accounts import PlatformAccount
    from pipeline.http.client import HttpClient
    from pipeline.state.subscribers import SubscriberCache

__all__ = ["BulkEventDestination", "BulkProfileDestination", "Destination", "DestinationClass", "SendResult"]


@dataclass(frozen=True)
class SendResult:
    """What became of one item.

    ``skipped`` is a deliberate, recorded non-delivery (e.g. the integration policy says
    unknown customers are not created); ``reason`` says why and never holds personal data.
    """

    outcome: Literal["delivered", "skipped"]
    reason: str = ""
    status: int | None = None


class Destination(Protocol):
    """Sends events and profile updates in the platform's own wire format.

    ``send`` is idempotent in effect: it passes the item's delivery id as the platform's
    idempotency field where the platform has one.

    Raises:
        Throttled: our shared rate limiter has no slot soon enough; nothing was sent.
        RetriableError: try again later (429, 5xx, timeout); ``retry_after_s`` if known.
        AuthError: the credential was refused; the connection needs attention.
        FatalError: the platform rejected this item, or cannot take it (the adapter turns its
            encoder's ``ValueError`` into this); retrying cannot help.
        Any other exception is a bug and is not caught by the Deliverer.
    """

    kind: ClassVar[str]

    def send(self, item: Item, *, delivery_id: str) -> SendResult: ...


@runtime_checkable
class BulkEventDestination(Protocol):
    """A destination that takes many events in few requests (Klaviyo's bulk create events).

    All or nothing, for retries: raises as ``Destination.send`` does, for the whole call. A
    ``FatalError`` means the platform refused a request (one bad event refuses it all): the
    Deliverer then sends those events one by one, so each gets its own outcome.
    """

    def send_events_bulk(self, items: Sequence[tuple[str, Event]]) -> None:
        """Send (delivery id, event) pairs; each delivery id is the event's idempotency key."""
        ...


@runtime_checkable
class BulkProfileDestination(Protocol):
    """A destination that takes many profile updates as one asynchronous job (Klaviyo's bulk
    profile import, Attentive's bulk user attributes). Raises as ``Destination.send`` does."""

    def send_profiles_bulk(self, updates: Sequence[ProfileUpdate]) -> str:
        """Start the job(s); returns the (last) job id."""
        ...


class DestinationClass(Protocol):
    """A platform kind as registered: its name, its credential headers, and how to build one
    merchant's destination from its account, an HTTP client and the subscriber cache."""

    kind: str

    def auth_headers(self, account: PlatformAccount) -> dict[str, str]: ...

    def __call__(
        self, *, merchant: str, account: PlatformAccount, client: HttpClient, subscribers: SubscriberCache
    ) -> Destination: ...


def answer_json(response: httpx.Response, what: str) -> dict[str, Any]:
    """The JSON object a platform answered with. A 2xx whose body is not a JSON object breaks the
    platform's documented contract, not ours: it is retriable (named by ``what`` and the status),
    never a bug that fails the batch and never a silent success."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RetriableError(f"{what}: {response.status_code} answer is not a JSON object")
    return body
