"""Klaviyo (JSON:API, ``revision`` header): ``POST /api/events`` with ``unique_id`` (our
delivery id, which Klaviyo deduplicates on) and ``POST /api/profile-import``; a large batch
of profile updates goes in one ``profile-bulk-import-jobs`` job, many events in
``event-bulk-create-jobs`` requests (``send_events_bulk``). With the policy ``skip``, a
customer unknown to Klaviyo (``GET /api/profiles?filter=equals(email,...)``) is not created.
Rate limits per endpoint: burst and steady windows (pipeline/ratelimit/limits.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

import pipeline.destinations.klaviyo.encoding as encoding
from pipeline.accounts import PlatformAccount
from pipeline.destinations.base import SendResult, answer_json
from pipeline.destinations.encoding.base import Encoding
from pipeline.destinations.spec import PlatformSpec
from pipeline.errors import AuthError, FatalError
from pipeline.http.client import HttpClient
from pipeline.http.policy import raise_for_response, raise_for_transport
from pipeline.ratelimit.window import MINUTE_S, SECOND_S, Window
from pipeline.redact import mask
from pipeline.state.subscribers import ABSENT, SubscriberCache
from pipeline.types import Customer, Event, Item, ProfileUpdate

__all__ = ["SPEC", "KlaviyoDestination"]

PROFILE_TTL_S = 24 * 3600
ABSENT_TTL_S = 15 * 60


class KlaviyoDestination:
    kind: ClassVar[str] = "klaviyo"

    def __init__(
        self, *, merchant: str, account: PlatformAccount, client: HttpClient, subscribers: SubscriberCache
    ) -> None:
        self._merchant = merchant
        self._account = account
        self._client = client
        self._profiles = subscribers

    @staticmethod
    def auth_headers(account: PlatformAccount) -> dict[str, str]:
        return {
            "Authorization": f"Klaviyo-API-Key {account.credential.reveal()}",
            "revision": encoding.REVISION,
            "Accept": encoding.CONTENT_TYPE,
        }

    def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """The answer, whatever its status; transport failures raised classified."""
        headers = {"Content-Type": encoding.CONTENT_TYPE} if body is not None else None
        try:
            return self._client.request(
                method,
                path,
                params=params,
                headers=headers,
                content=json.dumps(body).encode() if body is not None else None,
            )
        except httpx.TransportError as exc:
            raise raise_for_transport(exc, what=f"klaviyo {what}") from None

    def _request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        response = self._send(method, path, what=what, body=body, params=params)
        return raise_for_response(response, what=f"klaviyo {what}")

    def send(self, item: Item, *, delivery_id: str) -> SendResult:
        if not (item.customer.email or item.customer.phone):
            return SendResult("skipped", reason="customer has neither email nor phone")
        try:
            if isinstance(item, Event):
                body = encoding.encode_event(item, delivery_id=delivery_id)
                return SendResult(
                    "delivered",
                    status=self._request("POST", encoding.EVENTS_PATH, what="POST /api/events", body=body).status_code,
                )
            body = encoding.encode_profile(item)
        except ValueError as exc:
            raise FatalError(f"klaviyo cannot take this {item.kind}: {exc}") from None
        if self._account.unknown_subscriber == "skip" and not self._known(item.customer):
            return SendResult("skipped", reason="not a Klaviyo profile (policy: skip)")
        return SendResult(
            "delivered",
            status=self._request(
                "POST", encoding.PROFILE_IMPORT_PATH, what="POST /api/profile-import", body=body
            ).status_code,
        )

    def send_profiles_bulk(self, updates: Sequence[ProfileUpdate]) -> str:
        """One bulk import job for many profiles; returns the job id (the job runs asynchronously)."""
        try:
            body = encoding.encode_bulk_profiles(list(updates))
        except ValueError as exc:
            raise FatalError(f"klaviyo cannot take this bulk import: {exc}") from None
        response = self._request(
            "POST", encoding.BULK_PROFILE_IMPORT_PATH, what="POST profile-bulk-import-jobs", body=body
        )
        return str((answer_json(response, "POST profile-bulk-import-jobs").get("data") or {}).get("id", ""))

    def send_events_bulk(self, items: Sequence[tuple[str, Event]]) -> None:
        """(delivery id, event) pairs through ``POST /api/event-bulk-create-jobs``, in as few requests
        as the limits allow (1,000 events and 5 MB each), grouped per profile. Each event keeps its
        delivery id as ``unique_id``, as ``send`` does, so single and bulk sends of one delivery
        deduplicate at Klaviyo; a delivery id given twice is sent once. The account's
        ``unknown_subscriber`` policy is not applied: an event creates its profile, as in ``send``.

        All or nothing, for retries: requests go one after the other and the first error stops the
        call, so when a later request fails the earlier ones were accepted. Retry the whole call
        (safe: Klaviyo keeps the first event per metric, profile and unique_id).

        Raises:
            FatalError: before anything is sent, when an event cannot be encoded (a customer with
                neither email nor phone, whom ``send`` skips, included): the message names its
                delivery id. Also on a 4xx: the message names the JSON:API error pointer and the
                delivery ids it points at. One bad event refuses its whole request, so on a
                FatalError fall back to ``send`` per item to isolate it.
            AuthError, RateLimited, RetriableError: as ``send``.
        """
        try:
            bodies = encoding.encode_bulk_event_requests(items)
        except ValueError as exc:
            raise FatalError(f"klaviyo cannot take this bulk of events: {exc}") from None
        what = "POST event-bulk-create-jobs"
        for body in bodies:
            response = self._send("POST", encoding.BULK_EVENTS_PATH, what=what, body=body)
            try:
                raise_for_response(response, what=f"klaviyo {what}")
            except AuthError:
                raise
            except FatalError as exc:
                raise FatalError(
                    str(exc) + _where(response, body), status=exc.status, response_excerpt=mask(exc.response_excerpt)
                ) from None

    def _known(self, customer: Customer) -> bool:
        identity = customer.email or customer.phone or ""
        cached = self._profiles.get(self._merchant, self.kind, identity)
        if cached is not None:
            return bool(cached)
        field = "email" if customer.email else "phone_number"
        response = self._request(
            "GET", "/api/profiles", what="GET /api/profiles", params={"filter": f'equals({field},"{identity}")'}
        )
        found = answer_json(response, "GET /api/profiles").get("data") or []
        profile_id = str(found[0]["id"]) if found else ABSENT
        self._profiles.put(
            self._merchant, self.kind, identity, profile_id, ttl_s=PROFILE_TTL_S if profile_id else ABSENT_TTL_S
        )
        return bool(profile_id)


def _where(response: httpx.Response, body: dict[str, Any]) -> str:
    """`` at <pointer> (delivery ...)``: where a JSON:API error answer to ``body`` points, and the
    delivery ids of the events there; empty if it names no pointer."""
    try:
        source = response.json()["errors"][0].get("source") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""
    pointer = source.get("pointer") or source.get("parameter")
    if not isinstance(pointer, str):
        return ""
    node, found = body, None  # the innermost event, or profile entry, the pointer goes through
    for part in [p.replace("~1", "/").replace("~0", "~") for p in pointer.strip("/").split("/") if p]:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            break
        if isinstance(node, dict) and node.get("type") in ("event", "event-bulk-create"):
            found = node
    ids = _unique_ids(found) if found is not None else []
    named = f"delivery {ids[0]}" if len(ids) == 1 else f"deliveries {', '.join(ids[:5])}{', ...' * (len(ids) > 5)}"
    return f" at {mask(pointer)}" + (f" ({named})" if ids else "")


def _unique_ids(node: Any) -> list[str]:
    """The unique ids (our delivery ids) of the events in or under ``node``."""
    if isinstance(node, list):
        return [i for n in node for i in _unique_ids(n)]
    if not isinstance(node, dict):
        return []
    if node.get("type") == "event":
        return [str(node.get("attributes", {}).get("unique_id"))]
    return [i for n in node.values() for i in _unique_ids(n)]


SPEC = PlatformSpec(
    kind="klaviyo",
    destination=KlaviyoDestination,
    base_url="https://a.klaviyo.com",
    unknown_subscriber="create",
    encoding=Encoding(
        event_name=encoding.metric_name,
        event_path=encoding.EVENTS_PATH,
        encode_event=encoding.encode_event,
        profile_path=f"POST {encoding.PROFILE_IMPORT_PATH}",
        encode_profile=encoding.encode_profile,
        rules="metric name under 128 characters; time ISO 8601 UTC; JSON:API bodies",
    ),
    limits={  # burst and steady windows per endpoint (XL events, L profiles, M bulk jobs)
        "events": (Window(350, SECOND_S), Window(3500, MINUTE_S)),
        "profiles": (Window(75, SECOND_S), Window(700, MINUTE_S)),
        "bulk": (Window(10, SECOND_S), Window(150, MINUTE_S)),
        "events_bulk": (Window(10, SECOND_S), Window(150, MINUTE_S)),  # bulk create events: its own quota
    },
    rate_classes=(
        (r"^/api/events", "events"),
        (r"^/api/event-bulk-create-jobs", "events_bulk"),
        (r"^/api/profile-bulk-import-jobs", "bulk"),
        (r"^/api/profile", "profiles"),
    ),
    # 1,000 events per bulk create request; a batch is one request, one Celery message
    batch_size=1000,
)
