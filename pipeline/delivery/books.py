"""Where the outcome of each delivery is written: claims and acknowledgements (the ledger),
the skipped journal, retries with backoff, the dead-letter queue, and the customer trail.

``failed`` is the one place a send's error is turned into those writes, for single and bulk
sends alike; it reads the outcome table (outcomes.py). Everything written once a platform has
acknowledged goes through ``persist`` (the workers make it wait for Redis).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from pipeline import keys
from pipeline.backoff import backoff_s
from pipeline.clock import Clock
from pipeline.delivery.outcomes import outcome_for
from pipeline.delivery.result import AUTH_RECHECK_S, INFLIGHT_TTL_S, PAUSE_RECHECK_S, REPLAY, BatchResult
from pipeline.destinations.base import SendResult
from pipeline.errors import PipelineError, RateLimited
from pipeline.http.policy import Action
from pipeline.state.journal import Journal
from pipeline.state.ledger import Claim, Ledger
from pipeline.state.pauses import Pauses
from pipeline.state.trail import Trail
from pipeline.state.trail import entry as trail_entry
from pipeline.types import Attempt, Delivery

__all__ = ["Books", "Held"]


@dataclass(frozen=True)
class Held:
    """The claim a single send holds (``claim``, by ``owner``) and the deliveries claimed ahead
    of it in the same round trip (``ahead``: their ids and claims). Settling the send releases
    ``claim`` and renews the claims ahead in the round trip that writes the acknowledgement;
    the ids of those acknowledged elsewhere meanwhile are added to ``done`` (their claims
    released): they must not be sent."""

    owner: str
    claim: str
    ahead: tuple[tuple[str, str], ...] = ()
    done: set[str] = field(default_factory=set)


class Books:
    """The delivery records of one (merchant, platform)."""

    def __init__(
        self,
        *,
        merchant: str,
        platform: str,
        ledger: Ledger,
        dead_letters: Journal,
        skipped: Journal,
        pauses: Pauses,
        clock: Clock,
        dedup_ttl_s: int,
        max_attempts: int,
        retry_base_s: float,
        retry_max_s: float,
        worker: str = "",
        rand: Callable[[], float] = random.random,
        persist: Callable[[Callable[[], Any]], Any] | None = None,
        trail: Trail | None = None,
    ) -> None:
        self.merchant = merchant
        self.platform = platform
        self.clock = clock
        self.dedup_ttl_s = dedup_ttl_s
        self.persist: Callable[[Callable[[], Any]], Any] = persist or (lambda work: work())
        self._ledger = ledger
        self._dead = dead_letters
        self._skipped = skipped
        self._pauses = pauses
        self._max_attempts = max_attempts
        self._base_s = retry_base_s
        self._cap_s = retry_max_s
        self._worker = worker
        self._rand = rand
        self._trail = trail

    # -- acknowledgements and claims -------------------------------------------------------

    def _acked_key(self, delivery: Delivery) -> str:
        return keys.delivered(self.merchant, self.platform, delivery.id)

    def acknowledged_already(self, deliveries: Sequence[Delivery]) -> list[bool]:
        """For each delivery, whether the platform has acknowledged it (one round trip)."""
        return self._ledger.which_exist([self._acked_key(d) for d in deliveries])

    def claim(
        self, deliveries: Sequence[Delivery], owner: str, result: BatchResult
    ) -> tuple[list[Delivery], list[Delivery], list[str]]:
        """Claim ``deliveries`` for sending as ``owner`` (one round trip): returns (claimed,
        held by another batch, claim keys taken). Those acknowledged meanwhile count as duplicates."""
        claims = [keys.inflight(self.merchant, self.platform, d.id) for d in deliveries]
        got = self._ledger.claim_many(
            claims, ttl_s=INFLIGHT_TTL_S, owner=owner, unless=[self._acked_key(d) for d in deliveries]
        )
        for d, g in zip(deliveries, got, strict=True):
            if g is Claim.DONE:
                self.duplicate(d, result)
        result.resumed += sum(g is Claim.RESUMED for g in got)
        taken = (Claim.TAKEN, Claim.RESUMED)
        return (
            [d for d, g in zip(deliveries, got, strict=True) if g in taken],
            [d for d, g in zip(deliveries, got, strict=True) if g is Claim.BUSY],
            [c for c, g in zip(claims, got, strict=True) if g in taken],
        )

    def release(self, claims: Sequence[str], owner: str) -> None:
        self.persist(lambda: self._ledger.release_many(claims, owner=owner))

    def duplicate(self, delivery: Delivery, result: BatchResult) -> None:
        """Acknowledged already: dropped (and a replay's dead-letter entry goes)."""
        result.duplicates += 1
        self._replayed(delivery)

    def _acknowledge(self, deliveries: Sequence[Delivery], held: Held | None = None) -> None:
        marks = [self._acked_key(d) for d in deliveries]
        if held is None:
            self.persist(lambda: self._ledger.mark(marks, ttl_s=self.dedup_ttl_s))
        else:
            ahead = [(claim, keys.delivered(self.merchant, self.platform, id_)) for id_, claim in held.ahead]
            done = self.persist(
                lambda: self._ledger.settle(
                    marks,
                    ttl_s=self.dedup_ttl_s,
                    owner=held.owner,
                    release=[held.claim],
                    extend=ahead,
                    extend_ttl_s=INFLIGHT_TTL_S,
                )
            )
            held.done.update(id_ for (id_, _), d in zip(held.ahead, done, strict=True) if d)
        if any(d.replay_of for d in deliveries):

            def replays_done() -> None:
                for d in deliveries:
                    self._replayed(d)

            self.persist(replays_done)

    def _replayed(self, delivery: Delivery) -> None:
        """A replay reached a final, successful outcome: its dead-letter entry can go."""
        if delivery.replay_of:
            self._dead.delete(keys.dlq(self.merchant, self.platform), delivery.replay_of)

    # -- outcomes -----------------------------------------------------------------------------

    def unchanged(self, deliveries: Sequence[Delivery], result: BatchResult, held: Held | None = None) -> None:
        """Nothing to send (the platform has these values already): acknowledged as they are
        (and ``held``, a single send's claim, settled in the same round trip)."""
        result.unchanged += len(deliveries)
        self._acknowledge(deliveries, held)
        for d in deliveries:
            self.note(result, d, "unchanged")

    def delivered_in_bulk(self, deliveries: Sequence[Delivery], result: BatchResult) -> None:
        result.delivered += len(deliveries)
        self._acknowledge(deliveries)
        for d in deliveries:
            self.note(result, d, "delivered", via="bulk")

    def sent(self, delivery: Delivery, sent: SendResult, result: BatchResult, held: Held | None = None) -> None:
        """A single send's answer: delivered, or skipped by policy (journaled with its reason);
        ``held``, its claim, is settled in the round trip that acknowledges it."""
        self._acknowledge([delivery], held)
        if sent.outcome == "skipped":
            entry = {
                "delivery_id": delivery.id,
                "kind": delivery.item.kind,
                "reason": sent.reason,
                "at": self.clock.now().isoformat(),
            }
            self.persist(lambda: self._skipped.append(keys.skipped(self.merchant, self.platform), entry))
            result.skipped += 1
            self.note(result, delivery, "skipped", detail=sent.reason or "")
        else:
            result.delivered += 1
            self.note(result, delivery, "delivered")

    def failed(
        self,
        group: Sequence[Delivery],
        exc: PipelineError,
        *,
        started: float,
        result: BatchResult,
        bulk: bool = False,
        on_refused: Callable[[], object] | None = None,
    ) -> bool:
        """Settle ``group``, the deliveries of one send that raised ``exc``, by ``outcome_for(exc)``.
        Returns True when the deliveries after them in the batch must wait too.

        - DEFER (our limiter): deferred, no attempt made; after a single send the rest wait.
        - RETRY, RATE_LIMITED: each retried with the attempt recorded (a 429 uses none up).
        - AUTH (401/403): the connection is paused; a single send's delivery is dead-lettered
          and the rest wait; a bulk send's deliveries are deferred (none was judged on its own).
        - FATAL: each dead-lettered; a bulk send may pass ``on_refused`` instead (send them one
          by one, so only the bad ones are dead-lettered).
        """
        action = outcome_for(exc)
        if action is Action.DEFER:
            result.deferred.extend(group)
            result.defer_s = max(result.defer_s, getattr(exc, "retry_after_s", None) or 1.0)
            return not bulk
        if action in (Action.RETRY, Action.RATE_LIMITED):
            for d in group:
                self._retry(d.with_attempt(self._attempt(exc, started)), exc, result)
            return False
        if action is Action.AUTH:
            # the credential is refused: the connection waits for it to be fixed (rechecked
            # later) instead of flooding the dead-letter queue
            if bulk:
                result.deferred.extend(group)
            else:
                self._dead_letter_each(group, exc, started, result)
            self._pauses.pause(
                self.merchant,
                self.platform,
                since=self.clock.now(),
                reason=str(exc),
                until=self.clock.now() + timedelta(seconds=AUTH_RECHECK_S),
            )
            result.defer_s = max(result.defer_s, PAUSE_RECHECK_S)
            return not bulk
        if on_refused is not None:
            on_refused()
        else:
            self._dead_letter_each(group, exc, started, result)
        return False

    def _dead_letter_each(
        self, group: Sequence[Delivery], exc: PipelineError, started: float, result: BatchResult
    ) -> None:
        for d in group:
            self.dead_letter(d.with_attempt(self._attempt(exc, started)), exc, reason=str(exc), result=result)

    def _retry(self, failed: Delivery, exc: PipelineError, result: BatchResult) -> None:
        """Retried after a jittered backoff, or dead-lettered once the attempts since the last
        replay (429s not counted) reach ``max_attempts``."""
        since_replay = failed.attempts
        for i, a in enumerate(failed.attempts):
            if a.outcome == REPLAY:
                since_replay = failed.attempts[i + 1 :]
        counted = [a for a in since_replay if a.outcome != RateLimited.__name__]
        if len(counted) >= self._max_attempts:
            self.dead_letter(
                failed, exc, reason=f"retries exhausted after {len(failed.attempts)} attempts", result=result
            )
            return
        delay = backoff_s(max(1, len(counted)), base_s=self._base_s, cap_s=self._cap_s, rand=self._rand)
        result.retry.append(failed)
        status = getattr(exc, "status", None)
        self.note(result, failed, "retrying", http_status=status, detail=type(exc).__name__)
        retry_after_s = getattr(exc, "retry_after_s", None) or 0.0
        result.retry_in_s = max(result.retry_in_s, delay, min(retry_after_s, self._cap_s))

    def _attempt(self, exc: PipelineError, started: float) -> Attempt:
        return Attempt(
            at=self.clock.now(),
            outcome=type(exc).__name__,
            status=getattr(exc, "status", None),
            latency_ms=round((self.clock.monotonic() - started) * 1000, 2),
            worker=self._worker,
        )

    def dead_letter(self, delivery: Delivery, exc: Exception, *, reason: str, result: BatchResult) -> None:
        """Append to the dead-letter stream (and count it). A failed replay replaces its entry
        (with all attempts, old and new): an entry only leaves by a successful replay or a purge."""
        last = delivery.attempts[-1] if delivery.attempts else None
        key = keys.dlq(self.merchant, self.platform)
        if delivery.replay_of:
            self._dead.delete(key, delivery.replay_of)
            delivery = replace(delivery, replay_of=None)
        dlq_id = self._dead.append(
            key,
            {
                "delivery_id": delivery.id,
                "delivery": delivery.to_dict(),
                "request": f"{self.platform} {delivery.item.kind} for {delivery.item.provider} "
                f"{getattr(delivery.item, 'name', 'profile properties')}",
                "event_name": getattr(delivery.item, "name", None),
                "kind": delivery.item.kind,
                "error_class": type(exc).__name__,
                "http_status": last.status if last else None,
                "response_excerpt": getattr(exc, "response_excerpt", ""),
                "reason": reason,
                "attempts": [a.to_dict() for a in delivery.attempts],
                "dead_lettered_at": self.clock.now().isoformat(),
            },
        )
        result.dead_lettered += 1
        self.note(
            result, delivery, "dead_lettered", http_status=last.status if last else None, detail=reason, dlq_id=dlq_id
        )

    # -- the customer trail -------------------------------------------------------------------

    def note(self, result: BatchResult, delivery: Delivery, outcome: str, **detail: Any) -> None:
        """One entry of the customer trail, written with the batch (``write_trail``)."""
        if self._trail is not None:
            result.trail.append((delivery.item.customer, trail_entry(delivery, outcome, self.clock.now(), **detail)))

    def write_trail(self, result: BatchResult) -> None:
        trail, rows = self._trail, result.trail
        if trail is not None and rows:
            self.persist(lambda: trail.record(rows))
