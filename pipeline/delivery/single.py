"""Sending deliveries one request each, in order, until a send says the rest must wait.

A profile update sends only the properties that changed and are not older than what the
platform already has (last write wins by source time; ``full`` resends all).

Redis round trips per delivery: the limiter's reservation, and one call that acknowledges
the delivery, releases its claim and checks that the next one was not acknowledged elsewhere
meanwhile (renewing every claim ahead once a third of their time to live has passed). Claims
are taken ``CLAIM_AHEAD`` at a time (one round trip), so a copy of a delivery elsewhere still
waits while this batch may send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pipeline.delivery.books import Books, Held
from pipeline.delivery.result import INFLIGHT_TTL_S, BatchResult, identity
from pipeline.destinations.base import Destination
from pipeline.errors import PipelineError
from pipeline.observability.metrics import observe_latency
from pipeline.state.profiles import ProfileStates, plan
from pipeline.types import Delivery, ProfileUpdate

__all__ = ["CLAIM_AHEAD", "SingleSends"]

#: Deliveries claimed per round trip; each settle renews the rest of them (INFLIGHT_TTL_S).
CLAIM_AHEAD = 16
#: Sends in a row that came back to retry (timeouts, 5xx, 429) after which the rest of the batch
#: waits for the retry delay: a failing or slow platform then holds a worker thread for a few
#: sends, not for a timeout per delivery, and the other platforms keep their threads.
FAILING_STREAK = 3


class SingleSends:
    """One request per delivery, to ``destination``; outcomes written to ``books``."""

    def __init__(self, *, destination: Destination, books: Books, profiles: ProfileStates) -> None:
        self._destination = destination
        self._books = books
        self._profiles = profiles

    def send_each(self, deliveries: Sequence[Delivery], result: BatchResult, *, owner: str | None) -> list[Delivery]:
        """Send ``deliveries`` in order; once a send says the rest must wait, they are deferred.
        With ``owner``, they are claimed ``CLAIM_AHEAD`` at a time just before they are sent,
        and each claim is settled with its send; returns those another batch holds (to look at
        again later). Without, the caller holds their claims. After ``FAILING_STREAK`` sends
        in a row come back to retry, the rest wait too."""
        failing = 0

        def send(delivery: Delivery, held: Held | None = None) -> bool:
            nonlocal failing
            retries = len(result.retry)
            hold = self.send(delivery, result, held)
            failing = failing + 1 if len(result.retry) > retries else 0
            if failing >= FAILING_STREAK:
                result.defer_s = max(result.defer_s, result.retry_in_s)
                return True
            return hold

        if owner is None:
            for index, delivery in enumerate(deliveries):
                if send(delivery):
                    result.deferred.extend(deliveries[index + 1 :])
                    break
            return []
        contended: list[Delivery] = []
        for start in range(0, len(deliveries), CLAIM_AHEAD):
            chunk = deliveries[start : start + CLAIM_AHEAD]
            mine, busy, claims = self._books.claim(chunk, owner, result)
            contended += busy
            held = dict(zip((d.id for d in mine), claims, strict=True))
            renewed_at = self._books.clock.monotonic()
            try:
                for index, delivery in enumerate(chunk, start):
                    claim = held.pop(delivery.id, None)
                    if claim is None:
                        continue
                    try:
                        # the next one is checked (acknowledged elsewhere meanwhile?) before it is
                        # sent; all of them are renewed once a third of their claim has passed
                        if self._books.clock.monotonic() - renewed_at > INFLIGHT_TTL_S / 3:
                            ahead, renewed_at = tuple(held.items()), self._books.clock.monotonic()
                        else:
                            ahead = tuple(held.items())[:1]
                        settle = Held(owner, claim, ahead)
                        hold = send(delivery, settle)
                    except BaseException:  # a bug, or Redis gone: the claim goes back first
                        self._books.release([claim], owner)
                        raise
                    for gone in settle.done:  # acknowledged by another batch meanwhile: not sent again
                        del held[gone]
                        self._books.duplicate(next(d for d in chunk if d.id == gone), result)
                    if hold:  # the rest wait: what this chunk holds, and every later chunk
                        later = chunk[index - start + 1 :]
                        result.deferred += [d for d in later if d.id in held] + list(deliveries[start + CLAIM_AHEAD :])
                        return contended
            finally:
                if held:  # not sent: deferred, or a bug propagating
                    self._books.release(list(held.values()), owner)
        return contended

    def send(self, delivery: Delivery, result: BatchResult, held: Held | None = None) -> bool:
        """Send one delivery and write what came of it; True when the rest of the batch must wait.
        ``held``, its claim, is released whatever came of it (with the acknowledgement if any)."""
        books, item, remember = self._books, delivery.item, None
        if isinstance(item, ProfileUpdate):
            who = identity(item)
            profile_plan = plan(
                item.properties, item.as_of, self._profiles.get(books.merchant, books.platform, who), full=delivery.full
            )
            if not profile_plan.send:
                books.unchanged([delivery], result, held)
                return False
            item, remember = replace(item, properties=profile_plan.send), (who, profile_plan.entries)
        started = books.clock.monotonic()
        try:
            sent = self._destination.send(item, delivery_id=delivery.id)
        except PipelineError as exc:  # anything else is a bug and propagates (outcomes.py)
            hold = books.failed([delivery], exc, started=started, result=result)
            if held is not None:
                books.release([held.claim], held.owner)
            return hold
        observe_latency(books.platform, books.clock.monotonic() - started)
        books.sent(delivery, sent, result, held)
        if remember is not None and sent.outcome == "delivered":
            who, entries = remember
            books.persist(
                lambda: self._profiles.put(books.merchant, books.platform, who, entries, ttl_s=books.dedup_ttl_s)
            )
        return False
