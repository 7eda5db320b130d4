"""Delivering a batch to one platform connection.

Per delivery, in order:

1. already acknowledged (ledger)? dropped as a duplicate;
2. a profile update sends only the properties that changed and are not older than what the
   platform already has (last write wins by source time; ``full`` resends all);
3. send. Then: acknowledged → ledger; skipped by policy → skipped journal; 429/5xx/timeout →
   retried after a jittered backoff (a 429 does not use up an attempt); 400/404/422 or
   attempts exhausted → dead-letter queue with every attempt.

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
from dataclasses import replace
from datetime import timedelta
from typing import Any

from pipeline import keys
from pipeline.backoff import backoff_s
from pipeline.clock import Clock
from pipeline.delivery.bulk import BulkSends
from pipeline.delivery.result import (AUTH_RECHECK_S, BULK_MIN_EVENTS, BULK_MIN_PROFILES, CONTENDED_RECHECK_S,
                                      DLQ_GUARD_STREAK, INFLIGHT_TTL_S, PAUSE_RECHECK_S, REPLAY, BatchResult,
                                      identity)
from pipeline.destinations.base import BulkEventDestination, BulkProfileDestination, Destination, SendResult
from pipeline.delivery.outcomes import outcome_for
from pipeline.errors import PipelineError, RateLimited, RetriableError
from pipeline.http.policy import Action
from pipeline.observability.metrics import observe_latency
from pipeline.state.counters import Counters
from pipeline.state.journal import Journal
from pipeline.state.ledger import Claim, Ledger
from pipeline.state.pauses import Pauses
from pipeline.state.profiles import ProfileStates, plan
from pipeline.state.trail import Trail
from pipeline.state.trail import entry as trail_entry
from pipeline.types import Attempt, Delivery, Event, ProfileUpdate

__all__ = ["Deliverer"]


class Deliverer(BulkSends):
    """Sends batches for one (merchant, platform)."""

    def __init__(self, *, merchant: str, platform: str, destination: Destination, ledger: Ledger,
                 dead_letters: Journal, skipped: Journal, counters: Counters, clock: Clock, pauses: Pauses,
                 profiles: ProfileStates, dedup_ttl_s: int, max_attempts: int, retry_base_s: float,
                 retry_max_s: float, worker: str = "", rand: Callable[[], float] = random.random,
                 persist: Callable[[Callable[[], Any]], Any] | None = None, trail: Trail | None = None) -> None:
        self._merchant = merchant
        self._platform = platform
        self._destination = destination
        self._ledger = ledger
        self._dead = dead_letters
        self._skipped = skipped
        self._counters = counters
        self._clock = clock
        self._pauses = pauses
        self._profiles = profiles
        self._ttl_s = dedup_ttl_s
        self._max_attempts = max_attempts
        self._base_s = retry_base_s
        self._cap_s = retry_max_s
        self._worker = worker
        self._rand = rand
        # what must be written once a platform has acknowledged (the ledger) goes through
        # ``persist``, which the workers make wait for Redis: an outage then costs a wait, not
        # a resend of everything acknowledged since the batch began
        self._persist = persist or (lambda work: work())
        self._trail = trail  # the customer trail (console lookup): one write per batch

    def _ledger_key(self, delivery: Delivery) -> str:
        return keys.delivered(self._merchant, self._platform, delivery.id)

    def _paused_for(self) -> float | None:
        pause = self._pauses.get(self._merchant, self._platform)
        if pause is None:
            return None
        if pause.until is not None and pause.until <= self._clock.now():
            return None  # recheck: the next send decides
        remaining = (pause.until - self._clock.now()).total_seconds() if pause.until else PAUSE_RECHECK_S
        return max(1.0, min(remaining, PAUSE_RECHECK_S))

    def deliver(self, batch: Sequence[Delivery], *, owner: str | None = None) -> BatchResult:
        """Send every delivery of ``batch`` not already acknowledged, claiming each as ``owner``."""
        owner = owner or uuid.uuid4().hex
        result = BatchResult()
        recheck = self._pauses.get(self._merchant, self._platform) is not None
        if (paused := self._paused_for()) is not None:
            result.deferred, result.defer_s = list(batch), paused
        else:
            done = self._ledger.which_exist([self._ledger_key(d) for d in batch])
            contended: list[Delivery] = []
            for kind, minimum, port, bulk_send in (
                    (ProfileUpdate, BULK_MIN_PROFILES, BulkProfileDestination, self._deliver_profiles_bulk),
                    (Event, BULK_MIN_EVENTS, BulkEventDestination, self._deliver_events_bulk)):
                bulk = [d for d, a in zip(batch, done) if not a and isinstance(d.item, kind)]
                if len(bulk) >= minimum and isinstance(self._destination, port):
                    contended += bulk_send(bulk, result, owner)
                    taken = {d.id for d in bulk}
                    done = [a for d, a in zip(batch, done) if d.id not in taken]
                    batch = [d for d in batch if d.id not in taken]
            for index, (delivery, already) in enumerate(zip(batch, done)):
                claim = keys.inflight(self._merchant, self._platform, delivery.id)
                if already:
                    result.duplicates += 1
                    self._replayed(delivery)  # it was delivered after all: the entry can go
                    continue
                state = self._ledger.claim_many([claim], ttl_s=INFLIGHT_TTL_S, owner=owner,
                                                unless=[self._ledger_key(delivery)])[0]
                if state is Claim.DONE:  # another batch delivered it since the check above
                    result.duplicates += 1
                    self._replayed(delivery)
                    continue
                if state is Claim.BUSY:
                    # another batch is sending it (or died sending it): look again once the
                    # claim has expired; never drop what no one has acknowledged
                    contended.append(delivery)
                    continue
                result.resumed += state is Claim.RESUMED
                try:
                    handled = self._deliver_one(delivery, result)
                finally:
                    self._persist(lambda: self._ledger.release(claim, owner=owner))
                if not handled:
                    self._defer_rest([d for d, a in zip(batch[index:], done[index:]) if not a], result)
                    break
            if contended:
                result.deferred = [*contended, *result.deferred]
                result.defer_s = max(result.defer_s, CONTENDED_RECHECK_S)
        if recheck and paused is None and result.delivered + result.skipped + result.unchanged:
            self._pauses.resume(self._merchant, self._platform)  # the recheck succeeded
        streak = self._pauses.streak(self._merchant, self._platform, dead=result.dead_lettered,
                                     delivered=result.delivered + result.skipped + result.unchanged)
        if streak >= DLQ_GUARD_STREAK and self._pauses.get(self._merchant, self._platform) is None:
            self._pauses.pause(self._merchant, self._platform, since=self._clock.now(), until=None,
                               reason=f"dead-letter guard: {streak} deliveries in a row were dead-lettered")
        if self._trail is not None and result.trail:
            rows = result.trail
            self._persist(lambda: self._trail.record(rows))  # type: ignore[union-attr]
        self._counters.add(self._merchant, {
            "delivered": result.delivered, "skipped": result.skipped, "unchanged": result.unchanged,
            "duplicates_dropped": result.duplicates, "dead_lettered": result.dead_lettered,
            "resent_after_interruption": result.resumed,
            "retried": len(result.retry), "deferred": len(result.deferred),
            "rate_limited": sum(1 for d in result.retry if d.attempts and d.attempts[-1].status == 429)},
            platform=self._platform)
        return result

    def _note(self, result: BatchResult | None, delivery: Delivery, outcome: str, **detail: Any) -> None:
        """One entry of the customer trail, written with the batch."""
        if result is not None and self._trail is not None:
            result.trail.append((delivery.item.customer, trail_entry(delivery, outcome, self._clock.now(), **detail)))

    @staticmethod
    def _defer_rest(rest: Sequence[Delivery], result: BatchResult) -> None:
        """A send said "not now" at ``rest[0]``: it (unless it was dealt with itself) and every
        delivery after it wait, added to what is already deferred."""
        result.deferred.extend(rest[1:] if result.deferred_from_next else rest)
        result.deferred_from_next = False

    def _deliver_one(self, delivery: Delivery, result: BatchResult) -> bool:
        """Handle one delivery; False when the rest of the batch must be deferred."""
        item, profile_plan = delivery.item, None
        if isinstance(item, ProfileUpdate):
            who = identity(item)
            profile_plan = plan(item.properties, item.as_of, self._profiles.get(self._merchant, self._platform, who),
                                full=delivery.full)
            if not profile_plan.send:
                result.unchanged += 1
                self._acknowledged([delivery])
                self._note(result, delivery, "unchanged")
                return True
            item = replace(item, properties=profile_plan.send)
        started = self._clock.monotonic()
        try:
            sent = self._destination.send(item, delivery_id=delivery.id)
        except PipelineError as exc:  # anything else is a bug: it propagates (outcomes.py)
            action = outcome_for(exc)
            if action is Action.DEFER:
                result.defer_s = max(result.defer_s, getattr(exc, "retry_after_s", None) or 1.0)
                return False
            failed = delivery.with_attempt(self._attempt(type(exc).__name__, getattr(exc, "status", None), started))
            if action in (Action.RETRY, Action.RATE_LIMITED):
                self._retry(failed, exc, result)  # type: ignore[arg-type]
                return True
            self._dead_letter(failed, exc, reason=str(exc), result=result)
            result.dead_lettered += 1
            if action is Action.AUTH:
                # the rest wait for the credential to be fixed instead of flooding the dead-letter queue
                self._pauses.pause(self._merchant, self._platform, since=self._clock.now(), reason=str(exc),
                                   until=self._clock.now() + timedelta(seconds=AUTH_RECHECK_S))
                result.defer_s = max(result.defer_s, PAUSE_RECHECK_S)
                result.deferred_from_next = True
                return False
            return True
        observe_latency(self._platform, self._clock.monotonic() - started)
        self._record(delivery, sent, result)
        if profile_plan is not None and sent.outcome == "delivered":
            entries = profile_plan.entries
            self._persist(lambda: self._profiles.put(self._merchant, self._platform, identity(delivery.item),
                                                     entries, ttl_s=self._ttl_s))
        return True

    def _acknowledged(self, deliveries: Sequence[Delivery]) -> None:
        self._persist(lambda: self._ledger.mark([self._ledger_key(d) for d in deliveries], ttl_s=self._ttl_s))
        self._persist(lambda: [self._replayed(d) for d in deliveries])

    def _retry(self, failed: Delivery, exc: RetriableError, result: BatchResult) -> None:
        since_replay = failed.attempts
        for i, a in enumerate(failed.attempts):
            if a.outcome == REPLAY:
                since_replay = failed.attempts[i + 1:]
        counted = [a for a in since_replay if a.outcome != RateLimited.__name__]
        if len(counted) >= self._max_attempts:
            self._dead_letter(failed, exc, reason=f"retries exhausted after {len(failed.attempts)} attempts",
                              result=result)
            result.dead_lettered += 1
            return
        delay = backoff_s(max(1, len(counted)), base_s=self._base_s, cap_s=self._cap_s, rand=self._rand)
        result.retry.append(failed)
        self._note(result, failed, "retrying", http_status=exc.status, detail=type(exc).__name__)
        result.retry_in_s = max(result.retry_in_s, delay, min(exc.retry_after_s or 0.0, self._cap_s))

    def _replayed(self, delivery: Delivery) -> None:
        """A replay reached a final, successful outcome: its dead-letter entry can go."""
        if delivery.replay_of:
            self._dead.delete(keys.dlq(self._merchant, self._platform), delivery.replay_of)

    def _record(self, delivery: Delivery, sent: SendResult, result: BatchResult) -> None:
        self._acknowledged([delivery])
        if sent.outcome == "skipped":
            entry = {"delivery_id": delivery.id, "kind": delivery.item.kind, "reason": sent.reason,
                     "at": self._clock.now().isoformat()}
            self._persist(lambda: self._skipped.append(keys.skipped(self._merchant, self._platform), entry))
            result.skipped += 1
            self._note(result, delivery, "skipped", detail=sent.reason or "")
        else:
            result.delivered += 1
            self._note(result, delivery, "delivered")

    def _attempt(self, outcome: str, status: int | None, started: float) -> Attempt:
        return Attempt(at=self._clock.now(), outcome=outcome, status=status,
                       latency_ms=round((self._clock.monotonic() - started) * 1000, 2), worker=self._worker)

    def _dead_letter(self, delivery: Delivery, exc: Exception, *, reason: str, result: BatchResult | None = None) -> None:
        """Append to the dead-letter stream. A failed replay replaces its entry (with all
        attempts, old and new): an entry only leaves by a successful replay or a purge."""
        last = delivery.attempts[-1] if delivery.attempts else None
        key = keys.dlq(self._merchant, self._platform)
        if delivery.replay_of:
            self._dead.delete(key, delivery.replay_of)
            delivery = replace(delivery, replay_of=None)
        dlq_id = self._dead.append(key, {
            "delivery_id": delivery.id,
            "delivery": delivery.to_dict(),
            "request": f"{self._platform} {delivery.item.kind} for {delivery.item.provider} "
                       f"{getattr(delivery.item, 'name', 'profile properties')}",
            "event_name": getattr(delivery.item, "name", None),
            "kind": delivery.item.kind,
            "error_class": type(exc).__name__,
            "http_status": last.status if last else None,
            "response_excerpt": getattr(exc, "response_excerpt", ""),
            "reason": reason,
            "attempts": [a.to_dict() for a in delivery.attempts],
            "dead_lettered_at": self._clock.now().isoformat(),
        })
        self._note(result, delivery, "dead_lettered", http_status=last.status if last else None, detail=reason,
                   dlq_id=dlq_id)
