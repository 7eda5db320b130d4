"""Klaviyo wire encoding (revision 2026-07-15): pure functions from catalog items to JSON:API bodies.

Rules, from Klaviyo's official OpenAPI (klaviyo/openapi, operations ``create_event``,
``create_or_update_profile``, ``bulk_import_profiles``; vendored in specs/klaviyo/):

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
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pipeline.destinations.encoding.phone import to_e164
from pipeline.types import Customer, Event, ProfileUpdate, Value

__all__ = ["BULK_PROFILE_IMPORT_PATH", "CONTENT_TYPE", "EVENTS_PATH", "MAX_BULK_PROFILES", "MAX_EVENT_PROPERTIES",
           "MAX_METRIC_NAME", "PROFILE_IMPORT_PATH", "REVISION", "encode_bulk_profiles", "encode_event",
           "encode_profile", "encode_value", "metric_name", "profile_identifiers"]

EVENTS_PATH = "/api/events"
PROFILE_IMPORT_PATH = "/api/profile-import"
BULK_PROFILE_IMPORT_PATH = "/api/profile-bulk-import-jobs"
#: Value of the ``revision`` header the encoding follows.
REVISION = "2026-07-15"
CONTENT_TYPE = "application/vnd.api+json"
#: Metric names must be shorter than this.
MAX_METRIC_NAME = 128
MAX_EVENT_PROPERTIES = 400
MAX_BULK_PROFILES = 10_000

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
    value = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).isoformat()


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


def encode_event(event: Event, *, delivery_id: str) -> dict[str, Any]:
    """The ``POST /api/events`` body for one event."""
    properties = _properties(event.properties)
    if len(properties) > MAX_EVENT_PROPERTIES:
        raise ValueError(f"{len(properties)} event properties; Klaviyo takes at most {MAX_EVENT_PROPERTIES}")
    return {"data": {"type": "event", "attributes": {
        "properties": properties,
        "time": _timestamp(event.occurred_at),
        "unique_id": delivery_id,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric_name(event.name)}}},
        "profile": {"data": {"type": "profile", "attributes": profile_identifiers(event.customer)}},
    }}}


def _profile_resource(update: ProfileUpdate) -> dict[str, Any]:
    return {"type": "profile", "attributes": {**profile_identifiers(update.customer),
                                              "properties": _properties(update.properties)}}


def encode_profile(update: ProfileUpdate) -> dict[str, Any]:
    """The ``POST /api/profile-import`` body for one profile update."""
    return {"data": _profile_resource(update)}


def encode_bulk_profiles(updates: Sequence[ProfileUpdate]) -> dict[str, Any]:
    """The ``POST /api/profile-bulk-import-jobs`` body: 1 to 10,000 profile updates, in order."""
    if not updates:
        raise ValueError("a bulk profile import job needs at least one profile")
    if len(updates) > MAX_BULK_PROFILES:
        raise ValueError(f"{len(updates)} profiles; a Klaviyo bulk import job takes at most {MAX_BULK_PROFILES}")
    return {"data": {"type": "profile-bulk-import-job", "attributes": {
        "profiles": {"data": [_profile_resource(u) for u in updates]}}}}
