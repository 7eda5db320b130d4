"""Bulk sends inside a batch: many profile updates (or events) to a platform with a bulk
endpoint (Klaviyo) go in one request and share its outcome. Mixed into ``Deliverer``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING

from pipeline import keys
from pipeline.delivery.result import AUTH_RECHECK_S, INFLIGHT_TTL_S, PAUSE_RECHECK_S, BatchResult, identity
from pipeline.delivery.outcomes import outcome_for
from pipeline.errors import PipelineError
from pipeline.http.policy import Action
from pipeline.observability.metrics import observe_latency
from pipeline.state.ledger import Claim
from pipeline.state.profiles import plan
from pipeline.types import Delivery, ProfileUpdate

if TYPE_CHECKING:
    from pipeline.delivery.deliverer import Deliverer

__all__ = ["BulkSends"]


class BulkSends:
    def _deliver_profiles_bulk(self: Deliverer, deliveries: list[Delivery], result: BatchResult, owner: str) -> list[Delivery]:
        """Many profile updates as one bulk job; each shares the job's outcome. Returns the
        deliveries another batch is sending (left for later)."""
        mine, contended, claims = self._claim_all(deliveries, owner, result)
        try:
            planned: list[tuple[Delivery, ProfileUpdate, dict[str, tuple[str, str]]]] = []
            unchanged: list[Delivery] = []
            stored = self._profiles.get_many(self._merchant, self._platform,
                                             [identity(d.item) for d in mine])  # type: ignore[arg-type]
            for d, previous in zip(mine, stored):
                update = d.item
                assert isinstance(update, ProfileUpdate)
                p = plan(update.properties, update.as_of, previous, full=d.full)
                if p.send:
                    planned.append((d, replace(update, properties=p.send), p.entries))
                else:
                    unchanged.append(d)
            result.unchanged += len(unchanged)
            self._acknowledged(unchanged)
            for d in unchanged:
                self._note(result, d, "unchanged")
            sent = [d for d, _, _ in planned]
            if planned and self._send_bulk(sent, result, lambda: self._destination.send_profiles_bulk(  # type: ignore[attr-defined]
                    [u for _, u, _ in planned])):
                result.delivered += len(planned)
                self._acknowledged(sent)
                for d in sent:
                    self._note(result, d, "delivered", via="bulk")
                self._persist(lambda: self._profiles.put_many(self._merchant, self._platform,
                                                              [(identity(u), e) for _, u, e in planned],
                                                              ttl_s=self._ttl_s))
        finally:
            self._persist(lambda: self._ledger.release_many(claims, owner=owner))
        return contended

    def _deliver_events_bulk(self: Deliverer, deliveries: list[Delivery], result: BatchResult, owner: str) -> list[Delivery]:
        """Many events in as few bulk requests as the platform allows; see ``_deliver_profiles_bulk``.
        A request the platform refuses (one bad event refuses all) is sent again one event at a
        time, so each event gets its own outcome."""
        mine, contended, claims = self._claim_all(deliveries, owner, result)

        def one_by_one() -> None:
            for index, d in enumerate(mine):
                if not self._deliver_one(d, result):
                    self._defer_rest(mine[index:], result)
                    return

        try:
            if mine and self._send_bulk(mine, result, lambda: self._destination.send_events_bulk(  # type: ignore[attr-defined]
                    [(d.id, d.item) for d in mine]), on_refused=one_by_one):
                result.delivered += len(mine)
                self._acknowledged(mine)
                for d in mine:
                    self._note(result, d, "delivered", via="bulk")
        finally:
            self._persist(lambda: self._ledger.release_many(claims, owner=owner))
        return contended

    def _claim_all(self: Deliverer, deliveries: list[Delivery], owner: str,
                   result: BatchResult) -> tuple[list[Delivery], list[Delivery], list[str]]:
        """(claimed, contended, claim keys taken); those delivered meanwhile count as duplicates."""
        claims = [keys.inflight(self._merchant, self._platform, d.id) for d in deliveries]
        got = self._ledger.claim_many(claims, ttl_s=INFLIGHT_TTL_S, owner=owner,
                                      unless=[self._ledger_key(d) for d in deliveries])
        result.duplicates += sum(g is Claim.DONE for g in got)
        for d, g in zip(deliveries, got):
            if g is Claim.DONE:
                self._replayed(d)  # delivered after all: a replay's dead-letter entry can go
        result.resumed += sum(g is Claim.RESUMED for g in got)
        taken = (Claim.TAKEN, Claim.RESUMED)
        return ([d for d, g in zip(deliveries, got) if g in taken],
                [d for d, g in zip(deliveries, got) if g is Claim.BUSY],
                [c for c, g in zip(claims, got) if g in taken])

    def _send_bulk(self: Deliverer, deliveries: list[Delivery], result: BatchResult, send: Callable[[], object], *,
                   on_refused: Callable[[], None] | None = None) -> bool:
        """One bulk send for ``deliveries``; True when accepted, else each is retried, deferred or
        dead-lettered with the request's outcome (or, if the platform refused the request,
        ``on_refused`` handles them). A refused credential pauses the connection and defers
        them all (the pause says why)."""
        started = self._clock.monotonic()
        try:
            send()
        except PipelineError as exc:  # anything else is a bug: it propagates (outcomes.py)
            action = outcome_for(exc)
            if action is Action.DEFER:
                result.deferred.extend(deliveries)
                result.defer_s = max(result.defer_s, getattr(exc, "retry_after_s", None) or 1.0)
            elif action in (Action.RETRY, Action.RATE_LIMITED):
                for d in deliveries:
                    self._retry(d.with_attempt(self._attempt(type(exc).__name__, getattr(exc, "status", None),
                                                             started)), exc, result)  # type: ignore[arg-type]
            elif action is Action.AUTH:
                self._pauses.pause(self._merchant, self._platform, since=self._clock.now(), reason=str(exc),
                                   until=self._clock.now() + timedelta(seconds=AUTH_RECHECK_S))
                result.deferred.extend(deliveries)
                result.defer_s = max(result.defer_s, PAUSE_RECHECK_S)
            elif on_refused is not None:
                on_refused()
            else:
                for d in deliveries:
                    self._dead_letter(d.with_attempt(self._attempt(type(exc).__name__, getattr(exc, "status", None),
                                                                   started)), exc, reason=str(exc), result=result)
                    result.dead_lettered += 1
            return False
        observe_latency(self._platform, self._clock.monotonic() - started)
        return True

