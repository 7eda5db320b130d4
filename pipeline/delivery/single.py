"""Sending deliveries one request each, in order, with up to ``window`` requests in flight,
until a send says the rest must wait.

One thread keeps the window full: it puts the next request on the wire (after the shared
limiter's slot) before it reads the oldest answer (pipeline/destinations/pending.py), so a
batch sends at ``window`` times the rate one request at a time would reach against a slow
platform, without a thread per request. Two deliveries about the same customer are never in
flight together: the later one waits for the earlier one's answer (a profile update sends only
the properties that changed and are not older than what the platform already has: last write
wins by source time; ``full`` resends all).

Redis round trips per delivery: the limiter's reservation, and one call that acknowledges
the delivery, releases its claim and checks that the next one was not acknowledged elsewhere
meanwhile (renewing every claim ahead once a third of their time to live has passed). Claims
are taken ``CLAIM_AHEAD`` at a time (one round trip), so a copy of a delivery elsewhere still
waits while this batch may send it.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.delivery.books import Books, Held
from pipeline.delivery.result import INFLIGHT_TTL_S, BatchResult, identity
from pipeline.destinations.base import Destination, SendResult
from pipeline.destinations.pending import Pending, starter
from pipeline.errors import PipelineError
from pipeline.observability.metrics import observe_latency
from pipeline.state.profiles import Entry, ProfileStates, plan
from pipeline.types import Delivery, ProfileUpdate

__all__ = ["CLAIM_AHEAD", "FAILING_STREAK", "SingleSends"]

#: Deliveries claimed per round trip; settles renew the rest of them (INFLIGHT_TTL_S).
CLAIM_AHEAD = 16
#: Sends in a row that came back to retry (timeouts, 5xx, 429) after which the rest of the batch
#: waits for the retry delay: a failing or slow platform then holds a worker thread for a few
#: sends, not for a timeout per delivery, and the other platforms keep their threads.
FAILING_STREAK = 3


@dataclass
class _Flight:
    delivery: Delivery
    pending: Pending
    started: float
    who: str
    claim: str | None
    remember: tuple[str, dict[str, Entry]] | None


class SingleSends:
    """One request per delivery, to ``destination``, up to ``window`` in flight; outcomes
    written to ``books``."""

    def __init__(self, *, destination: Destination, books: Books, profiles: ProfileStates, window: int = 1) -> None:
        self._begin = starter(destination)
        self._books = books
        self._profiles = profiles
        self._window = max(1, window)

    def send_each(self, deliveries: Sequence[Delivery], result: BatchResult, *, owner: str | None) -> list[Delivery]:
        """Send ``deliveries`` in order; once a send says the rest must wait, those not yet sent
        are deferred (those in flight are finished). With ``owner``, they are claimed
        ``CLAIM_AHEAD`` at a time just before they are sent, and each claim is settled with its
        answer; returns those another batch holds (to look at again later). Without, the
        caller holds their claims. After ``FAILING_STREAK`` answers in a row come back to
        retry, the rest wait too."""
        books = self._books
        contended: list[Delivery] = []
        claims: dict[str, str] = {}  # delivery id → claim key, claimed and not yet sent
        skip: set[str] = set()  # claimed elsewhere or acknowledged: not sent by this batch
        flights: deque[_Flight] = deque()
        failing, renewed_at, stop = 0, books.clock.monotonic(), False

        def land() -> None:
            """Read the oldest answer and settle it."""
            nonlocal failing, renewed_at, stop
            flight = flights.popleft()
            try:
                outcome: SendResult | PipelineError = _step(flight)
            except PipelineError as exc:
                outcome = exc
            if outcome is _NEXT:  # its next request is in flight now: it waits its turn again
                flights.append(flight)
                return
            held = None
            if flight.claim is not None and owner is not None:
                # the next claim is checked (acknowledged elsewhere meanwhile?) before it is sent;
                # all of them are renewed once a third of their time to live has passed
                if books.clock.monotonic() - renewed_at > INFLIGHT_TTL_S / 3:
                    ahead, renewed_at = tuple(claims.items()), books.clock.monotonic()
                else:
                    ahead = tuple(claims.items())[:1]
                held = Held(owner, flight.claim, ahead)
            retries = len(result.retry)
            try:
                hold = self._land(flight, outcome, result, held)
            except BaseException:  # a bug, or Redis gone: its claim goes back first
                if flight.claim is not None and owner is not None:
                    books.release([flight.claim], owner)
                raise
            for gone in held.done if held else ():  # acknowledged by another batch meanwhile
                claims.pop(gone, None)
                skip.add(gone)
                books.duplicate(next(d for d in deliveries if d.id == gone), result)
            failing = failing + 1 if len(result.retry) > retries else 0
            if failing >= FAILING_STREAK:
                result.defer_s = max(result.defer_s, result.retry_in_s)
                hold = True
            stop = stop or hold

        try:
            for index, delivery in enumerate(deliveries):
                if owner is not None and delivery.id not in claims and delivery.id not in skip:
                    chunk = [d for d in deliveries[index : index + CLAIM_AHEAD] if d.id not in skip]
                    mine, busy, keys = books.claim(chunk, owner, result)
                    contended += busy
                    claims.update(zip((d.id for d in mine), keys, strict=True))
                    skip.update(d.id for d in chunk if d.id not in claims)
                if delivery.id in skip:
                    continue
                who = identity(delivery.item)
                while flights and not stop and (len(flights) >= self._window or any(f.who == who for f in flights)):
                    land()
                if stop:
                    result.deferred += [d for d in deliveries[index:] if d.id not in skip]
                    break
                if delivery.id in skip:  # acknowledged elsewhere, as an answer just told
                    continue
                claim = claims.pop(delivery.id, None)
                try:
                    flight = self._start(delivery, result, claim, who, owner)
                except BaseException:  # a bug, or Redis gone: its claim goes back first
                    if claim is not None and owner is not None:
                        books.release([claim], owner)
                    raise
                if flight is not None:
                    flights.append(flight)
            while flights:
                land()
        except BaseException:
            # a bug, or Redis gone (the limiter's call): what is in flight was sent, so every
            # answer is read and settled first (settling waits for Redis), or a retry of this
            # batch would send it again; then the first error goes on
            while flights:
                with contextlib.suppress(Exception):
                    land()  # a flight that fails here has its claim given back by land
            raise
        finally:
            if claims and owner is not None:  # claimed, not sent: deferred
                books.release(list(claims.values()), owner)
        return contended

    def send(self, delivery: Delivery, result: BatchResult) -> bool:
        """Send one delivery (its claim held by the caller) and write what came of it; True
        when the rest of the batch must wait."""
        flight = self._start(delivery, result, None, identity(delivery.item), None)
        if flight is None:
            return False
        while True:
            try:
                outcome: SendResult | PipelineError = _step(flight)
            except PipelineError as exc:
                outcome = exc
            if outcome is not _NEXT:
                return self._land(flight, outcome, result, None)

    def _start(
        self, delivery: Delivery, result: BatchResult, claim: str | None, who: str, owner: str | None
    ) -> _Flight | None:
        """Put ``delivery`` on the wire; None if it needs no request (nothing changed)."""
        books, item, remember = self._books, delivery.item, None
        if isinstance(item, ProfileUpdate):
            stored = self._profiles.get(books.merchant, books.platform, who)
            profile_plan = plan(item.properties, item.as_of, stored, full=delivery.full)
            if not profile_plan.send:
                held = Held(owner, claim) if claim is not None and owner is not None else None
                books.unchanged([delivery], result, held)
                return None
            item, remember = replace(item, properties=profile_plan.send), (who, profile_plan.entries)
        started = books.clock.monotonic()
        return _Flight(delivery, self._begin(item, delivery.id), started, who, claim, remember)

    def _land(
        self, flight: _Flight, outcome: SendResult | PipelineError, result: BatchResult, held: Held | None
    ) -> bool:
        """Write what came of ``flight`` (``held``: its claim, settled)."""
        books, delivery = self._books, flight.delivery
        if isinstance(outcome, PipelineError):  # anything else is a bug and propagates (outcomes.py)
            hold = books.failed([delivery], outcome, started=flight.started, result=result)
            if held is not None:
                books.release([held.claim], held.owner)
            return hold
        sent = outcome
        observe_latency(books.platform, books.clock.monotonic() - flight.started)
        books.sent(delivery, sent, result, held)
        if flight.remember is not None and sent.outcome == "delivered":
            who, entries = flight.remember
            books.persist(
                lambda: self._profiles.put(books.merchant, books.platform, who, entries, ttl_s=books.dedup_ttl_s)
            )
        return False


#: What ``_step`` returns for a send whose next request is in flight now.
_NEXT = SendResult("delivered", reason="next request in flight")


def _step(flight: _Flight) -> SendResult:
    """Read ``flight``'s answer: its outcome, or ``_NEXT`` (its pending moved on to the next
    request of a send that takes several). Raises what the send raises."""
    out = flight.pending.result()
    if isinstance(out, SendResult):
        return out
    flight.pending = out
    return _NEXT
