"""The destination port: one messaging platform account of one merchant."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal, Protocol

from pipeline.types import Item

__all__ = ["Destination", "SendResult"]


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
        RetriableError: try again later (429, 5xx, timeout); ``retry_after_s`` if known.
        AuthError: the credential was refused; the connection needs attention.
        FatalError: the platform rejected this item; retrying cannot help.
    """

    kind: ClassVar[str]

    def send(self, item: Item, *, delivery_id: str) -> SendResult: ...
