"""Klaviyo (JSON:API, ``revision`` header): ``POST /api/events`` with ``unique_id`` (our
delivery id, which Klaviyo deduplicates on) and ``POST /api/profile-import``; a large batch
of profile updates goes in one ``profile-bulk-import-jobs`` job. With the policy ``skip``, a
customer unknown to Klaviyo (``GET /api/profiles?filter=equals(email,...)``) is not created.
Rate limits per endpoint: burst and steady windows (pipeline/ratelimit/limits.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from pipeline.config import PlatformAccount
from pipeline.destinations.base import SendResult
from pipeline.destinations.encoding import klaviyo as encoding
from pipeline.errors import FatalError
from pipeline.http.policy import raise_for_response, raise_for_transport
from pipeline.state.subscribers import ABSENT, SubscriberCache
from pipeline.types import Customer, Event, Item, ProfileUpdate

__all__ = ["KlaviyoDestination"]

PROFILE_TTL_S = 24 * 3600
ABSENT_TTL_S = 15 * 60


class KlaviyoDestination:
    kind: ClassVar[str] = "klaviyo"

    def __init__(self, *, merchant: str, account: PlatformAccount, client: httpx.Client,
                 subscribers: SubscriberCache) -> None:
        self._merchant = merchant
        self._account = account
        self._client = client
        self._profiles = subscribers

    @staticmethod
    def auth_headers(account: PlatformAccount) -> dict[str, str]:
        return {"Authorization": f"Klaviyo-API-Key {account.credential.reveal()}", "revision": encoding.REVISION,
                "Accept": encoding.CONTENT_TYPE}

    def _request(self, method: str, path: str, *, what: str, body: dict[str, Any] | None = None,
                 params: dict[str, str] | None = None) -> httpx.Response:
        headers = {"Content-Type": encoding.CONTENT_TYPE} if body is not None else None
        try:
            response = self._client.request(method, path, params=params, headers=headers,
                                            content=json.dumps(body).encode() if body is not None else None)
        except httpx.TransportError as exc:
            raise raise_for_transport(exc, what=f"klaviyo {what}") from None
        return raise_for_response(response, what=f"klaviyo {what}")

    def send(self, item: Item, *, delivery_id: str) -> SendResult:
        if not (item.customer.email or item.customer.phone):
            return SendResult("skipped", reason="customer has neither email nor phone")
        try:
            if isinstance(item, Event):
                body = encoding.encode_event(item, delivery_id=delivery_id)
                return SendResult("delivered", status=self._request(
                    "POST", encoding.EVENTS_PATH, what="POST /api/events", body=body).status_code)
            body = encoding.encode_profile(item)
        except ValueError as exc:
            raise FatalError(f"klaviyo cannot take this {item.kind}: {exc}") from None
        if self._account.unknown_subscriber == "skip" and not self._known(item.customer):
            return SendResult("skipped", reason="not a Klaviyo profile (policy: skip)")
        return SendResult("delivered", status=self._request(
            "POST", encoding.PROFILE_IMPORT_PATH, what="POST /api/profile-import", body=body).status_code)

    def send_profiles_bulk(self, updates: Sequence[ProfileUpdate]) -> str:
        """One bulk import job for many profiles; returns the job id (the job runs asynchronously)."""
        try:
            body = encoding.encode_bulk_profiles(list(updates))
        except ValueError as exc:
            raise FatalError(f"klaviyo cannot take this bulk import: {exc}") from None
        response = self._request("POST", encoding.BULK_PROFILE_IMPORT_PATH, what="POST profile-bulk-import-jobs",
                                 body=body)
        return str(response.json()["data"]["id"])

    def _known(self, customer: Customer) -> bool:
        identity = customer.email or customer.phone or ""
        cached = self._profiles.get(self._merchant, self.kind, identity)
        if cached is not None:
            return bool(cached)
        field = "email" if customer.email else "phone_number"
        response = self._request("GET", "/api/profiles", what="GET /api/profiles",
                                 params={"filter": f'equals({field},"{identity}")'})
        found = response.json().get("data") or []
        profile_id = str(found[0]["id"]) if found else ABSENT
        self._profiles.put(self._merchant, self.kind, identity, profile_id,
                           ttl_s=PROFILE_TTL_S if profile_id else ABSENT_TTL_S)
        return bool(profile_id)
