"""Sending deliveries one request each, in order, until a send says the rest must wait.

A profile update sends only the properties that changed and are not older than what the
platform already has (last write wins by source time; ``full`` resends all).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from pipeline.delivery.books import Books
from pipeline.delivery.result import BatchResult, identity
from pipeline.destinations.base import Destination
from pipeline.errors import PipelineError
from pipeline.observability.metrics import observe_latency
from pipeline.state.profiles import ProfileStates, plan
from pipeline.types import Delivery, ProfileUpdate

__all__ = ["SingleSends"]


class SingleSends:
    """One request per delivery, to ``destination``; outcomes written to ``books``."""

    def __init__(self, *, destination: Destination, books: Books, profiles: ProfileStates) -> None:
        self._destination = destination
        self._books = books
        self._profiles = profiles

    def send_each(self, deliveries: Sequence[Delivery], result: BatchResult, *, owner: str | None) -> list[Delivery]:
        """Send ``deliveries`` in order; once a send says the rest must wait, they are deferred.
        With ``owner``, each is claimed just before it is sent and released after; returns those
        another batch holds (to look at again later). Without, the caller holds their claims."""
        contended: list[Delivery] = []
        for index, delivery in enumerate(deliveries):
            if owner is None:
                hold = self.send(delivery, result)
            else:
                mine, busy, claims = self._books.claim([delivery], owner, result)
                contended += busy
                if not mine:
                    continue
                try:
                    hold = self.send(delivery, result)
                finally:
                    self._books.release(claims, owner)
            if hold:
                result.deferred.extend(deliveries[index + 1 :])
                break
        return contended

    def send(self, delivery: Delivery, result: BatchResult) -> bool:
        """Send one delivery and write what came of it; True when the rest of the batch must wait."""
        books, item, remember = self._books, delivery.item, None
        if isinstance(item, ProfileUpdate):
            who = identity(item)
            profile_plan = plan(
                item.properties, item.as_of, self._profiles.get(books.merchant, books.platform, who), full=delivery.full
            )
            if not profile_plan.send:
                books.unchanged([delivery], result)
                return False
            item, remember = replace(item, properties=profile_plan.send), (who, profile_plan.entries)
        started = books.clock.monotonic()
        try:
            sent = self._destination.send(item, delivery_id=delivery.id)
        except PipelineError as exc:  # anything else is a bug and propagates (outcomes.py)
            return books.failed([delivery], exc, started=started, result=result)
        observe_latency(books.platform, books.clock.monotonic() - started)
        books.sent(delivery, sent, result)
        if remember is not None and sent.outcome == "delivered":
            who, entries = remember
            books.persist(
                lambda: self._profiles.put(books.merchant, books.platform, who, entries, ttl_s=books.dedup_ttl_s)
            )
        return False
