"""Delivering a batch to one platform: dedup, send, classify, retry or dead-letter.

The caller (a Celery task) re-enqueues ``BatchResult.retry`` after ``retry_in_s``; every
other outcome is final and recorded here: acknowledged deliveries in the ledger, skips in
the skipped journal, failures in the dead-letter queue with every attempt.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pipeline import keys
from pipeline.backoff import backoff_s
from pipeline.clock import Clock
from pipeline.destinations.base import Destination
from pipeline.errors import FatalError, PipelineError, RetriableError
from pipeline.state.counters import Counters
from pipeline.state.journal import Journal
from pipeline.state.ledger import Ledger
from pipeline.types import Attempt, Delivery

__all__ = ["BatchResult", "Deliverer"]


@dataclass
class BatchResult:
    delivered: int = 0
    skipped: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    retry: list[Delivery] = field(default_factory=list)
    retry_in_s: float = 0.0


class Deliverer:
    """Sends batches for one (merchant, platform)."""

    def __init__(self, *, merchant: str, platform: str, destination: Destination, ledger: Ledger,
                 dead_letters: Journal, skipped: Journal, counters: Counters, clock: Clock,
                 dedup_ttl_s: int, max_attempts: int, retry_base_s: float, retry_max_s: float,
                 worker: str = "", rand: Callable[[], float] = random.random) -> None:
        self._merchant = merchant
        self._platform = platform
        self._destination = destination
        self._ledger = ledger
        self._dead = dead_letters
        self._skipped = skipped
        self._counters = counters
        self._clock = clock
        self._ttl_s = dedup_ttl_s
        self._max_attempts = max_attempts
        self._base_s = retry_base_s
        self._cap_s = retry_max_s
        self._worker = worker
        self._rand = rand

    def _ledger_key(self, delivery: Delivery) -> str:
        return keys.delivered(self._merchant, self._platform, delivery.id)

    def deliver(self, batch: Sequence[Delivery]) -> BatchResult:
        """Send every delivery of ``batch`` not already acknowledged."""
        result = BatchResult()
        done = self._ledger.which_exist([self._ledger_key(d) for d in batch])
        for delivery, already in zip(batch, done):
            if already:
                result.duplicates += 1
                continue
            self._deliver_one(delivery, result)
        self._counters.add(self._merchant, {
            "delivered": result.delivered, "skipped": result.skipped, "duplicates_dropped": result.duplicates,
            "dead_lettered": result.dead_lettered, "retried": len(result.retry)})
        return result

    def _deliver_one(self, delivery: Delivery, result: BatchResult) -> None:
        started = self._clock.monotonic()
        try:
            sent = self._destination.send(delivery.item, delivery_id=delivery.id)
        except RetriableError as exc:
            attempt = self._attempt(type(exc).__name__, exc.status, started)
            failed = delivery.with_attempt(attempt)
            if len(failed.attempts) >= self._max_attempts:
                self._dead_letter(failed, exc, reason=f"retries exhausted after {len(failed.attempts)} attempts")
                result.dead_lettered += 1
                return
            delay = backoff_s(len(failed.attempts), base_s=self._base_s, cap_s=self._cap_s, rand=self._rand)
            result.retry.append(failed)
            result.retry_in_s = max(result.retry_in_s, delay, min(exc.retry_after_s or 0.0, self._cap_s))
            return
        except FatalError as exc:
            failed = delivery.with_attempt(self._attempt(type(exc).__name__, exc.status, started))
            self._dead_letter(failed, exc, reason=str(exc))
            result.dead_lettered += 1
            return
        except (PipelineError, ValueError) as exc:  # an item this platform cannot encode
            failed = delivery.with_attempt(self._attempt(type(exc).__name__, None, started))
            self._dead_letter(failed, exc, reason=str(exc))
            result.dead_lettered += 1
            return
        if sent.outcome == "skipped":
            self._skipped.append(keys.skipped(self._merchant, self._platform), {
                "delivery_id": delivery.id, "kind": delivery.item.kind, "reason": sent.reason,
                "at": self._clock.now().isoformat()})
            result.skipped += 1
        else:
            result.delivered += 1
        self._ledger.mark([self._ledger_key(delivery)], ttl_s=self._ttl_s)

    def _attempt(self, outcome: str, status: int | None, started: float) -> Attempt:
        return Attempt(at=self._clock.now(), outcome=outcome, status=status,
                       latency_ms=round((self._clock.monotonic() - started) * 1000, 2), worker=self._worker)

    def _dead_letter(self, delivery: Delivery, exc: Exception, *, reason: str) -> None:
        last = delivery.attempts[-1] if delivery.attempts else None
        self._dead.append(keys.dlq(self._merchant, self._platform), {
            "delivery_id": delivery.id,
            "delivery": delivery.to_dict(),
            "event_name": getattr(delivery.item, "name", None),
            "kind": delivery.item.kind,
            "error_class": type(exc).__name__,
            "http_status": last.status if last else None,
            "response_excerpt": getattr(exc, "response_excerpt", ""),
            "reason": reason,
            "attempts": [a.to_dict() for a in delivery.attempts],
            "dead_lettered_at": self._clock.now().isoformat(),
        })
