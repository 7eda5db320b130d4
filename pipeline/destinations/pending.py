"""Sends that overlap: a destination that can put a request on the wire and read its answer
later (``PipelinedDestination.begin``) lets one delivery thread keep several requests in flight
(pipeline/delivery/single.py). Any other destination is sent in full at ``begin`` (``eager``).

``begin`` never raises a ``PipelineError``: an error before or after the request is raised by
``Pending.result()``, as ``Destination.send`` would raise it; anything else is a bug and
propagates at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import httpx

from pipeline.destinations.base import Destination, SendResult
from pipeline.errors import FatalError, PipelineError
from pipeline.http.lean import answer
from pipeline.http.policy import Action, action_for, raise_for_response, raise_for_transport
from pipeline.types import Item

if TYPE_CHECKING:
    from pipeline.http.lean import Exchange

__all__ = ["Awaiting", "Done", "Pending", "PipelinedDestination", "eager", "starter"]


class Pending(Protocol):
    def result(self) -> SendResult | Pending:
        """What became of the send (raises as ``Destination.send`` does), or the next step of a
        send that takes several requests (e.g. a lookup, then the update), now in flight."""
        ...


@runtime_checkable
class PipelinedDestination(Protocol):
    def begin(self, item: Item, *, delivery_id: str) -> Pending:
        """Start sending ``item``; its answer is read by ``result()``."""
        ...


class Done:
    """A send that finished when it began (or failed before its request)."""

    __slots__ = ("_error", "_value")

    def __init__(self, value: SendResult | None = None, error: PipelineError | None = None) -> None:
        self._value, self._error = value, error

    def result(self) -> SendResult | Pending:
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


Then = Callable[[int, dict[str, str], bytes], "SendResult | Pending"]


class Awaiting:
    """A request on the wire: its answer is classified by the error policy when read (a
    ``Response`` is built only for an answer that is not a success). A success is "delivered",
    or what ``then`` makes of it; a refusal (``FatalError``) goes through ``refused`` first,
    which may raise another error instead."""

    __slots__ = ("_exchange", "_refused", "_then", "_what")

    def __init__(
        self,
        exchange: Exchange,
        what: str,
        *,
        then: Then | None = None,
        refused: Callable[[FatalError], None] | None = None,
    ) -> None:
        self._exchange, self._what, self._then, self._refused = exchange, what, then, refused

    def result(self) -> SendResult | Pending:
        try:
            status, headers, body = self._exchange.read()
        except httpx.TransportError as exc:
            raise raise_for_transport(exc, what=self._what) from None
        if action_for(status) is not Action.OK:
            try:
                raise_for_response(answer(status, headers, body), what=self._what)
            except FatalError as exc:
                if self._refused is not None:
                    self._refused(exc)
                raise
        return SendResult("delivered", status=status) if self._then is None else self._then(status, headers, body)


def eager(send: Callable[[], SendResult | Pending]) -> Pending:
    """Run ``send`` now; its outcome or ``PipelineError`` waits in the returned ``Pending``."""
    try:
        out = send()
    except PipelineError as exc:
        return Done(error=exc)
    return Done(out) if isinstance(out, SendResult) else out


def starter(destination: Destination) -> Callable[[Item, str], Pending]:
    """How to begin a send to ``destination``: its ``begin`` where it has one, else its ``send``
    in full (worked out once: a runtime protocol check costs more than a request's encoding)."""
    if isinstance(destination, PipelinedDestination):
        pipelined = destination
        return lambda item, delivery_id: eager(lambda: pipelined.begin(item, delivery_id=delivery_id))
    return lambda item, delivery_id: eager(lambda: destination.send(item, delivery_id=delivery_id))
