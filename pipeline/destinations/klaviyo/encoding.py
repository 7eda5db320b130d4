"""Klaviyo wire encoding (revision 2026-07-15): pure functions from catalog items to JSON:API bodies.

Rules, from Klaviyo's official OpenAPI (klaviyo/openapi, operations ``create_event``,
``create_or_update_profile``, ``bulk_import_profiles``, ``bulk_create_events``; vendored in specs/klaviyo/):

* Every request carries the header ``revision: 2026-07-15`` and the JSON:API media type
  ``application/vnd.api+json``; auth is ``Authorization: Klaviyo-API-Key <private key>``.
* Metric names must be shorter than 128 characters. Shorter names are kept exactly as they are.
  A longer name is cut to its first 118 characters (trailing spaces dropped) followed by a space
  and the first 8 hex digits of the SHA-256 of the full name: deterministic, under 128, and two
  long names sharing a prefix still become two metrics instead of merging into one.
* ``time`` and datetime property values are ISO 8601 UTC (``2026-03-01T12:00:00+00:00``; naive
  datetimes are taken as UTC). Klaviyo truncates ``time`` to the second.
* ``unique_id`` is our delivery id: Klaviyo records only the first event with a given unique_id
  for the same profile and metric, so retries are safe.
* Properties: at most 400 per event; missing values are omitted (``null`` would clear a profile
  field); non-finite floats are rejected (not JSON).
* The profile is identified by ``email`` and/or ``phone_number`` (E.164); one is required.
  Phone-only profiles need SMS set up in the Klaviyo account. ``external_id`` is not sent: the
  loyalty provider's customer id is not the merchant's external id and must not overwrite it.
* Bulk profile import jobs take at most 10,000 profiles (and 5 MB; 100 KB per profile).
* Bulk create events takes at most 1,000 events and 5 MB per request, grouped per profile. Each
  event carries exactly what ``create_event`` would (same ``unique_id``: the delivery id), so a
  single send and a bulk send of one delivery deduplicate against each other. 5 MB is counted
  as 5,000,000 bytes of the JSON as sent (``json.dumps(body).encode()``), the stricter reading.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.destinations.encoding.phone import to_e164
from pipeline.types import Customer, Event, ProfileUpdate, Value

__all__ = [
    "BULK_EVENTS_PATH",
    "BULK_PROFILE_IMPORT_PATH",
    "CONTENT_TYPE",
    "EVENTS_PATH",
    "MAX_BULK_BYTES",
    "MAX_BULK_EVENTS",
    "MAX_BULK_PROFILES",
    "MAX_EVENT_PROPERTIES",
    "MAX_METRIC_NAME",
    "PROFILE_IMPORT_PATH",
    "REVISION",
    "encode_bulk_event_requests",
    "encode_bulk_events",
    "encode_bulk_profiles",
    "encode_event",
    "encode_profile",
    "encode_value",
    "metric_name",
    "profile_identifiers",
]

EVENTS_PATH = "/api/events"
PROFILE_IMPORT_PATH = "/api/profile-import"
BULK_PROFILE_IMPORT_PATH = "/api/profile-bulk-import-jobs"
BULK_EVENTS_PATH = "/api/event-bulk-create-jobs"
#: Value of the ``revision`` header the encoding follows.
REVISION = "2026-07-15"
CONTENT_TYPE = "application/vnd.api+json"
#: Metric names must be shorter than this.
MAX_METRIC_NAME = 128
MAX_EVENT_PROPERTIES = 400
MAX_BULK_PROFILES = 10_000
MAX_BULK_EVENTS = 1_000
#: Bytes of one bulk create events request body ("5MB"; read as 5,000,000 to stay under either reading).
MAX_BULK_BYTES = 5_000_000

_KEEP = 118  # + " " + 8 hex digits = 127


def metric_name(name: str) -> str:
    """The Klaviyo metric name: ``name`` itself if under 128 characters, else cut with a hash suffix."""
    if not name.strip():
        raise ValueError("event name is empty")
    if len(name) < MAX_METRIC_NAME:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:_KEEP].rstrip()} {digest}"


def _timestamp(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def encode_value(value: Value) -> Any:
    """A property value as Klaviyo takes it: datetimes as ISO 8601 UTC, others as they are."""
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("property value is not a finite number")
    return value


def _properties(properties: Mapping[str, Value]) -> dict[str, Any]:
    return {k: encode_value(v) for k, v in properties.items() if v is not None}


def profile_identifiers(customer: Customer) -> dict[str, str]:
    """``{"email": ..., "phone_number": E.164}`` with what the customer has; one is required."""
    found: dict[str, str] = {}
    if customer.email:
        found["email"] = customer.email
    if customer.phone:
        try:
            found["phone_number"] = to_e164(customer.phone)
        except ValueError as exc:
            raise ValueError(f"profile phone_number: {exc}") from None
    if not found:
        raise ValueError("profile: the customer has neither email nor phone")
    return found


def _event_attributes(event: Event, delivery_id: str) -> dict[str, Any]:
    """What both event operations carry for one event, the profile aside."""
    properties = _properties(event.properties)
    if len(properties) > MAX_EVENT_PROPERTIES:
        raise ValueError(f"{len(properties)} event properties; Klaviyo takes at most {MAX_EVENT_PROPERTIES}")
    return {
        "properties": properties,
        "time": _timestamp(event.occurred_at),
        "unique_id": delivery_id,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric_name(event.name)}}},
    }


def encode_event(event: Event, *, delivery_id: str) -> dict[str, Any]:
    """The ``POST /api/events`` body for one event."""
    return {
        "data": {
            "type": "event",
            "attributes": {
                **_event_attributes(event, delivery_id),
                "profile": {"data": {"type": "profile", "attributes": profile_identifiers(event.customer)}},
            },
        }
    }


def _profile_resource(update: ProfileUpdate) -> dict[str, Any]:
    return {
        "type": "profile",
        "attributes": {**profile_identifiers(update.customer), "properties": _properties(update.properties)},
    }


def encode_profile(update: ProfileUpdate) -> dict[str, Any]:
    """The ``POST /api/profile-import`` body for one profile update."""
    return {"data": _profile_resource(update)}


def encode_bulk_profiles(updates: Sequence[ProfileUpdate]) -> dict[str, Any]:
    """The ``POST /api/profile-bulk-import-jobs`` body: 1 to 10,000 profile updates, in order."""
    if not updates:
        raise ValueError("a bulk profile import job needs at least one profile")
    if len(updates) > MAX_BULK_PROFILES:
        raise ValueError(f"{len(updates)} profiles; a Klaviyo bulk import job takes at most {MAX_BULK_PROFILES}")
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {"profiles": {"data": [_profile_resource(u) for u in updates]}},
        }
    }


def _size(value: Any) -> int:
    return len(json.dumps(value).encode())


#: A profile's identifiers, the key events are grouped by.
_Profile = tuple[tuple[str, str], ...]


class _BulkRequest:
    """One bulk create events body being filled: entries per profile, in first-seen order.

    Its size is tracked as an upper bound of the exact size (2 bytes of ", " counted per entry and event)."""

    _EMPTY = _size({"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": []}}}})

    def __init__(self) -> None:
        self.entries: dict[_Profile, dict[str, Any]] = {}
        self.count = 0
        self.size = self._EMPTY

    def _cost(self, profile: _Profile, event_size: int) -> int:
        """Bytes added by one more event of ``profile``, whose resource has ``event_size`` bytes."""
        entry = 0 if profile in self.entries else _size(self._entry(profile)) + 2
        return entry + event_size + 2

    def fits(self, profile: _Profile, event_size: int, max_events: int, max_bytes: int) -> bool:
        return self.count < max_events and self.size + self._cost(profile, event_size) <= max_bytes

    def add(self, profile: _Profile, event: dict[str, Any], event_size: int) -> None:
        self.size += self._cost(profile, event_size)
        self.entries.setdefault(profile, self._entry(profile))["attributes"]["events"]["data"].append(event)
        self.count += 1

    @staticmethod
    def _entry(profile: _Profile) -> dict[str, Any]:
        return {
            "type": "event-bulk-create",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": dict(profile)}},
                "events": {"data": []},
            },
        }

    def body(self) -> dict[str, Any]:
        return {
            "data": {
                "type": "event-bulk-create-job",
                "attributes": {"events-bulk-create": {"data": list(self.entries.values())}},
            }
        }


def encode_bulk_event_requests(
    items: Sequence[tuple[str, Event]], *, max_events: int = MAX_BULK_EVENTS, max_bytes: int = MAX_BULK_BYTES
) -> list[dict[str, Any]]:
    """``POST /api/event-bulk-create-jobs`` bodies for (delivery id, event) pairs: as few as fit, each
    with at most ``max_events`` events and ``max_bytes`` bytes; per body, one entry per profile (same
    email and phone number) holding its events in input order. A repeated delivery id is sent once
    (Klaviyo fails a request that repeats a unique_id for one profile and metric).

    Raises:
        ValueError: an event cannot be encoded, or alone exceeds ``max_bytes``; the message names
            its delivery id, never the customer.
    """
    requests: list[_BulkRequest] = []
    seen: set[str] = set()
    for delivery_id, event in items:
        if delivery_id in seen:
            continue
        seen.add(delivery_id)
        try:
            resource = {"type": "event", "attributes": _event_attributes(event, delivery_id)}
            profile = tuple(profile_identifiers(event.customer).items())
        except ValueError as exc:
            raise ValueError(f"delivery {delivery_id}: {exc}") from None
        event_size = _size(resource)
        if not requests or not requests[-1].fits(profile, event_size, max_events, max_bytes):
            requests.append(_BulkRequest())
            if not requests[-1].fits(profile, event_size, max_events, max_bytes):
                raise ValueError(f"delivery {delivery_id}: the event alone takes more than {max_bytes:,} bytes")
        requests[-1].add(profile, resource, event_size)
    return [r.body() for r in requests]


def encode_bulk_events(items: Sequence[tuple[str, Event]]) -> dict[str, Any]:
    """The one ``POST /api/event-bulk-create-jobs`` body for 1 to 1,000 (delivery id, event) pairs
    within 5 MB (``encode_bulk_event_requests`` splits larger batches)."""
    if not items:
        raise ValueError("a bulk create events request needs at least one event")
    bodies = encode_bulk_event_requests(items)
    if len(bodies) > 1:
        raise ValueError(
            f"{len(items)} events do not fit one bulk create events request "
            f"(at most {MAX_BULK_EVENTS} events and {MAX_BULK_BYTES:,} bytes)"
        )
    return bodies[0]
