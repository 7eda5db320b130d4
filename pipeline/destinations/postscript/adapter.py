"""Postscript Partner API v2: custom events and subscriber properties.

* Events: ``POST /api/v2/events`` (202). ``type`` allows only ``[A-Za-z0-9_]``, so the
  catalog's display name is encoded by ``event_type`` ("Smile Points Earned" →
  ``Smile_Points_Earned``); ``occurred_at`` is UTC ``%Y-%m-%d %H:%M:%S.%f``;
  ``external_id`` carries our delivery id.
* Properties: look the subscriber up, by phone first when the customer has one
  (``GET /api/v2/subscribers?phone_number__eq=``: a subscriber *is* a phone number to
  Postscript, and Postscript matches events the same way), then by email (``email__eq``);
  cache the ``s_`` id (and a miss, briefly) per identifier, then ``PATCH /api/v2/subscribers/{id}``.
  A customer who is not a subscriber is skipped with a reason (policy ``skip``), or, with
  policy ``create`` and a phone number, created with ``POST /api/v2/subscribers``.
* ``EXISTING_SUBSCRIBERS_ONLY``: providers whose Postscript integration touches only existing
  subscribers, events included, whatever the policy (seed 001: "Okendo only syncs profile
  properties and events data for existing Postscript subscribers").
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import httpx

from pipeline.accounts import PlatformAccount
from pipeline.destinations.base import SendResult, answer_json
from pipeline.destinations.encoding.base import Encoding
from pipeline.destinations.pending import Awaiting, Done, Pending
from pipeline.destinations.postscript.encoding import (
    MAX_PROPERTIES,
    encode_event,
    encode_properties,
    event_type,
    identifiers,
)
from pipeline.destinations.spec import PlatformSpec
from pipeline.errors import FatalError, RetriableError
from pipeline.http.client import HttpClient, PipelinedClient
from pipeline.http.lean import Exchange, answer
from pipeline.http.policy import raise_for_response, raise_for_transport
from pipeline.ratelimit.window import SECOND_S, Window
from pipeline.state.subscribers import ABSENT, SubscriberCache
from pipeline.types import Customer, Event, Item, ProfileUpdate

__all__ = ["SPEC", "PostscriptDestination"]

SUBSCRIBER_TTL_S = 24 * 3600
ABSENT_TTL_S = 15 * 60
#: Requests that may go back to back after a pause: an Okendo review costs a subscriber lookup,
#: the event and the profile update (issue 11), and at one every 69 ms its event waited a whole
#: interval behind the lookup. Two webhooks' worth, so one that follows another closely does not
#: wait for the first's credit to come back either. Every second still holds at most 15.
BURST = 6
#: Providers whose events and properties go to existing Postscript subscribers only (seed 001).
EXISTING_SUBSCRIBERS_ONLY = frozenset({"okendo"})


class PostscriptDestination:
    """One merchant's Postscript shop. The client carries auth and the shared rate limit."""

    kind: ClassVar[str] = "postscript"

    def __init__(
        self, *, merchant: str, account: PlatformAccount, client: HttpClient, subscribers: SubscriberCache
    ) -> None:
        self._merchant = merchant
        self._account = account
        self._client = client
        # checked once: a runtime protocol check costs more than encoding the request
        self._pipelined = client if isinstance(client, PipelinedClient) else None
        self._subscribers = subscribers

    @staticmethod
    def auth_headers(account: PlatformAccount) -> dict[str, str]:
        """Shop key as Bearer token (the official scheme for a shop calling for itself)."""
        return {"Authorization": f"Bearer {account.credential.reveal()}"}

    def send(self, item: Item, *, delivery_id: str) -> SendResult:
        if isinstance(item, Event):
            return self._send_event(item, delivery_id)
        return self._update_profile(item)

    def _request(self, method: str, path: str, *, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise raise_for_transport(exc, what=f"postscript {what}") from None
        return raise_for_response(response, what=f"postscript {what}")

    def _prepare_event(self, event: Event, delivery_id: str) -> SendResult | dict[str, Any]:
        """The skip, or the body of ``POST /api/v2/events``."""
        if not identifiers(event.customer):
            return SendResult("skipped", reason="customer has neither email nor phone")
        if event.provider in EXISTING_SUBSCRIBERS_ONLY and self._subscriber_id(event.customer) is None:
            return SendResult(
                "skipped",
                reason=f"not a Postscript subscriber ({event.provider} events go to existing subscribers only)",
            )
        try:
            return encode_event(event, delivery_id=delivery_id)
        except ValueError as exc:  # an event Postscript cannot take: the platform's refusal, not a bug
            raise FatalError(f"postscript cannot take this event: {exc}") from None

    def _send_event(self, event: Event, delivery_id: str) -> SendResult:
        body = self._prepare_event(event, delivery_id)
        if isinstance(body, SendResult):
            return body
        response = self._request("POST", "/api/v2/events", what="POST /api/v2/events", json=body)
        return SendResult("delivered", status=response.status_code)

    def begin(self, item: Item, *, delivery_id: str) -> Pending:
        """``send``, with the answer read later (pipeline/destinations/pending.py). A profile
        update is a lookup in flight (unless cached), then its PATCH in flight; creating a
        subscriber is sent in full here."""
        if self._pipelined is None:
            return Done(self.send(item, delivery_id=delivery_id))
        if isinstance(item, ProfileUpdate):
            return self._begin_profile(item, self._profile_properties(item))
        body = self._prepare_event(item, delivery_id)
        if isinstance(body, SendResult):
            return Done(body)
        return Awaiting(
            self._begin("POST", "/api/v2/events", what="POST /api/v2/events", json=body),
            "postscript POST /api/v2/events",
        )

    def _begin(self, method: str, path: str, *, what: str, **kwargs: Any) -> Exchange:
        assert self._pipelined is not None
        try:
            return self._pipelined.begin(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise raise_for_transport(exc, what=f"postscript {what}") from None

    def _begin_profile(self, update: ProfileUpdate, properties: dict[str, Any]) -> Pending:
        """The PATCH in flight if the subscriber id is known; else the first lookup not made
        yet in flight (its answer cached, then this again); else (no subscriber) in full."""
        what = "GET /api/v2/subscribers"
        for key, params in self._identities(update.customer):
            cached = self._subscribers.get(self._merchant, self.kind, key)
            if cached:
                return self._begin_patch(update, cached, properties)
            if cached is None:

                def looked_up(status: int, headers: dict[str, str], body: bytes, key: str = key) -> Pending:
                    self._remember(key, answer_json(answer(status, headers, body), what))
                    return self._begin_profile(update, properties)

                return Awaiting(
                    self._begin("GET", "/api/v2/subscribers", what=what, params=params),
                    f"postscript {what}",
                    then=looked_up,
                )
        return Done(self._unknown_subscriber(update, properties))

    def _begin_patch(self, update: ProfileUpdate, subscriber_id: str, properties: dict[str, Any]) -> Pending:
        what = "PATCH /api/v2/subscribers/{id}"

        def refused(exc: FatalError) -> None:
            if exc.status == 404:  # the cached id went stale (subscriber removed)
                self._forget(update.customer)
                raise RetriableError("postscript subscriber id went stale", status=404) from None

        exchange = self._begin(
            "PATCH", f"/api/v2/subscribers/{subscriber_id}", what=what, json={"properties": properties}
        )
        return Awaiting(exchange, f"postscript {what}", refused=refused)

    @staticmethod
    def _profile_properties(update: ProfileUpdate) -> dict[str, Any]:
        try:
            properties = encode_properties(update.properties)
        except ValueError as exc:
            raise FatalError(f"postscript cannot take this profile: {exc}") from None
        if len(properties) > MAX_PROPERTIES:
            raise FatalError(f"{len(properties)} properties exceed Postscript's {MAX_PROPERTIES}")
        return properties

    def _update_profile(self, update: ProfileUpdate) -> SendResult:
        properties = self._profile_properties(update)
        subscriber_id = self._subscriber_id(update.customer)
        if subscriber_id is None:
            return self._unknown_subscriber(update, properties)
        try:
            response = self._request(
                "PATCH",
                f"/api/v2/subscribers/{subscriber_id}",
                what="PATCH /api/v2/subscribers/{id}",
                json={"properties": properties},
            )
        except FatalError as exc:
            if exc.status == 404:  # the cached id went stale (subscriber removed)
                self._forget(update.customer)
                raise RetriableError("postscript subscriber id went stale", status=404) from None
            raise
        return SendResult("delivered", status=response.status_code)

    def _unknown_subscriber(self, update: ProfileUpdate, properties: dict[str, Any]) -> SendResult:
        if update.provider in EXISTING_SUBSCRIBERS_ONLY:
            return SendResult(
                "skipped", reason=f"not a Postscript subscriber ({update.provider} updates existing subscribers only)"
            )
        if self._account.unknown_subscriber != "create":
            return SendResult("skipped", reason="not a Postscript subscriber (policy: skip)")
        if not update.customer.phone:
            # A Postscript subscriber is a phone number: without one there is nothing to create.
            # Recorded in the skipped journal with this reason; the customer is added by the
            # first later update that carries a phone.
            return SendResult(
                "skipped",
                reason="not a Postscript subscriber and no phone number to create one "
                "(Postscript subscribers are phone numbers)",
            )
        # developers.postscript.io/reference/create-subscriber: phone_number, email, properties
        # (no keyword: subscribed without a keyword reply; Postscript asks the number to opt in)
        body = {
            "phone_number": update.customer.phone,
            "properties": properties,
            **({"email": update.customer.email} if update.customer.email else {}),
        }
        try:
            response = self._request("POST", "/api/v2/subscribers", what="POST /api/v2/subscribers", json=body)
        except FatalError as exc:
            # Created meanwhile (another worker, or a retried create that had landed): update it.
            self._forget(update.customer)
            found = self._subscriber_id(update.customer) if exc.status in (400, 409, 422) else None
            if found is None:
                raise
            response = self._request(
                "PATCH",
                f"/api/v2/subscribers/{found}",
                what="PATCH /api/v2/subscribers/{id}",
                json={"properties": properties},
            )
            return SendResult("delivered", status=response.status_code)
        self._forget(update.customer)  # the cached "not a subscriber" is stale now
        return SendResult("delivered", status=response.status_code)

    @staticmethod
    def _identities(customer: Customer) -> list[tuple[str, dict[str, str]]]:
        """(cache key, lookup query) in the order they are tried: phone, then email."""
        out: list[tuple[str, dict[str, str]]] = []
        if customer.phone and (digits := re.sub(r"\D", "", customer.phone)):
            out.append((customer.phone, {"phone_number__eq": digits}))
        if customer.email:
            out.append((customer.email, {"email__eq": customer.email}))
        return out

    def _subscriber_id(self, customer: Customer) -> str | None:
        for key, params in self._identities(customer):
            cached = self._subscribers.get(self._merchant, self.kind, key)
            if cached is None:
                response = self._request("GET", "/api/v2/subscribers", what="GET /api/v2/subscribers", params=params)
                cached = self._remember(key, answer_json(response, "GET /api/v2/subscribers"))
            if cached:
                return cached
        return None

    def _remember(self, key: str, found: dict[str, Any]) -> str:
        """Cache what a lookup found for ``key``: the ``s_`` id, or ABSENT (for a while)."""
        subscribers = found.get("subscribers") or []
        cached = str(subscribers[0]["id"]) if subscribers else ABSENT
        self._subscribers.put(
            self._merchant, self.kind, key, cached, ttl_s=SUBSCRIBER_TTL_S if cached else ABSENT_TTL_S
        )
        return cached

    def _forget(self, customer: Customer) -> None:
        for key, _ in self._identities(customer):
            self._subscribers.forget(self._merchant, self.kind, key)


def _profile_body(update: ProfileUpdate) -> dict[str, Any]:
    return {"properties": encode_properties(update.properties)}


SPEC = PlatformSpec(
    kind="postscript",
    destination=PostscriptDestination,
    base_url="https://api.postscript.io",
    unknown_subscriber="skip",
    encoding=Encoding(
        event_name=event_type,
        event_path="/api/v2/events",
        encode_event=encode_event,
        profile_path="PATCH /api/v2/subscribers/{subscriber_id}",
        encode_profile=_profile_body,
        rules="type: letters, digits, underscores only; occurred_at UTC `%Y-%m-%d %H:%M:%S.%f`",
    ),
    # 15 requests per second per token, 429 without Retry-After (developers.postscript.io/docs/rate-limits,
    # research/destinations.md PS-RL). A count per second, however spaced; no burst allowance beyond it
    # is published (api-evangelist/postscript rate-limits/postscript-rate-limits.yml: "burst: null").
    # So a burst of BURST (a webhook's lookup, event and profile update back to back, not one every
    # 69 ms) within the 15: the window's log keeps every second at or under 15 (pipeline/ratelimit/window.py).
    limits={"default": (Window(15, SECOND_S, burst=BURST),)},
)
