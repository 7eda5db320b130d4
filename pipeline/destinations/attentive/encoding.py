"""Attentive wire encoding (API v1): pure functions from catalog items to request bodies.

Rules, from Attentive's published v1 OpenAPI (``CustomEventsRequest``, ``CustomAttributesRequest``,
``EventUser``; vendored as specs/attentive-v1-openapi.yaml) and docs.attentive.com/reference/postcustomevents:

* Custom event ``type`` (case-sensitive) must not contain ``" ' ( ) { } [ ] \\ | ,``: they are
  removed, whitespace runs collapse to one space, ends are trimmed ("Opted In to Okendo Referrals
  (Referrer)" → ``Opted In to Okendo Referrals Referrer``). Journeys are keyed by this string, so
  the rule is fixed and tested.
* Event property keys must not contain ``" { } [ ] \\ |`` (the spec's list; ``;`` is allowed):
  removed. Attribute names are at most 200 characters. The same key rule is applied to custom
  attribute names so an event property and an attribute of the same name stay alike. Two keys
  that become equal are an error, never a silent overwrite.
* Values: strings, booleans, integers and finite floats as they are; datetimes as RFC 3339 UTC
  with milliseconds (``2026-03-01T12:00:00.000Z``; naive datetimes are taken as UTC); missing
  values are omitted. Arrays and objects are rejected: the attributes API answers 400 to arrays
  and lists/objects in events are unusable in SMS (Segment's destination rejects them too).
* Attentive fixes a custom attribute's type by the **first value it sees** ("24" → Number). We
  therefore never stringify: numbers go as JSON numbers, booleans as JSON booleans and datetimes
  as the ISO string above, so an attribute has the same type from its first value on.
* ``occurredAt`` is RFC 3339 UTC; events older than 12 hours are stored but trigger no Journey.
* ``externalEventId`` is our delivery id (Attentive recommends a UUID; it does not document dedupe).
* ``user`` needs phone (E.164), email or external identifiers; we send phone and/or email.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.destinations.encoding.phone import to_e164
from pipeline.types import Customer, Event, ProfileUpdate, Value

__all__ = [
    "BULK_ATTRIBUTES_PATH",
    "MAX_BULK_USERS",
    "encode_bulk_attributes",
    "ATTRIBUTES_PATH",
    "EVENTS_PATH",
    "MAX_KEY_LENGTH",
    "encode_attributes",
    "encode_event",
    "encode_value",
    "event_type",
    "property_key",
    "user",
]

EVENTS_PATH = "/v1/events/custom"
ATTRIBUTES_PATH = "/v1/attributes/custom"
#: Longest custom attribute name Attentive accepts.
MAX_KEY_LENGTH = 200

_NOT_IN_TYPE = re.compile(r"[\"'(){}\[\]\\|,]")
_NOT_IN_KEY = re.compile(r"[\"{}\[\]\\|]")


def event_type(name: str) -> str:
    """The Attentive ``type`` for a display name: forbidden characters removed, spaces collapsed."""
    encoded = " ".join(_NOT_IN_TYPE.sub("", name).split())
    if not encoded:
        raise ValueError(f"event name {name!r} has nothing left once Attentive's forbidden characters are removed")
    return encoded


def property_key(name: str) -> str:
    """An event property key or attribute name with Attentive's forbidden characters removed."""
    encoded = _NOT_IN_KEY.sub("", name)
    if not encoded.strip():
        raise ValueError(f"property name {name!r} has nothing left once Attentive's forbidden characters are removed")
    if len(encoded) > MAX_KEY_LENGTH:
        raise ValueError(f"property name {name[:40]!r}... is longer than {MAX_KEY_LENGTH} characters")
    return encoded


def _timestamp(value: datetime) -> str:
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def encode_value(value: Value) -> Any:
    """A property value as Attentive takes it (see the module rules); ``None`` is left to callers."""
    if isinstance(value, datetime):
        return _timestamp(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("property value is not a finite number")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(f"Attentive takes no {type(value).__name__} property values (arrays and objects are rejected)")


def _properties(properties: Mapping[str, Value]) -> dict[str, Any]:
    encoded: dict[str, Any] = {}
    for name, value in properties.items():
        if value is None:
            continue
        key = property_key(name)
        if key in encoded:
            raise ValueError(f"property names collide as {key!r} once forbidden characters are removed")
        try:
            encoded[key] = encode_value(value)
        except ValueError as exc:
            raise ValueError(f"property {name!r}: {exc}") from None
    return encoded


def user(customer: Customer) -> dict[str, str]:
    """``{"phone": E.164, "email": ...}`` with what the customer has; phone normalised to E.164."""
    found: dict[str, str] = {}
    if customer.phone:
        try:
            found["phone"] = to_e164(customer.phone)
        except ValueError as exc:
            raise ValueError(f"user.phone: {exc}") from None
    if customer.email:
        found["email"] = customer.email
    if not found:
        raise ValueError("user: the customer has neither email nor phone")
    return found


def encode_event(event: Event, *, delivery_id: str) -> dict[str, Any]:
    """The ``POST /v1/events/custom`` body for one event."""
    return {
        "type": event_type(event.name),
        "properties": _properties(event.properties),
        "externalEventId": delivery_id,
        "occurredAt": _timestamp(event.occurred_at),
        "user": user(event.customer),
    }


def encode_attributes(update: ProfileUpdate) -> dict[str, Any]:
    """The ``POST /v1/attributes/custom`` body for one profile update."""
    return {"properties": _properties(update.properties), "user": user(update.customer)}


#: Users per ``POST /v2/bulk/user/attributes`` request (Attentive's maximum).
MAX_BULK_USERS = 256
BULK_ATTRIBUTES_PATH = "/v2/bulk/user/attributes"


def encode_bulk_attributes(updates: Sequence[ProfileUpdate]) -> dict[str, Any]:
    """The ``POST /v2/bulk/user/attributes`` body: 1..256 users, custom attributes each."""
    if not 1 <= len(updates) <= MAX_BULK_USERS:
        raise ValueError(f"a bulk attributes request takes 1 to {MAX_BULK_USERS} users, got {len(updates)}")
    return {
        "users": [
            {"identifiers": user(u.customer), "attributes": {"custom": _properties(u.properties)}} for u in updates
        ]
    }
