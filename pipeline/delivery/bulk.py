"""Bulk sends inside a batch: many profile updates (or events) to a platform with a bulk endpoint
(``BulkProfileDestination``, ``BulkEventDestination``) go in one request and share its outcome.

Each is a small strategy built from its collaborators; ``bulk_sends`` picks those the
destination supports (an ``isinstance`` check on the protocol).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from pipeline.delivery.books import Books
from pipeline.delivery.result import BULK_MIN_EVENTS, BULK_MIN_PROFILES, BatchResult, identity
from pipeline.delivery.single import SingleSends
from pipeline.destinations.base import BulkEventDestination, BulkProfileDestination, Destination
from pipeline.errors import PipelineError
from pipeline.observability.metrics import observe_latency
from pipeline.state.profiles import ProfileStates, plan
from pipeline.types import Delivery, Event, Item, ProfileUpdate

__all__ = ["BulkSend", "EventsInBulk", "ProfilesInBulk", "bulk_sends"]


class BulkSend(Protocol):
    """Sends the deliveries of one item type together, from ``minimum`` of them in a batch."""

    item_type: type[Item]
    minimum: int

    def send(self, deliveries: Sequence[Delivery], result: BatchResult, owner: str) -> list[Delivery]:
        """Claim, send and settle ``deliveries`` (not acknowledged yet); returns those another
        batch is sending (left for later)."""
        ...


class ProfilesInBulk:
    """Many profile updates as one bulk job; each shares the job's outcome."""

    item_type: type[Item] = ProfileUpdate
    minimum = BULK_MIN_PROFILES

    def __init__(self, *, destination: BulkProfileDestination, books: Books, profiles: ProfileStates) -> None:
        self._destination = destination
        self._books = books
        self._profiles = profiles

    def send(self, deliveries: Sequence[Delivery], result: BatchResult, owner: str) -> list[Delivery]:
        books = self._books
        mine, contended, claims = books.claim(deliveries, owner, result)
        try:
            updates = [d.item for d in mine if isinstance(d.item, ProfileUpdate)]
            stored = self._profiles.get_many(books.merchant, books.platform, [identity(u) for u in updates])
            planned: list[tuple[Delivery, ProfileUpdate, dict[str, tuple[str, str]]]] = []
            unchanged: list[Delivery] = []
            for d, update, previous in zip(mine, updates, stored, strict=True):
                p = plan(update.properties, update.as_of, previous, full=d.full)
                if p.send:
                    planned.append((d, replace(update, properties=p.send), p.entries))
                else:
                    unchanged.append(d)
            books.unchanged(unchanged, result)
            sent = [d for d, _, _ in planned]
            if not planned:
                return contended
            started = books.clock.monotonic()
            try:
                self._destination.send_profiles_bulk([u for _, u, _ in planned])
            except PipelineError as exc:  # anything else is a bug and propagates (outcomes.py)
                books.failed(sent, exc, started=started, result=result, bulk=True)
                return contended
            observe_latency(books.platform, books.clock.monotonic() - started)
            books.delivered_in_bulk(sent, result)
            books.persist(
                lambda: self._profiles.put_many(
                    books.merchant, books.platform, [(identity(u), e) for _, u, e in planned], ttl_s=books.dedup_ttl_s
                )
            )
        finally:
            books.release(claims, owner)
        return contended


class EventsInBulk:
    """Many events in as few bulk requests as the platform allows. A request the platform
    refuses (one bad event refuses all) is sent again one event at a time, so each event gets
    its own outcome."""

    item_type: type[Item] = Event
    minimum = BULK_MIN_EVENTS

    def __init__(self, *, destination: BulkEventDestination, books: Books, singles: SingleSends) -> None:
        self._destination = destination
        self._books = books
        self._singles = singles

    def send(self, deliveries: Sequence[Delivery], result: BatchResult, owner: str) -> list[Delivery]:
        books = self._books
        mine, contended, claims = books.claim(deliveries, owner, result)
        try:
            if not mine:
                return contended
            started = books.clock.monotonic()
            try:
                self._destination.send_events_bulk([(d.id, d.item) for d in mine if isinstance(d.item, Event)])
            except PipelineError as exc:  # anything else is a bug and propagates (outcomes.py)
                books.failed(
                    mine,
                    exc,
                    started=started,
                    result=result,
                    bulk=True,
                    on_refused=lambda: self._singles.send_each(mine, result, owner=None),
                )
                return contended
            observe_latency(books.platform, books.clock.monotonic() - started)
            books.delivered_in_bulk(mine, result)
        finally:
            books.release(claims, owner)
        return contended


def bulk_sends(
    destination: Destination, *, books: Books, singles: SingleSends, profiles: ProfileStates
) -> list[BulkSend]:
    """The bulk sends ``destination`` supports, in the order a batch uses them."""
    sends: list[BulkSend] = []
    if isinstance(destination, BulkProfileDestination):
        sends.append(ProfilesInBulk(destination=destination, books=books, profiles=profiles))
    if isinstance(destination, BulkEventDestination):
        sends.append(EventsInBulk(destination=destination, books=books, singles=singles))
    return sends
