"""Delivering a batch to one platform connection.

Per delivery, in order:

1. already acknowledged (ledger)? dropped as a duplicate;
2. a profile update sends only the properties that changed and are not older than what the
   platform already has (last write wins by source time; ``full`` resends all);
3. send: in bulk where the platform has a bulk endpoint and the batch has enough of one item
   type (bulk.py), else one by one (single.py). Then: acknowledged → ledger; skipped by policy
   → skipped journal; an error → what the outcome table says (outcomes.py, books.py): 429/5xx/
   timeout → retried after a jittered backoff (a 429 does not use up an attempt); 400/404/422 or
   attempts exhausted → dead-letter queue with every attempt. Any other exception is a bug and
   propagates.

Our own limiter saying "not now" (``Throttled``) or a paused connection costs no attempt:
the rest of the batch is deferred. A refused credential (401/403) dead-letters that delivery
and pauses the connection, so the rest waits (rechecked later) instead of flooding the
dead-letter queue; the dead-letter guard pauses it when dead-letters come in a long run, the sign of a
misconfiguration, until an operator resumes it. Deferred and retried deliveries are returned
to the caller, which keeps them in the due set.

Each delivery is claimed while it is sent, by ``owner`` (the batch's id in the due set), so a
copy of it elsewhere (a batch released twice, a redelivered message) waits instead of sending
it too. The same batch handed out again after its holder died takes its claims over at once.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from pipeline.clock import Clock
from pipeline.delivery.books import Books
from pipeline.delivery.bulk import bulk_sends
from pipeline.delivery.result import CONTENDED_RECHECK_S, DLQ_GUARD_STREAK, PAUSE_RECHECK_S, BatchResult
from pipeline.delivery.single import SingleSends
from pipeline.destinations.base import Destination
from pipeline.state.counters import Counters
from pipeline.state.journal import Journal
from pipeline.state.ledger import Ledger
from pipeline.state.pauses import Pauses
from pipeline.state.profiles import ProfileStates
from pipeline.state.trail import Trail
from pipeline.types import Delivery

__all__ = ["Deliverer"]


class Deliverer:
    """Sends batches for one (merchant, platform)."""

    def __init__(
        self,
        *,
        merchant: str,
        platform: str,
        destination: Destination,
        ledger: Ledger,
        dead_letters: Journal,
        skipped: Journal,
        counters: Counters,
        clock: Clock,
        pauses: Pauses,
        profiles: ProfileStates,
        dedup_ttl_s: int,
        max_attempts: int,
        retry_base_s: float,
        retry_max_s: float,
        worker: str = "",
        rand: Callable[[], float] = random.random,
        persist: Callable[[Callable[[], Any]], Any] | None = None,
        trail: Trail | None = None,
        window: int = 1,
    ) -> None:
        self._merchant = merchant
        self._platform = platform
        self._counters = counters
        self._clock = clock
        self._pauses = pauses
        # what must be written once a platform has acknowledged (the ledger) goes through
        # ``persist``, which the workers make wait for Redis: an outage then costs a wait, not
        # a resend of everything acknowledged since the batch began
        self._books = Books(
            merchant=merchant,
            platform=platform,
            ledger=ledger,
            dead_letters=dead_letters,
            skipped=skipped,
            pauses=pauses,
            clock=clock,
            dedup_ttl_s=dedup_ttl_s,
            max_attempts=max_attempts,
            retry_base_s=retry_base_s,
            retry_max_s=retry_max_s,
            worker=worker,
            rand=rand,
            persist=persist,
            trail=trail,
        )
        self._singles = SingleSends(destination=destination, books=self._books, profiles=profiles, window=window)
        self._bulk = bulk_sends(destination, books=self._books, singles=self._singles, profiles=profiles)

    def deliver(self, batch: Sequence[Delivery], *, owner: str | None = None) -> BatchResult:
        """Send every delivery of ``batch`` not already acknowledged, claiming each as ``owner``."""
        result = BatchResult()
        was_paused = self._pauses.get(self._merchant, self._platform) is not None
        if (paused_s := self._paused_for()) is not None:
            result.deferred, result.defer_s = list(batch), paused_s
        else:
            self._send(batch, owner or uuid.uuid4().hex, result)
        self._settle(result, rechecked=was_paused and paused_s is None)
        return result

    def _paused_for(self) -> float | None:
        """How long to wait before looking again, if the connection is paused; None if not (or if
        a timed pause has run out: the next send decides)."""
        pause = self._pauses.get(self._merchant, self._platform)
        if pause is None or (pause.until is not None and pause.until <= self._clock.now()):
            return None
        remaining = (pause.until - self._clock.now()).total_seconds() if pause.until else PAUSE_RECHECK_S
        return max(1.0, min(remaining, PAUSE_RECHECK_S))

    def _send(self, batch: Sequence[Delivery], owner: str, result: BatchResult) -> None:
        """Drop what is acknowledged already, send the rest in bulk where the platform can take
        it, then one by one. A delivery another batch is sending (or died sending) is looked at
        again once its claim has expired; what no one has acknowledged is never dropped."""
        pending: list[Delivery] = []
        for delivery, acknowledged in zip(batch, self._books.acknowledged_already(batch), strict=True):
            if acknowledged:
                self._books.duplicate(delivery, result)
            else:
                pending.append(delivery)
        contended: list[Delivery] = []
        for bulk in self._bulk:
            group = [d for d in pending if isinstance(d.item, bulk.item_type)]
            if len(group) >= bulk.minimum:
                contended += bulk.send(group, result, owner)
                pending = [d for d in pending if not isinstance(d.item, bulk.item_type)]
        contended += self._singles.send_each(pending, result, owner=owner)
        if contended:
            result.deferred = [*contended, *result.deferred]
            result.defer_s = max(result.defer_s, CONTENDED_RECHECK_S)

    def _settle(self, result: BatchResult, *, rechecked: bool) -> None:
        """After the sends: resume a rechecked pause that let something through, pause the
        connection when dead-letters come in a long run (the dead-letter guard), write the
        customer trail and the counters."""
        progressed = result.delivered + result.skipped + result.unchanged
        if rechecked and progressed:
            self._pauses.resume(self._merchant, self._platform)  # the recheck succeeded
        streak = self._pauses.streak(self._merchant, self._platform, dead=result.dead_lettered, delivered=progressed)
        if streak >= DLQ_GUARD_STREAK and self._pauses.get(self._merchant, self._platform) is None:
            self._pauses.pause(
                self._merchant,
                self._platform,
                since=self._clock.now(),
                until=None,
                reason=f"dead-letter guard: {streak} deliveries in a row were dead-lettered",
            )
        self._books.write_trail(result)
        self._counters.add(
            self._merchant,
            {
                "delivered": result.delivered,
                "skipped": result.skipped,
                "unchanged": result.unchanged,
                "duplicates_dropped": result.duplicates,
                "dead_lettered": result.dead_lettered,
                "resent_after_interruption": result.resumed,
                "retried": len(result.retry),
                "deferred": len(result.deferred),
                "rate_limited": sum(1 for d in result.retry if d.attempts and d.attempts[-1].status == 429),
            },
            platform=self._platform,
        )
