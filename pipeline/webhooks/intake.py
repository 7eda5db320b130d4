"""Processing one accepted webhook delivery (in a worker, after the endpoint answered).

Open the envelope; for a stateful resource, hold that record's lock (so its deliveries are
applied one at a time, whatever the number of workers), drop a stale delivery of a stateful resource (one whose
``sequenceNumber`` is not newer than the last applied for that record: Okendo does not
guarantee order), validate, hand over to delivery with the previous snapshot so change
events fire, then commit the snapshot and the sequence number. A delivery that cannot be
decoded is quarantined with its reason, never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pipeline import quarantine
from pipeline.clock import Clock
from pipeline.errors import InvalidRecord
from pipeline.providers.resources import decode, resource, snapshot_of, unwrap
from pipeline.state.counters import Counters
from pipeline.state.journal import Journal
from pipeline.state.locks import Locks, MemoryLocks
from pipeline.state.sequences import SequenceStore
from pipeline.state.snapshots import SnapshotStore
from pipeline.types import Record
from pipeline.webhooks import body as bodies

__all__ = ["Outcome", "WebhookIntake"]

Outcome = Literal["handed_over", "stale", "quarantined"]


class WebhookIntake:
    def __init__(
        self,
        *,
        merchant: str,
        provider: str,
        hand_over: Callable[[Sequence[Record]], Any],
        snapshots: SnapshotStore,
        sequences: SequenceStore,
        quarantine_journal: Journal,
        counters: Counters,
        clock: Clock,
        locks: Locks | None = None,
    ) -> None:
        self._merchant = merchant
        self._provider = provider
        self._hand_over = hand_over
        self._snapshots = snapshots
        self._sequences = sequences
        self._quarantine = quarantine_journal
        self._counters = counters
        self._clock = clock
        self._locks = locks or MemoryLocks()

    def _reject(self, name: str, payload: Any, error: InvalidRecord, extra: dict[str, Any] | None = None) -> Outcome:
        quarantine.put(
            self._quarantine,
            self._clock,
            merchant=self._merchant,
            provider=self._provider,
            resource=name,
            payload=payload if isinstance(payload, dict) else {"body": payload},
            error=error,
            extra=extra,
        )
        self._counters.add(self._merchant, {"quarantined": 1})
        return "quarantined"

    def missing_body(self, message_id: str, *, abandoned: bool = False) -> Outcome:
        """The task ran but the accepted body is gone: quarantine that fact. ``abandoned``: the web
        process released it because the enqueue raised (and answered 503), yet this message was
        published; the sender's retry of that 503 carries the delivery."""
        reason = (
            "accepted body released: its enqueue raised after the message was published, so the sender "
            "was answered 503 and its retry carries this delivery (nothing lost unless the sender gave up)"
            if abandoned
            else "accepted body not found in Redis (expired before its task ran, or lost)"
        )
        return self._reject("webhook", {"message_id": message_id}, InvalidRecord(reason, provider=self._provider))

    def give_up(self, body: bytes | str, *, event: str | None, message_id: str | None, reason: str) -> Outcome:
        """The delivery could not be processed however often it was retried (our infrastructure kept
        failing): quarantine it with ``reason``, the body kept with it (decoded if it is JSON)."""
        raw, problem = bodies.parse(body)
        payload = raw if problem is None and isinstance(raw, dict) else {"body": bodies.excerpt(body)}
        return self._reject(
            "webhook",
            payload,
            InvalidRecord(reason, provider=self._provider),
            {"message_id": message_id, "event": event},
        )

    def process(self, body: bytes | str, *, event: str | None = None) -> Outcome:
        """Decode and hand over one accepted delivery (its raw bytes: not UTF-8, not JSON or
        nested too deep is quarantined with the reason). ``event`` is the provider's event-name
        header where the body does not carry it (Omneo's ``x-omneo-event``)."""
        raw, problem = bodies.parse(body)
        if problem is not None:
            return self._reject("webhook", bodies.excerpt(body), InvalidRecord(problem, provider=self._provider))
        try:
            name, obj, extra = unwrap(self._provider, raw, event=event)
            res = resource(self._provider, name)
            extra = {**extra, "_received_at": self._clock.now()}  # dates a resource that carries no date
        except InvalidRecord as exc:
            return self._reject("webhook", raw, exc)
        key = ":".join(str(obj.get(p.split(".")[0], "")) for p in res.id_paths) if isinstance(obj, dict) else ""
        if not res.snapshot or not key:
            return self._apply(name, obj, extra, key, stateful=False)
        # one record's deliveries are applied one at a time: each is diffed against the last
        with self._locks.hold(f"webhook:{self._merchant}:{self._provider}:{name}:{key}"):
            return self._apply(name, obj, extra, key, stateful=True)

    def _apply(self, name: str, obj: Any, extra: dict[str, Any], key: str, *, stateful: bool) -> Outcome:
        sequence = extra.get("_sequence")
        if (
            stateful
            and isinstance(sequence, int)
            and self._sequences.is_stale(self._merchant, self._provider, name, key, sequence)
        ):
            self._counters.add(self._merchant, {"repulled": 1})
            return "stale"
        previous = self._snapshots.get_many(self._merchant, self._provider, name, [key]).get(key) if stateful else None
        try:
            record = decode(self._provider, name, obj, merchant=self._merchant, previous=previous, extra=extra)
        except InvalidRecord as exc:
            return self._reject(name, obj, exc, extra)
        self._hand_over([record])  # which counts it as pulled (tests/webhooks/test_intake_counts.py)
        if stateful:
            self._snapshots.put_many(self._merchant, self._provider, name, {record.record_id: snapshot_of(record)})
            if isinstance(sequence, int):
                self._sequences.advance(self._merchant, self._provider, name, record.record_id, sequence)
        return "handed_over"
