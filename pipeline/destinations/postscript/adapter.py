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
from pipeline.destinations.postscript.encoding import (
    MAX_PROPERTIES,
    encode_event,
    encode_properties,
    event_type,
    identifiers,
)
from pipeline.destinations.spec import PlatformSpec
from pipeline.errors import FatalError, RetriableError
from pipeline.http.client import HttpClient
from pipeline.http.policy import raise_for_response, raise_for_transport
from pipeline.ratelimit.window import SECOND_S, Window
from pipeline.state.subscribers import ABSENT, SubscriberCache
from pipeline.types import Customer, Event, Item, ProfileUpdate

__all__ = ["SPEC", "PostscriptDestination"]

SUBSCRIBER_TTL_S = 24 * 3600
ABSENT_TTL_S = 15 * 60
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

    def _send_event(self, event: Event, delivery_id: str) -> SendResult:
        if not identifiers(event.customer):
            return SendResult("skipped", reason="customer has neither email nor phone")
        if event.provider in EXISTING_SUBSCRIBERS_ONLY and self._subscriber_id(event.customer) is None:
            return SendResult(
                "skipped",
                reason=f"not a Postscript subscriber ({event.provider} events go to existing subscribers only)",
            )
        try:
            body = encode_event(event, delivery_id=delivery_id)
        except ValueError as exc:  # an event Postscript cannot take: the platform's refusal, not a bug
            raise FatalError(f"postscript cannot take this event: {exc}") from None
        response = self._request("POST", "/api/v2/events", what="POST /api/v2/events", json=body)
        return SendResult("delivered", status=response.status_code)

    def _update_profile(self, update: ProfileUpdate) -> SendResult:
        try:
            properties = encode_properties(update.properties)
        except ValueError as exc:
            raise FatalError(f"postscript cannot take this profile: {exc}") from None
        if len(properties) > MAX_PROPERTIES:
            raise FatalError(f"{len(properties)} properties exceed Postscript's {MAX_PROPERTIES}")
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
                found = answer_json(response, "GET /api/v2/subscribers").get("subscribers") or []
                cached = str(found[0]["id"]) if found else ABSENT
                ttl = SUBSCRIBER_TTL_S if cached else ABSENT_TTL_S
                self._subscribers.put(self._merchant, self.kind, key, cached, ttl_s=ttl)
            if cached:
                return cached
        return None

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
    limits={"default": (Window(15, SECOND_S),)},  # 15 rps per token; 429 without Retry-After
)
