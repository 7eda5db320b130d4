"""Attentive API v1: ``POST /v1/events/custom`` and ``POST /v1/attributes/custom``.

Users are keyed by E.164 phone or email; ``externalEventId`` carries our delivery id (Attentive
does not deduplicate on it: our ledger does). Attentive has no subscriber lookup: attributes
create or update the user, so the integration policy is always ``create``. A large batch of
profile updates goes as ``POST /v2/bulk/user/attributes`` (up to 256 users a request).
Rate limits: 150 requests/s per token (bulk 100/s); answers carry ``x-ratelimit-*`` headers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

import pipeline.destinations.attentive.encoding as encoding
from pipeline.accounts import PlatformAccount
from pipeline.destinations.base import SendResult, answer_json
from pipeline.destinations.encoding.base import Encoding
from pipeline.destinations.pending import Awaiting, Done, Pending
from pipeline.destinations.spec import PlatformSpec
from pipeline.errors import FatalError
from pipeline.http.client import HttpClient, PipelinedClient
from pipeline.http.policy import raise_for_response, raise_for_transport
from pipeline.ratelimit.window import SECOND_S, Window
from pipeline.state.subscribers import SubscriberCache
from pipeline.types import Event, Item, ProfileUpdate

__all__ = ["SPEC", "AttentiveDestination"]


class AttentiveDestination:
    kind: ClassVar[str] = "attentive"

    def __init__(
        self, *, merchant: str, account: PlatformAccount, client: HttpClient, subscribers: SubscriberCache
    ) -> None:
        self._merchant = merchant
        self._client = client
        # checked once: a runtime protocol check costs more than encoding the request
        self._pipelined = client if isinstance(client, PipelinedClient) else None

    @staticmethod
    def auth_headers(account: PlatformAccount) -> dict[str, str]:
        return {"Authorization": f"Bearer {account.credential.reveal()}"}

    def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        try:
            response = self._client.post(path, json=body)
        except httpx.TransportError as exc:
            raise raise_for_transport(exc, what=f"attentive POST {path}") from None
        return raise_for_response(response, what=f"attentive POST {path}")

    def _prepare(self, item: Item, delivery_id: str) -> SendResult | tuple[str, dict[str, Any]]:
        """The skip, or the (path, body) of the one request that sends ``item``."""
        if not (item.customer.email or item.customer.phone):
            return SendResult("skipped", reason="customer has neither email nor phone")
        try:
            body = (
                encoding.encode_event(item, delivery_id=delivery_id)
                if isinstance(item, Event)
                else encoding.encode_attributes(item)
            )
        except ValueError as exc:
            raise FatalError(f"attentive cannot take this {item.kind}: {exc}") from None
        return (encoding.EVENTS_PATH if isinstance(item, Event) else encoding.ATTRIBUTES_PATH), body

    def send(self, item: Item, *, delivery_id: str) -> SendResult:
        prepared = self._prepare(item, delivery_id)
        if isinstance(prepared, SendResult):
            return prepared
        path, body = prepared
        return SendResult("delivered", status=self._post(path, body).status_code)

    def begin(self, item: Item, *, delivery_id: str) -> Pending:
        """``send``, with the answer read later (pipeline/destinations/pending.py)."""
        if self._pipelined is None:
            return Done(self.send(item, delivery_id=delivery_id))
        prepared = self._prepare(item, delivery_id)
        if isinstance(prepared, SendResult):
            return Done(prepared)
        path, body = prepared
        what = f"attentive POST {path}"
        try:
            exchange = self._pipelined.begin("POST", path, json=body)
        except httpx.TransportError as exc:
            raise raise_for_transport(exc, what=what) from None
        return Awaiting(exchange, what)

    def send_profiles_bulk(self, updates: Sequence[ProfileUpdate]) -> str:
        """Many users' attributes in ``POST /v2/bulk/user/attributes`` requests of up to 256;
        returns the last batch job id (the jobs run asynchronously)."""
        job = ""
        usable = [u for u in updates if u.customer.email or u.customer.phone]
        for start in range(0, len(usable), encoding.MAX_BULK_USERS):
            try:
                body = encoding.encode_bulk_attributes(usable[start : start + encoding.MAX_BULK_USERS])
            except ValueError as exc:
                raise FatalError(f"attentive cannot take this bulk request: {exc}") from None
            job = str(
                answer_json(self._post(encoding.BULK_ATTRIBUTES_PATH, body), "POST bulk attributes").get(
                    "batchJobId", ""
                )
            )
        return job


SPEC = PlatformSpec(
    kind="attentive",
    destination=AttentiveDestination,
    base_url="https://api.attentivemobile.com",
    unknown_subscriber="create",
    no_skip_reason="Attentive has no subscriber lookup: attributes create "
    "or update the user, so only 'create' is possible",
    encoding=Encoding(
        event_name=encoding.event_type,
        event_path=encoding.EVENTS_PATH,
        encode_event=encoding.encode_event,
        profile_path=f"POST {encoding.ATTRIBUTES_PATH}",
        encode_profile=encoding.encode_attributes,
        rules="type without \" ' ( ) { } [ ] \\ | ,; occurredAt RFC 3339 UTC; E.164 phones; no arrays",
    ),
    limits={"default": (Window(150, SECOND_S),), "identity": (Window(10, SECOND_S),), "bulk": (Window(100, SECOND_S),)},
    rate_classes=(
        (r"^/v1/identity-resolution", "identity"),
        (r"^/v1/subscriptions", "identity"),
        (r"^/v2/bulk/", "bulk"),
    ),
)
