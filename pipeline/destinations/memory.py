"""The in-memory twin of a destination, as dramatiq ships ``StubBroker`` and httpx ``MockTransport``:
it records every request and answers from a script, so delivery logic is tested without HTTP.

    dest = MemoryDestination(RateLimited("429", status=429, retry_after_s=7.0))
    deliverer.deliver(batch)       # the first send is told 429, the rest are delivered
    dest.requests[0].delivery_ids  # what was asked, in order, failures included

``MemoryBulkDestination`` adds both bulk endpoints (``BulkEventDestination`` and
``BulkProfileDestination``) with their own script.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar, Literal

from pipeline.destinations.base import SendResult
from pipeline.types import Event, Item, ProfileUpdate

__all__ = ["MemoryBulkDestination", "MemoryDestination", "Request"]

#: What a scripted send does: answer with a ``SendResult`` or raise the exception.
Answer = SendResult | BaseException
#: What a scripted bulk call does: succeed (``None``) or raise the exception.
BulkAnswer = BaseException | None

DELIVERED = SendResult("delivered", status=202)


@dataclass(frozen=True)
class Request:
    """One call made to the twin, whatever came of it."""

    method: Literal["send", "send_events_bulk", "send_profiles_bulk"]
    items: tuple[Item, ...]
    delivery_ids: tuple[str, ...]  # empty for a profile bulk job (it carries none)
    error: BaseException | None = None  # what the call raised, if it did

    @property
    def accepted(self) -> bool:
        return self.error is None


class MemoryDestination:
    """A platform in memory: ``send`` answers with the next scripted ``SendResult`` or raises the
    next scripted exception, then with ``answer(item, delivery_id)`` (default: delivered, 202)."""

    kind: ClassVar[str] = "memory"

    def __init__(self, *script: Answer, answer: Callable[[Item, str], SendResult] | None = None) -> None:
        self.script: list[Answer] = list(script)
        self.answer = answer or (lambda item, delivery_id: DELIVERED)
        self.requests: list[Request] = []

    def then(self, *script: Answer) -> None:
        """Script more answers after those not used yet."""
        self.script.extend(script)

    def send(self, item: Item, *, delivery_id: str) -> SendResult:
        outcome = self.script.pop(0) if self.script else self.answer(item, delivery_id)
        error = outcome if isinstance(outcome, BaseException) else None
        self.requests.append(Request("send", (item,), (delivery_id,), error))
        if error is not None:
            raise error
        assert isinstance(outcome, SendResult)
        return outcome

    @property
    def sent(self) -> list[tuple[Item, str]]:
        """(item, delivery id) of every single send asked for, answered or not."""
        return [(r.items[0], r.delivery_ids[0]) for r in self.requests if r.method == "send"]

    @property
    def accepted(self) -> list[Item]:
        """Every item the platform took (single and bulk requests that did not raise)."""
        return [item for r in self.requests if r.accepted for item in r.items]


class MemoryBulkDestination(MemoryDestination):
    """A platform with bulk endpoints: each bulk call takes the next of ``bulk`` (``None``:
    accepted; an exception: raised), then is accepted."""

    def __init__(
        self, *script: Answer, bulk: Sequence[BulkAnswer] = (), answer: Callable[[Item, str], SendResult] | None = None
    ) -> None:
        super().__init__(*script, answer=answer)
        self.bulk_script: list[BulkAnswer] = list(bulk)

    def _bulk(
        self,
        method: Literal["send_events_bulk", "send_profiles_bulk"],
        items: tuple[Item, ...],
        delivery_ids: tuple[str, ...],
    ) -> None:
        error = self.bulk_script.pop(0) if self.bulk_script else None
        self.requests.append(Request(method, items, delivery_ids, error))
        if error is not None:
            raise error

    def send_events_bulk(self, items: Sequence[tuple[str, Event]]) -> None:
        self._bulk("send_events_bulk", tuple(e for _, e in items), tuple(i for i, _ in items))

    def send_profiles_bulk(self, updates: Sequence[ProfileUpdate]) -> str:
        self._bulk("send_profiles_bulk", tuple(updates), ())
        return f"job-{sum(r.method == 'send_profiles_bulk' for r in self.requests)}"

    def bulk_requests(self, method: Literal["send_events_bulk", "send_profiles_bulk"]) -> list[Request]:
        return [r for r in self.requests if r.method == method]
